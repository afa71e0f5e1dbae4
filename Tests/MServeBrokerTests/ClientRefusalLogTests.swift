import Foundation
import Logging
import MServeProtocol
import MServeTestSupport
import MServeTesting
import POSIXSockets
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// The lines logging a client message the broker refused name the client that sent it: a
/// ZeroMQ client's routing id in hex (`client`, as the line of replies dropped for a client
/// shows it) and its address, a kdb+ client's `peer`. An operator seeing refusals climb can
/// tell which client to chase.
struct ClientRefusalLogTests {
    @Test func aZeroMQClientsRefusedMessagesNameIt() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(
            servants: 1, configure: { $0.dispatch.queueCapacity = 1 }, logger: log.logger(label: "mserve.broker")
        ) { run in
            let client = try ZMQSocket(context: run.context, type: .dealer)
            defer { client.close() }
            try client.setLinger(milliseconds: 0)
            try client.setRoutingId(Array("CD".utf8))
            try client.connect(try await run.broker.clientEndpoint)
            func refused(_ message: [UInt8], logging line: String) async throws {
                try client.send(message)
                let answer = try #require(try await client.receiveFrames(within: .seconds(30)), "no answer: \(line)")
                #expect("\(try QIPC.decode(try #require(answer.last)).value)".contains("mserve:"), "\(line)")
                let entry = try #require(log.entries.first { $0.message.hasPrefix(line) }, "\(log.messages)")
                #expect(entry.metadata["client"] == "4344", "\(line): \(entry.metadata)")
                #expect(entry.metadata["address"] == "127.0.0.1", "\(line): \(entry.metadata)")
                #expect(entry.metadata["key"] == nil, "no key without --keys")
            }
            try await refused([1, 2, 3], logging: "refused a malformed client message: ")
            try await refused(ScriptedServant.query(id: 2, "1+1"), logging: "refused a query: ")
            try await refused(
                OutcomeCountTests.query(id: 3, "twice 3", options: .atom(.long(5))), logging: "refused a query's options: ")
            // The servant is never ready: one query waits, the next finds the queue full.
            try client.send(ScriptedServant.query(id: 4, "twice 4"))
            try await refused(ScriptedServant.query(id: 5, "twice 5"), logging: "refused a query: queue full")
        }
    }

    @Test func aKdbClientsRefusedQueryNamesItsPeer() async throws {
        let port = LoopbackPort.free()
        let log = LogRecorder()
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        configuration.kdb = BrokerConfiguration.Kdb(port: port)
        let broker = try Broker(configuration: configuration, logger: log.logger(label: "mserve.broker")) { _ in
            InProcessFirstFreeAlgorithm()
        }
        let running = Task { try await broker.run() }
        defer { broker.stop() }
        _ = try await broker.clientEndpoint

        let descriptor = try TCPSocket.connect(address: IPv4Address.literal("127.0.0.1")!, port: port)
        defer { TCPSocket.close(descriptor) }
        TCPSocket.waitWritable(descriptor, milliseconds: 5_000)
        KdbWire.write(descriptor, Array("user:pass\u{3}\u{0}".utf8))
        #expect(try await KdbWire.read(descriptor, count: 1).count == 1, "no capability byte")
        KdbWire.write(descriptor, QIPC.encode(.string("1+1"), messageType: .sync))
        let header = try await KdbWire.read(descriptor, count: 8)
        try #require(header.count == 8, "no answer")

        let entry = try #require(log.entries.first { $0.message.hasPrefix("refused a query: ") }, "\(log.messages)")
        #expect(entry.metadata["peer"]?.hasPrefix("127.0.0.1:") == true, "\(entry.metadata)")
        broker.stop()
        try await running.value
    }
}
