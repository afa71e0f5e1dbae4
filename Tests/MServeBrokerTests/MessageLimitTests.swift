import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// The broker's ZeroMQ message limit (`--max-message`, ``BrokerConfiguration/Clients/maxMessageSize``):
/// libzmq refuses a larger frame before allocating it, on the client socket and the servant
/// socket alike, and the HELLO tells servants the limit so that they answer a larger result
/// with an error instead of sending it (docs/PROTOCOL.md, "Message size limit").
struct MessageLimitTests {
    /// The next event of `monitor` that contains `wanted`, within five seconds.
    static func event(_ wanted: ZMQMonitorEvents, on monitor: ZMQMonitor) async throws -> Bool {
        // Long enough for a machine that holds this test back for a while.
        let end = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < end {
            while let event = try monitor.next(dontWait: true) {
                if event.event.contains(wanted) { return true }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    @Test func theDefaultLimitIs64MiBAndTheHelloTellsItToServants() async throws {
        #expect(BrokerConfiguration().clients.maxMessageSize == 64 << 20)
        try await ScriptedBroker.run(servants: 1) { run in
            let (_, hello) = try await run.servants[0].next(.hello)
            try #require(hello.count >= 3, "HELLO has no message limit frame: \(hello)")
            #expect(WireInteger.decode(hello[2][...]) == 64 << 20)
        }
    }

    @Test func aClientSendingMoreIsDisconnectedAndTheBrokerServesOn() async throws {
        try await ScriptedBroker.run(servants: 1, configure: { $0.clients.maxMessageSize = 4_096 }) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))

            let large = try ZMQSocket(context: run.context, type: .dealer)
            defer { large.close() }
            try large.setLinger(milliseconds: 0)
            try large.startMonitor(endpoint: "inproc://message-limit-large-client", events: [.handshakeSucceeded, .disconnected])
            let monitor = try ZMQMonitor(context: run.context, endpoint: "inproc://message-limit-large-client")
            defer { monitor.close() }
            try large.connect(try await run.broker.clientEndpoint)
            #expect(try await Self.event(.handshakeSucceeded, on: monitor))
            try large.send(ScriptedServant.query(id: 1, "twice \"" + String(repeating: "1", count: 10_000) + "\""))
            // libzmq closes the connection when the frame's header announces too many bytes;
            // the query never reaches the broker, so no servant sees it.
            #expect(try await Self.event(.disconnected, on: monitor), "the oversized client was not disconnected")

            // Within the limit, on another connection, queries are served as ever.
            try run.send(id: 2, "twice 2")
            let (_, query) = try await servant.next(.query)
            try #require(query.count == 2)
            #expect(try QIPC.decode(query[1]).value == .list([.atom(.long(2)), .string("twice 2")]))
            try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: 2, .atom(.long(4)))])
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer) == (.atom(.long(2)), .atom(.long(4))))
        }
    }

    @Test func aServantReplyingMoreIsDisconnectedAndTheClientGetsAnError() async throws {
        try await ScriptedBroker.run(
            servants: 1,
            configure: {
                $0.clients.maxMessageSize = 4_096
                $0.servants.redispatchLimit = 0
            }
        ) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 3, "twice 3")
            let (_, query) = try await servant.next(.query)
            try #require(query.count == 2)
            let big = ScriptedServant.answer(id: 3, .vector(.long(Array(repeating: 7, count: 1_000))))
            try servant.send(to: broker, .reply, [query[0], big])
            // The broker never reads the reply: it loses the servant's connection, and the
            // query it held is answered with an error (no redispatch allowed here).
            let answer = try #require(try await run.answer(), "the client got no answer")
            let (id, result) = try ScriptedServant.idAndResult(of: answer)
            #expect(id == .atom(.long(3)))
            guard case .error(let message) = result else {
                Issue.record("expected an error reply, got \(result)")
                return
            }
            #expect(!message.isEmpty)
        }
    }
}
