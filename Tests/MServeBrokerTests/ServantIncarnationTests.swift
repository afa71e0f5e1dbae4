import Logging
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A PONG names the servant's incarnation: the same one keeps it in dispatch, another one
/// means it restarted, and the broker greets it again before it sends it anything more.
struct ServantIncarnationTests {
    @Test func aPongWithTheSameIncarnationKeepsTheServantAndAnotherRestartsIt() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.withOneReadyServant(log: log, incarnation: 9) { run, servant, broker in

            // Its own incarnation: still ready, and a query comes to it.
            _ = try await servant.next(.ping)
            try servant.send(to: broker, .pong, [WireInteger.encode(9)])
            try run.send(id: 1, "twice 1")
            let (_, query) = try await servant.next(.query)
            try #require(query.count == 2)
            try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer).result == .atom(.long(2)))

            // Another incarnation: a restarted process, greeted again and out of dispatch until READY.
            _ = try await servant.next(.ping)
            try servant.send(to: broker, .pong, [WireInteger.encode(10)])
            _ = try await servant.next(.hello)
            #expect(await run.servantsBecomeReady(0))
            // The log says why: a servant whose PONG and READY disagree by mistake would
            // otherwise be lost at each PING with no hint.
            #expect(
                log.entries.contains {
                    $0.message == "servant answered a PING in incarnation 10, not the 9 of its READY: taken as a restart" && $0.level == .notice
                }, "\(log.messages)")
        }
    }

    /// A PONG without its 8-byte incarnation (none, or 4 bytes) leaves the servant in dispatch
    /// but blind to its restarts: the broker says so, a line a second at most.
    @Test func aPongWithoutAnIncarnationIsWarnedOf() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.withOneReadyServant(log: log) { run, servant, broker in
            _ = try await servant.next(.ping)
            try servant.send(to: broker, .pong, [])
            _ = try await servant.next(.ping)
            try servant.send(to: broker, .pong, [[0, 0, 0, 9]])
            let warning = "malformed PONG from a servant: it carries no 8-byte incarnation (docs/PROTOCOL.md), so a restart of the servant cannot be seen"
            #expect(await eventually { log.messages.contains { $0.hasPrefix(warning) } }, "\(log.messages)")
            #expect(log.entries.first { $0.message.hasPrefix(warning) }?.metadata["servant"] == String(servant.endpoint.dropFirst("tcp://".count)))
            #expect(await run.broker.snapshot().servants.map(\.state) == ["ready"])
        }
    }
}
