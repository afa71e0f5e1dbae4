import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Synchronization
import Testing
import ZeroMQ

@testable import MServeBroker

/// While no servant is ready, a query waits at most `servantWait`, not its whole deadline, and
/// its error says that no servant was ready; a query that waits for a busy servant is not cut
/// short by it.
struct ServantWaitTests {
    @Test func aQueryWithNoServantReadyFailsAfterTheServantWait() async throws {
        try await ScriptedBroker.run(servants: 1, configure: { $0.dispatch.servantWait = .milliseconds(300) }) { run in
            // The servant never answers the broker's HELLO: it is known, never ready.
            try run.send(id: 1, "twice 1")
            let answer = try #require(try await run.answer(), "the client got no answer")
            let (id, result) = try ScriptedServant.idAndResult(of: answer)
            #expect(id == .atom(.long(1)))
            #expect(
                result == .error(
                    "mserve: no servant was ready within 0.3 seconds (--wait-for-servant); 1 servant(s) known, none ready"))
            #expect(try ScriptedServant.timings(of: answer).execution == 0)
        }
    }

    /// A query that was running at a servant when the servant was lost, and then waited in
    /// vain for another, is told both: its client is not left to think it never ran.
    @Test func aQueryWhoseServantWasLostSaysSoWhenNoneIsReady() async throws {
        try await ScriptedBroker.run(
            servants: 1,
            configure: {
                $0.dispatch.servantWait = .milliseconds(300)
                $0.servants.livenessTimeout = .seconds(3)
            }
        ) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            // Alive (its heartbeats answered on a thread of its own) until the query comes,
            // which it never answers; then silent, so lost.
            let queried = Mutex(false)
            let responder = ServantResponder(servant, broker: broker) { _, _ in
                queried.withLock { $0 = true }
                return nil
            }
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            #expect(await eventually { queried.withLock { $0 } }, "no QUERY came")
            responder.stop()
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(
                try ScriptedServant.idAndResult(of: answer).1
                    == .error(
                        "mserve: no servant was ready within 0.3 seconds (--wait-for-servant); 1 servant(s) known, none ready; "
                            + "it had been sent to 1 servant(s) that left or were lost before answering"))
        }
    }

    /// A query whose own deadline, shorter than the servant wait, passes while no servant is
    /// ready is told so: not that no servant was free, which points at busy servants.
    @Test func aDeadlinePassedWithNoServantReadySaysNoneWasReady() async throws {
        try await ScriptedBroker.run(servants: 1, configure: { $0.dispatch.servantWait = .seconds(60) }) { run in
            // The servant never answers the broker's HELLO: it is known, never ready.
            try run.client.send(QueryOptionsTests.query(id: 1, "twice 1", options: QueryOptionsTests.deadline(milliseconds: 300)))
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(
                try ScriptedServant.idAndResult(of: answer)
                    == (
                        .atom(.long(1)),
                        .error(
                            "mserve: deadline exceeded: the query waited in the queue while no servant was ready; "
                                + "1 servant(s) known, none ready")
                    ))
        }
    }

    @Test func aQueryWaitingForABusyServantIsNotCutShort() async throws {
        try await ScriptedBroker.run(
            servants: 1,
            configure: {
                $0.dispatch.servantWait = .milliseconds(100)
                // The scripted servant answers no heartbeat: only its goodbye may lose it.
                $0.servants.livenessTimeout = .seconds(30)
            }
        ) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            let first = try await servant.next(.query).frames
            try run.send(id: 2, "twice 2")
            // Several servant waits pass while the ready servant is busy.
            try await Task.sleep(for: .milliseconds(500))
            try servant.send(to: broker, .reply, [first[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let second = try await servant.next(.query).frames
            guard case .list(let items, _) = try QIPC.decode(second[1]).value else {
                Issue.record("the servant got no query list")
                return
            }
            #expect(items.first == .atom(.long(2)))
        }
    }
}

/// While other servants are ready, a query whose function only lost servants serve waits at
/// most `servantWait` too, and takes no place in the look-ahead meanwhile: the queries behind
/// it that a ready servant serves go first.
struct FunctionServantWaitTests {
    @Test func aQueryWhoseFunctionHasNoReadyServantFailsAfterTheServantWaitAndHoldsUpNoOther() async throws {
        try await ScriptedBroker.run(
            servants: 2,
            configure: {
                $0.dispatch.servantWait = .seconds(2)
                $0.dispatch.queryDeadline = .seconds(300)
                $0.dispatch.lookAhead = 2
                $0.servants.livenessTimeout = .seconds(3)
            }
        ) { run in
            let both = run.servants[0], twiceOnly = run.servants[1]
            // The servant serving only `twice` answers its heartbeats from the start.
            let broker = try await twiceOnly.becomeReady(capacity: 1, functions: ["twice"])
            let responder = ServantResponder(twiceOnly, broker: broker) { _, _ in
                ScriptedServant.answer(id: 0, .atom(.long(8)))
            }
            defer { responder.stop() }
            try await both.becomeReady(capacity: 1, functions: ["twice", "thrice"], incarnation: 10)
            #expect(await run.servantsBecomeReady(2))
            // The servant serving `thrice` answers no heartbeat: it is lost, and stays known.
            #expect(await run.servantsBecomeReady(1))

            // Far more than the look-ahead, and than one offer would look past.
            let waiting = 3_000
            for id in 1...waiting { try run.send(id: Int64(id), "thrice \(id)") }
            #expect(await eventually { await run.broker.snapshot().queued == waiting })
            try run.send(id: 0, "twice 4")
            let first = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: first) == (.atom(.long(0)), .atom(.long(8))))
            var answered: Set<Int64> = []
            for _ in 1...waiting {
                let answer = try #require(try await run.answer(), "\(answered.count) of \(waiting) answered")
                let (id, result) = try ScriptedServant.idAndResult(of: answer)
                if case .atom(.long(let number)) = id { answered.insert(number) }
                #expect(
                    result
                        == .error(
                            "mserve: no servant serving thrice was ready within 2.0 seconds (--wait-for-servant); "
                                + "1 servant(s) known serve it, none ready"))
            }
            #expect(answered == Set(1...Int64(waiting)))
            #expect(await run.broker.snapshot().metrics.queries(.noServant) == UInt64(waiting))
        }
    }
}
