import MServeProtocol
import MServeTesting
import MServeTestSupport
import QData
import Testing
import ZeroMQ

import Logging
@testable import MServeBroker

/// The hub's word that a servant left (`Broker.servantLeft`) may reach the broker before the
/// servant's own DRAIN, answers and BYE: a stopping servant leaves the hub last. The broker
/// takes it out of dispatch, lets what it runs finish there, and never calls it lost for it.
struct ServantLeftTests {
    @Test func anIdleServantTheHubSaysLeftIsRemovedWithoutAWarning() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 2, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let (leaving, staying) = (run.servants[0], run.servants[1])
            let leavingBroker = try await leaving.becomeReady(capacity: 1)
            let stayingBroker = try await staying.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(2))

            // The hub's LEAVE first; the servant's DRAIN and BYE after it.
            run.broker.servantLeft(endpoint: leaving.endpoint)
            #expect(await eventually { await run.broker.snapshot().servants.map(\.endpoint) == [staying.endpoint] })
            try leaving.send(to: leavingBroker, .drain, [])
            try leaving.send(to: leavingBroker, .bye, [])
            leaving.socket.close()

            // A query goes to the servant that stays, and is answered.
            try run.send(id: 1, "twice 4")
            let (_, query) = try await staying.next(.query)
            try staying.send(to: stayingBroker, .reply, [query[0], ScriptedServant.answer(id: 1, .atom(.long(8)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(8)))

            #expect(log.messages.contains("servant removed: the hub no longer lists it"), "\(log.messages)")
            #expect(!log.entries.contains { $0.level >= .warning }, "\(log.entries)")
        }
    }

    @Test func aServantTheHubSaysLeftFinishesItsRunningQueryAndGetsNoNewOne() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 2, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let (leaving, staying) = (run.servants[0], run.servants[1])
            let leavingBroker = try await leaving.becomeReady(capacity: 2)
            let stayingBroker = try await staying.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(2))

            // The first free servant (the leaving one, first in the list) takes the query.
            try run.send(id: 1, "twice 1")
            let (_, running) = try await leaving.next(.query)
            run.broker.servantLeft(endpoint: leaving.endpoint)
            #expect(await eventually { await run.broker.snapshot().servants.first?.state == "draining" })

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

            // With nothing left to run it is forgotten; its BYE, coming later, changes nothing.
            #expect(await eventually { await run.broker.snapshot().servants.map(\.endpoint) == [staying.endpoint] })
            try leaving.send(to: leavingBroker, .bye, [])
            leaving.socket.close()
            try run.send(id: 3, "twice 3")
            let (_, third) = try await staying.next(.query)
            try staying.send(to: stayingBroker, .reply, [third[0], ScriptedServant.answer(id: 3, .atom(.long(6)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(6)))

            #expect(log.messages.contains("servant leaving: the hub no longer lists it; the queries it runs may finish"))
            #expect(log.messages.contains("servant removed: the hub no longer lists it"), "\(log.messages)")
            #expect(!log.entries.contains { $0.level >= .warning }, "\(log.entries)")
            #expect(await run.broker.snapshot().metrics.redispatched == 0)
        }
    }

    @Test func aServantThatLeftAndGoesWithAQueryRunningIsLostAndTheQueryRunsElsewhere() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 2, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let (leaving, staying) = (run.servants[0], run.servants[1])
            _ = try await leaving.becomeReady(capacity: 1)
            let stayingBroker = try await staying.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(2))

            try run.send(id: 1, "twice 5")
            let (_, running) = try await leaving.next(.query)
            run.broker.servantLeft(endpoint: leaving.endpoint)
            #expect(await eventually { await run.broker.snapshot().servants.first?.state == "draining" })
            // It goes without answering: the query is not lost with it.
            leaving.socket.close()
            let (_, again) = try await staying.next(.query)
            #expect(again[1] == running[1])
            try staying.send(to: stayingBroker, .reply, [again[0], ScriptedServant.answer(id: 1, .atom(.long(10)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(10)))
            #expect(await eventually { await run.broker.snapshot().servants.map(\.endpoint) == [staying.endpoint] })
            #expect(log.messages.contains("servant lost"), "\(log.messages)")
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

            killed.socket.close()
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
}
