import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// While every servant is busy and queries wait, the loop leaves its client socket out of the
/// poll (a new query could only join the queue) but still reads it: new queries are queued,
/// refused when the queue is full and the broker's own functions answered, all while the
/// servants stay busy; and once a servant is free, queries are polled for again.
struct SaturatedReadTests {
    @Test func queriesArrivingWhileEveryServantIsBusyAreReadQueuedRefusedAndAnswered() async throws {
        try await ScriptedBroker.run(servants: 1, configure: { $0.dispatch.queueCapacity = 2 }) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))

            // The servant holds query 1; query 2 waits: the broker is saturated.
            try run.send(id: 1, "twice 1")
            let (_, first) = try await servant.next(.query)
            try run.send(id: 2, "twice 2")
            #expect(await eventually { await run.broker.snapshot().queued == 1 })

            // Still read while saturated: query 3 joins the queue, query 4 finds it full, and
            // the status query is answered by the broker itself, counting both waiting.
            try run.send(id: 3, "twice 3")
            #expect(await eventually { await run.broker.snapshot().queued == 2 })
            try run.send(id: 4, "twice 4")
            let refused = try ScriptedServant.idAndResult(of: try #require(try await run.answer()))
            #expect(refused.id == .atom(.long(4)))
            #expect(refused.result == .error("mserve: queue full (2 queries waiting); try again later"))
            try run.send(id: 5, ".mserve.status[]")
            let status = try ScriptedServant.idAndResult(of: try #require(try await run.answer()))
            #expect(status.id == .atom(.long(5)))
            let entries = try #require(status.result.symbolKeyedPairs)
            #expect(Dictionary(uniqueKeysWithValues: entries)["queued"] == .atom(.long(2)))

            // The servant answers: each waiting query goes in turn; then, with the servant
            // free and nothing waiting, a new query is polled for and goes at once.
            try servant.send(to: broker, .reply, [first[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).id == .atom(.long(1)))
            for id in [Int64(2), 3] {
                let (_, query) = try await servant.next(.query)
                try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: id, .atom(.long(2 * id)))])
                #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).id == .atom(.long(id)))
            }
            #expect(await eventually { await run.broker.snapshot().queued == 0 })
            try run.send(id: 6, "twice 6")
            let (_, sixth) = try await servant.next(.query)
            try servant.send(to: broker, .reply, [sixth[0], ScriptedServant.answer(id: 6, .atom(.long(12)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(12)))
        }
    }
}
