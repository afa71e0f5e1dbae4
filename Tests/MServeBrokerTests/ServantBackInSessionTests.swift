import Logging
import MServeProtocol
import POSIXSockets
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A servant lost while it ran queries (its connection dropped, its heartbeats missed) may be
/// the same process, running them on, when it comes back: its READY in the same incarnation
/// says how many it still runs (`running`), and they hold places of its capacity until their
/// answers come. So the broker neither sends it more than it can run nor queues a query sent
/// again there behind itself; a new process (another incarnation) runs nothing of the old one.
struct ServantBackInSessionTests {
    /// Runs a broker over one scripted servant on a port of its own, which `body` gets with the
    /// run; heartbeats every 100 ms, logging at info to `log`.
    private static func withServantOnAPort(
        log: LogRecorder, _ body: (ScriptedBroker, String) async throws -> Void
    ) async throws {
        let port = LoopbackPort.free()
        let endpoint = "tcp://127.0.0.1:\(port)"
        try await ScriptedBroker.run(
            servants: 0,
            configure: {
                $0.servants.endpoints = [endpoint]
                $0.servants.heartbeatInterval = .milliseconds(100)
            },
            logger: log.logger(label: "mserve.broker", level: .info)
        ) { run in try await body(run, endpoint) }
    }

    /// The servant takes query 1, then its connection drops; back on a new one, it answers the
    /// broker's HELLO with a READY in `incarnation` saying it still runs `running`; returns the
    /// servant back, the broker's routing id there, and query 1's tag and message as first sent.
    private static func servantCutWhileRunning(
        _ run: ScriptedBroker, at endpoint: String, back incarnation: Int64, running: Int64?
    ) async throws -> (servant: ScriptedServant, broker: [UInt8], tag: [UInt8], message: [UInt8]) {
        let first = try ScriptedServant(context: run.context, endpoint: endpoint)
        _ = try await first.becomeReady(capacity: 1, incarnation: 9)
        #expect(await run.servantsBecomeReady(1))
        try run.send(id: 1, "twice 1")
        let (_, sent) = try await first.next(.query)
        try #require(sent.count == 2)
        // The connection drops (a cut that ends it, a proxy's restart); the process runs on.
        first.close()
        #expect(await run.servantsBecomeReady(0))
        let back = try ScriptedServant(context: run.context, endpoint: endpoint)
        let (broker, _) = try await back.next(.hello)
        try back.send(
            to: broker, .ready, [ScriptedServant.readyInfo(capacity: 1, batch: nil, incarnation: incarnation, running: running)])
        #expect(await run.servantsBecomeReady(1))
        return (back, broker, sent[0], sent[1])
    }

    @Test func aServantBackInSessionHoldsThePlaceOfTheQueryItStillRuns() async throws {
        let log = LogRecorder()
        try await Self.withServantOnAPort(log: log) { run, endpoint in
            let (servant, broker, tag, message) = try await Self.servantCutWhileRunning(
                run, at: endpoint, back: 9, running: 1)
            defer { servant.close() }
            // Its one place is held by the query it still runs: the query, sent again, waits.
            var snapshot = await run.broker.snapshot()
            #expect(snapshot.servants.map(\.inFlight) == [1])
            #expect(snapshot.queued == 1)
            #expect(
                log.entries.contains { $0.message == "servant ready" && $0.metadata["stillRunning"] == "1" },
                "\(log.messages)")

            // Its answer comes, on the new connection: not passed on, and the place is free.
            try servant.send(to: broker, .reply, [tag, ScriptedServant.answer(id: 1, .atom(.long(-1)))])
            let (_, again) = try await servant.next(.query)
            try #require(again.count == 2)
            #expect(again[0] != tag, "sent again under a tag of its own")
            #expect(again[1] == message)
            try servant.send(to: broker, .reply, [again[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer).result == .atom(.long(2)))
            snapshot = await run.broker.snapshot()
            #expect(snapshot.servants.map(\.inFlight) == [0])
            #expect(snapshot.answered == 1)
        }
    }

    @Test func aServantBackRunningNothingIsSentTheQueryAtOnce() async throws {
        let log = LogRecorder()
        try await Self.withServantOnAPort(log: log) { run, endpoint in
            let (servant, broker, tag, message) = try await Self.servantCutWhileRunning(
                run, at: endpoint, back: 9, running: nil)
            defer { servant.close() }
            let (_, again) = try await servant.next(.query)
            try #require(again.count == 2)
            #expect(again[0] != tag)
            #expect(again[1] == message)
            // An answer to the first sending, late, changes nothing.
            try servant.send(to: broker, .reply, [tag, ScriptedServant.answer(id: 1, .atom(.long(-1)))])
            try servant.send(to: broker, .reply, [again[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer).result == .atom(.long(2)))
            #expect(await run.broker.snapshot().servants.map(\.inFlight) == [0])
        }
    }

    @Test func aRestartedServantRunsNothingOfTheProcessBefore() async throws {
        let log = LogRecorder()
        try await Self.withServantOnAPort(log: log) { run, endpoint in
            // Another incarnation saying it runs a query of an earlier session: none of this broker's.
            let (servant, broker, _, message) = try await Self.servantCutWhileRunning(
                run, at: endpoint, back: 10, running: 1)
            defer { servant.close() }
            let (_, again) = try await servant.next(.query)
            try #require(again.count == 2)
            #expect(again[1] == message)
            try servant.send(to: broker, .reply, [again[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer).result == .atom(.long(2)))
            #expect(!log.entries.contains { $0.metadata["stillRunning"] != nil }, "\(log.messages)")
        }
    }
}
