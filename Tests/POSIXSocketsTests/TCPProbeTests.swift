import POSIXSockets
import Testing

struct TCPProbeTests {
    @Test func aListeningPortCanBeConnectedTo() throws {
        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { TCPSocket.close(listener.descriptor) }
        #expect(TCPProbe.canConnect(host: "127.0.0.1", port: listener.port, timeoutMilliseconds: 2_000))
        #expect(TCPProbe.canConnect(host: "localhost", port: listener.port, timeoutMilliseconds: 2_000))
    }

    @Test func aClosedPortOrAnUnknownHostCannot() {
        let port = LoopbackPort.free()
        #expect(!TCPProbe.canConnect(host: "127.0.0.1", port: port, timeoutMilliseconds: 2_000))
        #expect(!TCPProbe.canConnect(host: "no-such-host.invalid", port: port, timeoutMilliseconds: 2_000))
    }
}
