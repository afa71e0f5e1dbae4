import MServeProtocol
import MServeTesting
import MServeTestSupport
import QData
import Testing
import ZeroMQ

import Logging
@testable import MServeBroker

/// The hub's word that it no longer lists a servant (`Broker.servantLeft`: its LEAVE, or a
/// listing without it). The hub judges by heartbeats to itself, which a cut between it and the
/// servant stops while the servant still answers the broker: a servant in session is kept, in
/// dispatch, until its own link to the broker ends its session (it drains and says goodbye,
/// its connection ends, it restarts), then removed; never called lost for the hub's word.
struct ServantLeftTests {
    static let keptNotice = "which still answers this broker: kept until it stops answering or says goodbye"

    @Test func aReadyServantTheHubNoLongerListsStaysInDispatchUntilItSaysGoodbye() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 2, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let (unlisted, other) = (run.servants[0], run.servants[1])
            let unlistedBroker = try await unlisted.becomeReady(capacity: 1)
            _ = try await other.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(2))

            run.broker.servantLeft(endpoint: unlisted.endpoint)
            #expect(await eventually { log.messages.contains { $0.hasSuffix(Self.keptNotice) } }, "\(log.messages)")
            #expect(await run.broker.snapshot().servants.map(\.state) == ["ready", "ready"])

            // Still in dispatch: the first free servant, it takes the next query.
            try run.send(id: 1, "twice 4")
            let (_, query) = try await unlisted.next(.query)
            try unlisted.send(to: unlistedBroker, .reply, [query[0], ScriptedServant.answer(id: 1, .atom(.long(8)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(8)))

            // Said again, the hub's word changes nothing more.
            run.broker.servantLeft(endpoint: unlisted.endpoint)
            try unlisted.send(to: unlistedBroker, .drain, [])
            try unlisted.send(to: unlistedBroker, .bye, [])
            #expect(await eventually { await run.broker.snapshot().servants.map(\.endpoint) == [other.endpoint] })

            #expect(log.messages.filter { $0.hasSuffix(Self.keptNotice) }.count == 1, "\(log.messages)")
            #expect(log.messages.contains("servant removed: the hub no longer lists it"), "\(log.messages)")
            #expect(!log.entries.contains { $0.level >= .warning }, "\(log.entries)")
            #expect(await run.broker.snapshot().metrics.servantsLost(.saidGoodbye) == 0)
        }
    }

    /// A stopping servant leaves the hub after its drain, but the hub's word may arrive first:
    /// the servant drains as it would (no new query, its running query answered by it), and is
    /// removed at its goodbye.
    @Test func aDrainingServantTheHubNoLongerListsFinishesItsRunningQueryAndGetsNoNewOne() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 2, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let (leaving, staying) = (run.servants[0], run.servants[1])
            let leavingBroker = try await leaving.becomeReady(capacity: 2)
            let stayingBroker = try await staying.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(2))

            // The first free servant (the leaving one, first in the list) takes the query.
            try run.send(id: 1, "twice 1")
            let (_, running) = try await leaving.next(.query)
            try leaving.send(to: leavingBroker, .drain, [])
            #expect(await eventually { await run.broker.snapshot().servants.first?.state == "draining" })
            run.broker.servantLeft(endpoint: leaving.endpoint)

            // A new query goes to the other servant, though the leaving one has a free slot.
            try run.send(id: 2, "twice 2")
            let (_, second) = try await staying.next(.query)
            #expect(second[1] == ScriptedServant.query(id: 2, "twice 2"))
            try staying.send(to: stayingBroker, .reply, [second[0], ScriptedServant.answer(id: 2, .atom(.long(4)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(4)))

            // The running query is answered by the servant that ran it, not sent elsewhere.
            try leaving.send(to: leavingBroker, .reply, [running[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let answer = try #require(try await run.answer())
            #expect(try ScriptedServant.idAndResult(of: answer) == (id: .atom(.long(1)), result: .atom(.long(2))))
            guard case .list(let items, _) = try QIPC.decode(answer).value, items.count == 3 else {
                Issue.record("expected (id; result; info)")
                return
            }
            let info = Dictionary(try #require(InfoDictionary.symbolKeyedEntries(items[2])), uniquingKeysWith: { first, _ in first })
            #expect(info["servant"] == .atom(.symbol(String(leaving.endpoint.dropFirst("tcp://".count)))))

            // Its goodbye ends its session: it is removed.
            try leaving.send(to: leavingBroker, .bye, [])
            leaving.close()
            #expect(await eventually { await run.broker.snapshot().servants.map(\.endpoint) == [staying.endpoint] })
            try run.send(id: 3, "twice 3")
            let (_, third) = try await staying.next(.query)
            try staying.send(to: stayingBroker, .reply, [third[0], ScriptedServant.answer(id: 3, .atom(.long(6)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(6)))

            #expect(!log.messages.contains { $0.hasSuffix(Self.keptNotice) }, "\(log.messages)")
            #expect(log.messages.contains("servant left"), "\(log.messages)")
            #expect(log.messages.contains("servant removed: the hub no longer lists it"), "\(log.messages)")
            #expect(!log.entries.contains { $0.level >= .warning }, "\(log.entries)")
            #expect(await run.broker.snapshot().metrics.redispatched == 0)
        }
    }

    @Test func aKeptServantThatGoesWithAQueryRunningIsLostAndTheQueryRunsElsewhere() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 2, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let (leaving, staying) = (run.servants[0], run.servants[1])
            _ = try await leaving.becomeReady(capacity: 1)
            let stayingBroker = try await staying.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(2))

            try run.send(id: 1, "twice 5")
            let (_, running) = try await leaving.next(.query)
            run.broker.servantLeft(endpoint: leaving.endpoint)
            #expect(await eventually { log.messages.contains { $0.hasSuffix(Self.keptNotice) } }, "\(log.messages)")
            // It goes without answering: the query is not lost with it.
            leaving.close()
            let (_, again) = try await staying.next(.query)
            #expect(again[1] == running[1])
            try staying.send(to: stayingBroker, .reply, [again[0], ScriptedServant.answer(id: 1, .atom(.long(10)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(10)))
            #expect(await eventually { await run.broker.snapshot().servants.map(\.endpoint) == [staying.endpoint] })
            #expect(log.messages.contains("servant lost"), "\(log.messages)")
            #expect(log.messages.contains("servant removed: the hub no longer lists it"), "\(log.messages)")
            #expect(await run.broker.snapshot().metrics.servantsLost(.disconnected) == 1)
        }
    }

    /// A kept servant that answers in another incarnation restarted: the servant kept is gone
    /// (its query is sent elsewhere) and removed, and the new process at its endpoint is not
    /// taken until the hub lists it.
    @Test func aKeptServantThatRestartsIsRemoved() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 2, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let (restarting, staying) = (run.servants[0], run.servants[1])
            let restartingBroker = try await restarting.becomeReady(capacity: 1, incarnation: 9)
            let stayingBroker = try await staying.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(2))
            try run.send(id: 1, "twice 6")
            let (_, running) = try await restarting.next(.query)
            run.broker.servantLeft(endpoint: restarting.endpoint)
            #expect(await eventually { log.messages.contains { $0.hasSuffix(Self.keptNotice) } }, "\(log.messages)")

            try restarting.send(
                to: restartingBroker, .ready, [ScriptedServant.readyInfo(capacity: 1, batch: nil, incarnation: 10)])
            let (_, again) = try await staying.next(.query)
            #expect(again[1] == running[1])
            try staying.send(to: stayingBroker, .reply, [again[0], ScriptedServant.answer(id: 1, .atom(.long(12)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(12)))
            #expect(await eventually { await run.broker.snapshot().servants.map(\.endpoint) == [staying.endpoint] })
            let lost = try #require(log.entries.first { $0.message == "servant lost" })
            #expect(lost.metadata["reason"] == "restarted")
            #expect(log.messages.contains("servant removed: the hub no longer lists it"), "\(log.messages)")
            #expect(log.messages.filter { $0 == "servant ready" }.count == 2, "\(log.messages)")
            #expect(await run.broker.snapshot().metrics.servantsLost(.restarted) == 1)
        }
    }

    /// Listed again with the same key, a kept servant stays as it is (no new record); listed
    /// under another key, it is another servant at that endpoint, which its users must pin: the
    /// one kept is replaced.
    @Test func aKeptServantListedAgainIsKeptUnlessUnderAnotherKey() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 1, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let servant = run.servants[0]
            _ = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))

            run.broker.servantLeft(endpoint: servant.endpoint)
            run.broker.addServant(endpoint: servant.endpoint)
            #expect(await eventually { log.messages.contains("the hub lists the servant again") }, "\(log.messages)")
            #expect(await run.broker.snapshot().servants.map(\.state) == ["ready"])
            #expect(log.messages.filter { $0 == "servant added" }.count == 1, "\(log.messages)")

            run.broker.servantLeft(endpoint: servant.endpoint)
            run.broker.addServant(endpoint: servant.endpoint, serverKey: String(repeating: "k", count: 40))
            #expect(await eventually { log.messages.filter { $0 == "servant added" }.count == 2 }, "\(log.messages)")
            let lost = try #require(log.entries.first { $0.message == "servant lost" })
            #expect(lost.metadata["reason"] == "replaced at its endpoint")
            #expect(log.messages.filter { $0.hasSuffix(Self.keptNotice) }.count == 2, "\(log.messages)")
        }
    }

    /// A servant removed once its session ended while the hub did not list it, then listed
    /// again: until a READY names it, it goes by the name it had, not by `HOST:PORT` (a cut
    /// that healed may leave its new connection silent for seconds).
    @Test func aFormerServantListedAgainGoesByItsNameBeforeItsReady() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 1, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1, name: "db1")
            #expect(await run.servantsBecomeReady(1))
            run.broker.servantLeft(endpoint: servant.endpoint)
            #expect(await eventually { log.messages.contains { $0.hasSuffix(Self.keptNotice) } }, "\(log.messages)")
            try servant.send(to: broker, .drain, [])
            try servant.send(to: broker, .bye, [])
            #expect(await eventually { await run.broker.snapshot().servants.isEmpty })

            run.broker.addServant(endpoint: servant.endpoint)
            #expect(await eventually { log.messages.filter { $0 == "servant added" }.count == 2 }, "\(log.messages)")
            let added = try #require(await run.broker.snapshot().servants.first)
            #expect(added.name == "db1")
            #expect(added.state != "ready")
        }
    }

    /// A servant killed with queries running, then restarted under the same name at another
    /// endpoint (a systemd template's `mserve-servant@1`): the lines about the one lost carry
    /// its endpoint beside its name, so the hub's later word that it is gone cannot be read as
    /// being about the new one, and `servant lost` counts the queries the loss took down.
    @Test func linesAboutALostServantNameItsEndpointAndCountItsQueries() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 2, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let (killed, restarted) = (run.servants[0], run.servants[1])
            _ = try await killed.becomeReady(capacity: 2, name: "db1")
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            try run.send(id: 2, "twice 2")
            var running = 0
            while running < 2 { running += try await killed.next(.query).1.count / 2 }

            killed.close()
            #expect(await eventually { log.messages.contains("servant lost") }, "\(log.messages)")
            _ = try await restarted.becomeReady(capacity: 2, incarnation: 10, name: "db1")
            #expect(await run.servantsBecomeReady(1))
            var sentAgain = 0
            while sentAgain < 2 { sentAgain += try await restarted.next(.query).1.count / 2 }
            run.broker.servantLeft(endpoint: killed.endpoint)
            #expect(await eventually { await run.broker.snapshot().servants.map(\.endpoint) == [restarted.endpoint] })

            let lost = try #require(log.entries.first { $0.message == "servant lost" })
            #expect(lost.metadata["servant"] == "db1")
            #expect(lost.metadata["endpoint"] == killed.endpoint)
            #expect(lost.metadata["reason"] == "disconnected")
            #expect(lost.metadata["running"] == "2")
            #expect(lost.metadata["sentAgain"] == "2")
            #expect(lost.metadata["failed"] == "0")
            let removed = try #require(log.entries.first { $0.message == "servant removed: the hub no longer lists it" })
            #expect(removed.metadata["servant"] == "db1")
            #expect(removed.metadata["endpoint"] == killed.endpoint)
            let ready = log.entries.filter { $0.message == "servant ready" }
            #expect(ready.map { $0.metadata["endpoint"] } == [killed.endpoint, restarted.endpoint])
            let aboutAServant = log.entries.filter { $0.metadata["servant"] != nil }
            #expect(!aboutAServant.isEmpty)
            for entry in aboutAServant {
                #expect(entry.metadata["endpoint"]?.hasPrefix("tcp://") == true, "\(entry)")
            }
        }
    }

    /// At debug level the broker logs each event of a servant's connections, with the
    /// connection's file descriptor: what tells an operator why a servant was lost
    /// `reason=disconnected`.
    @Test func eachConnectionEventOfAServantIsLoggedAtDebug() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 1, logger: log.logger(label: "mserve.broker", level: .debug)) { run in
            let servant = run.servants[0]
            _ = try await servant.becomeReady(capacity: 1, name: "db1")
            #expect(await run.servantsBecomeReady(1))
            servant.close()
            #expect(await eventually { log.messages.contains("servant lost") })
            let events = log.entries.filter { $0.message == "servant connection event" }
            let connected = try #require(events.first { $0.metadata["event"] == "[connected]" }, "\(events)")
            let disconnected = try #require(events.first { $0.metadata["event"] == "[disconnected]" }, "\(events)")
            #expect(connected.metadata["value"] == disconnected.metadata["value"], "one connection's descriptor")
            #expect((Int(disconnected.metadata["value"] ?? "") ?? -1) >= 0)
            #expect(disconnected.metadata["state"] == "ready")
            #expect(disconnected.metadata["servant"] == "db1")
            #expect(disconnected.metadata["endpoint"] == servant.endpoint)
        }
        #expect(log.entries.filter { $0.message == "servant connection event" }.allSatisfy { $0.level == .debug })
    }
}
