import Foundation
import MServeProtocol
import MServeTestSupport
import MServeTesting
import POSIXSockets
import QData
import Testing

@testable import MServeBroker

/// The client byte counters count what crossed the kdb+ door's wire: a sync bare query and its
/// bare result, not the `(id; query)` and `(id; result; info)` the broker makes of them.
struct KdbDoorByteCountTests {
    @Test func aSyncBareQueryIsCountedAsItCameAndItsAnswerAsItLeft() async throws {
        let port = LoopbackPort.free()
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        configuration.kdb = BrokerConfiguration.Kdb(port: port)
        let broker = try Broker(configuration: configuration) { _ in InProcessFirstFreeAlgorithm() }
        let running = Task { try await broker.run() }
        defer { broker.stop() }
        _ = try await broker.clientEndpoint

        let descriptor = try TCPSocket.connect(address: IPv4Address.literal("127.0.0.1")!, port: port)
        defer { TCPSocket.close(descriptor) }
        TCPSocket.waitWritable(descriptor, milliseconds: 5_000)
        KdbWire.write(descriptor, Array("user:pass\u{3}\u{0}".utf8))
        #expect(try await KdbWire.read(descriptor, count: 1).count == 1, "no capability byte")

        // A sync string, as a q session sends `h".mserve.status[]"`: answered with the bare result.
        let query = QIPC.encode(.string(".mserve.status[]"), messageType: .sync)
        KdbWire.write(descriptor, query)
        let header = try await KdbWire.read(descriptor, count: 8)
        try #require(header.count == 8, "no answer")
        let length = Int(header[4]) | Int(header[5]) << 8 | Int(header[6]) << 16 | Int(header[7]) << 24
        let body = try await KdbWire.read(descriptor, count: length - 8)
        let answer = try QIPC.decode(header + body).value
        guard case .dictionary = answer else {
            Issue.record("expected the status dictionary alone, got \(answer)")
            return
        }

        let metrics = await broker.snapshot().metrics
        #expect(metrics.messagesReceived == 1 && metrics.messagesSent == 1)
        #expect(metrics.bytesReceived == UInt64(query.count), "received \(metrics.bytesReceived), the wire had \(query.count)")
        #expect(metrics.bytesSent == UInt64(length), "sent \(metrics.bytesSent), the wire had \(length)")
        broker.stop()
        try await running.value
    }
}
