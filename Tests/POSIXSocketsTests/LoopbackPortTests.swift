import POSIXSockets
import Testing

struct LoopbackPortTests {
    @Test func aFreePortIsBelowTheEphemeralRangeAndCanBeBound() throws {
        let port = LoopbackPort.free()
        #expect((20_000..<32_000).contains(port))
        let listener = try TCPSocket.listen(host: "127.0.0.1", port: port)
        defer { TCPSocket.close(listener.descriptor) }
        #expect(listener.port == port)
    }

    @Test func noPortIsHandedOutTwice() async {
        let ports = await withTaskGroup(of: [Int].self) { group in
            for _ in 0..<8 { group.addTask { (0..<50).map { _ in LoopbackPort.free() } } }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(ports.count == 400)
        #expect(Set(ports).count == ports.count)
    }

    @Test func aPortInUseCannotBeBound() throws {
        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { TCPSocket.close(listener.descriptor) }
        #expect(!LoopbackPort.canBind(listener.port))
        #expect(!LoopbackPort.canBind(0))
        #expect(!LoopbackPort.canBind(70_000))
    }
}
