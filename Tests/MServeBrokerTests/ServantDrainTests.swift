import Logging
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A stopping servant sends DRAIN: the broker sends it nothing more but waits for the answers
/// to what it runs; its BYE names the queries it never started, which go to another servant
/// without counting as a dispatch, so that a rolling restart costs no query its retry.
struct ServantDrainTests {
    @Test func aDrainingServantGetsNoNewQueryAndWhatItNeverStartedIsNotCountedAsSent() async throws {
        try await ScriptedBroker.run(servants: 2, configure: { $0.servants.redispatchLimit = 0 }) { run in
            let (first, second) = (run.servants[0], run.servants[1])
            let firstBroker = try await first.becomeReady(capacity: 2)
            let secondBroker = try await second.becomeReady(capacity: 2)
            #expect(await run.servantsBecomeReady(2))

            try run.send(id: 1, "twice 1")
            try run.send(id: 2, "twice 2")
            var atFirst: [(tag: [UInt8], message: [UInt8])] = []
            while atFirst.count < 2 {
                let (_, frames) = try await first.next(.query)
                for index in stride(from: 0, to: frames.count - 1, by: 2) { atFirst.append((frames[index], frames[index + 1])) }
            }
            try first.send(to: firstBroker, .drain, [])
            #expect(await eventually { await run.broker.snapshot().servants.map(\.state) == ["draining", "ready"] })

            // New work goes to the other servant.
            try run.send(id: 3, "twice 3")
            let (_, third) = try await second.next(.query)
            try second.send(to: secondBroker, .reply, [third[0], ScriptedServant.answer(id: 3, .atom(.long(6)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).id == .atom(.long(3)))

            // The first servant answers query 1 and leaves without starting query 2.
            try first.send(to: firstBroker, .reply, [atFirst[0].tag, ScriptedServant.answer(id: 1, .atom(.long(2)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).id == .atom(.long(1)))
            try first.send(to: firstBroker, .bye, [atFirst[1].tag])

            // Query 2 goes to the second servant, although no query may be sent twice here.
            let (_, moved) = try await second.next(.query)
            try #require(moved.count == 2)
            #expect(moved[1] == atFirst[1].message)
            try second.send(to: secondBroker, .reply, [moved[0], ScriptedServant.answer(id: 2, .atom(.long(4)))])
            let answer = try #require(try await run.answer())
            let (id, result) = try ScriptedServant.idAndResult(of: answer)
            #expect(id == .atom(.long(2)))
            #expect(result == .atom(.long(4)))
            #expect(await run.broker.snapshot().servants.map(\.state) == ["left", "ready"])
        }
    }

    /// The broker answers each DRAIN at once with a PING carrying `DRAIN`: on one connection
    /// ZeroMQ keeps order, so every QUERY it sent the servant before is there first, and none
    /// follows; the servant says goodbye only after reading it (docs/PROTOCOL.md, "Stopping").
    /// The queries it runs stay its own until answered.
    @Test func eachDrainIsAcknowledgedWithAPingCarryingDrain() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.withOneReadyServant(log: log) { run, servant, broker in
            try run.send(id: 1, "twice 1")
            let (_, sent) = try await servant.next(.query)
            try #require(sent.count == 2)
            // The next PING carrying `DRAIN` (plain heartbeats, every 100 ms here, skipped),
            // within 30 s.
            func acknowledgement() async throws -> [[UInt8]] {
                let deadline = ContinuousClock.now + .seconds(30)
                while true {
                    let (_, body) = try await servant.next(.ping, within: max(deadline - ContinuousClock.now, .milliseconds(1)))
                    if !body.isEmpty { return body }
                }
            }
            try servant.send(to: broker, .drain, [])
            #expect(try await acknowledgement() == [ServantCommand.drain.frame])
            // A DRAIN again (a query crossed the first): acknowledged again.
            try servant.send(to: broker, .drain, [WireInteger.encode(999)])
            #expect(try await acknowledgement() == [ServantCommand.drain.frame])
            // The running query is still answered, and the servant leaves cleanly.
            try servant.send(to: broker, .reply, [sent[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(2)))
            try servant.send(to: broker, .bye, [])
            #expect(await eventually { log.messages.contains("servant left") }, "\(log.messages)")
            #expect(!log.messages.contains { $0.hasPrefix("servant left with queries still running") }, "\(log.messages)")
        }
    }

    /// A servant that said goodbye is greeted again (to find it once it restarts), and may
    /// answer while it shuts down: a READY in the incarnation that said goodbye is not taken
    /// back into dispatch, where a query sent to it would be lost with the process. Its next
    /// incarnation is.
    @Test func aServantIsNotTakenBackInTheIncarnationInWhichItSaidGoodbye() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.withOneReadyServant(log: log, incarnation: 9) { run, servant, broker in
            try servant.send(to: broker, .drain, [])
            try servant.send(to: broker, .bye, [])
            #expect(await eventually { log.messages.contains("servant left") }, "\(log.messages)")
            // Greeted again, it answers in the same incarnation.
            _ = try await servant.becomeReady(capacity: 1, incarnation: 9)
            #expect(
                await eventually {
                    log.messages.contains("ignored a READY from servant \(servant.endpoint.dropFirst(6)) in the incarnation in which it said goodbye: it is used again once it restarts (a new incarnation)")
                }, "\(log.messages)")
            #expect(await run.broker.snapshot().servants.map(\.state) == ["left"])
            // Restarted, it is used again.
            _ = try await servant.becomeReady(capacity: 1, incarnation: 10)
            #expect(await run.servantsBecomeReady(1), "\(log.messages)")
        }
    }

    /// A servant whose drain time ends with a query still running leaves without naming it: the
    /// query goes to another servant, counted as a dispatch, and the broker says so.
    @Test func aQueryStillRunningWhenTheServantLeavesIsSentAgainAndLogged() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 2, logger: log.logger(label: "mserve.broker")) { run in
            let (first, second) = (run.servants[0], run.servants[1])
            let firstBroker = try await first.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            let (_, frames) = try await first.next(.query)
            let secondBroker = try await second.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(2))
            try first.send(to: firstBroker, .drain, [])
            #expect(await eventually { await run.broker.snapshot().servants.map(\.state) == ["draining", "ready"] })
            try first.send(to: firstBroker, .bye, [])

            let (_, moved) = try await second.next(.query)
            try #require(moved.count == 2)
            #expect(moved[1] == frames[1])
            try second.send(to: secondBroker, .reply, [moved[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())) == (.atom(.long(1)), .atom(.long(2))))
            let entry = try #require(log.entries.first { $0.message == "servant left with queries still running: they are sent again" })
            #expect(entry.metadata["running"] == "1")
            #expect(entry.metadata["sentAgain"] == "1")
            #expect(entry.metadata["failed"] == "0")
        }
    }

    /// With no re-dispatch left (`--redispatch 0`), a query still running when its servant
    /// leaves is answered with an error at once; the log says so, and the error and the log
    /// agree that the servant left (it said goodbye), not that it was lost.
    @Test func aQueryStillRunningWhenTheServantLeavesWithNoRedispatchLeftFailsAndIsLoggedSo() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(
            servants: 2, configure: { $0.servants.redispatchLimit = 0 }, logger: log.logger(label: "mserve.broker")
        ) { run in
            let (first, second) = (run.servants[0], run.servants[1])
            let firstBroker = try await first.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            _ = try await first.next(.query)
            try await second.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(2))
            try first.send(to: firstBroker, .drain, [])
            #expect(await eventually { await run.broker.snapshot().servants.map(\.state) == ["draining", "ready"] })
            try first.send(to: firstBroker, .bye, [])

            let answer = try #require(try await run.answer(), "the query got no answer")
            let name = try #require(await run.broker.snapshot().servants.first?.name)
            #expect(
                try ScriptedServant.idAndResult(of: answer)
                    == (.atom(.long(1)), .error("mserve: servant \(name) left (said goodbye) while running the query; sent 1 time(s), giving up")))
            let entry = try #require(log.entries.first { $0.message.hasPrefix("servant left with queries still running") })
            #expect(entry.message == "servant left with queries still running: they are answered with an error, sent as often as --redispatch allows")
            #expect(entry.metadata["running"] == "1")
            #expect(entry.metadata["sentAgain"] == "0")
            #expect(entry.metadata["failed"] == "1")
        }
    }

    /// A DRAIN that names queries the servant will not start hands them back at once: they go
    /// to another servant while the draining one still runs its query, not counted as sent; a
    /// BYE that names them again changes nothing.
    @Test func queriesHandedBackInTheDrainGoElsewhereAtOnce() async throws {
        try await ScriptedBroker.run(servants: 2, configure: { $0.servants.redispatchLimit = 0 }) { run in
            let (first, second) = (run.servants[0], run.servants[1])
            let firstBroker = try await first.becomeReady(capacity: 2)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            try run.send(id: 2, "twice 2")
            var atFirst: [(tag: [UInt8], message: [UInt8])] = []
            while atFirst.count < 2 {
                let (_, frames) = try await first.next(.query)
                for index in stride(from: 0, to: frames.count - 1, by: 2) { atFirst.append((frames[index], frames[index + 1])) }
            }
            let secondBroker = try await second.becomeReady(capacity: 2)
            #expect(await run.servantsBecomeReady(2))
            // The first runs query 1 and hands query 2 back.
            try first.send(to: firstBroker, .drain, [atFirst[1].tag])
            let (_, moved) = try await second.next(.query)
            try #require(moved.count == 2)
            #expect(moved[1] == atFirst[1].message)
            try second.send(to: secondBroker, .reply, [moved[0], ScriptedServant.answer(id: 2, .atom(.long(4)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).id == .atom(.long(2)))
            #expect(await run.broker.snapshot().servants.map(\.state) == ["draining", "ready"])
            // Query 1 is still the first's; then it leaves, naming query 2 again.
            try first.send(to: firstBroker, .reply, [atFirst[0].tag, ScriptedServant.answer(id: 1, .atom(.long(2)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).id == .atom(.long(1)))
            try first.send(to: firstBroker, .bye, [atFirst[1].tag])
            #expect(await eventually { await run.broker.snapshot().servants.map(\.state) == ["left", "ready"] })
            #expect(await run.broker.snapshot().metrics.redispatched == 0)
        }
    }
}
