import MServeProtocol
import MServeTestSupport
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// `mserve_broker_queries_redispatched_total` counts a query when it goes out again to a
/// servant after the one running it was lost, not when it is put back in the queue: a query
/// that then waits in vain for a servant was sent once, and is not counted.
struct RedispatchCountTests {
    @Test func aQueryThatFindsNoOtherServantIsNotCountedAsSentAgain() async throws {
        try await ScriptedBroker.run(servants: 1, configure: { $0.dispatch.servantWait = .milliseconds(300) }) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            _ = try await servant.next(.query)
            // Gone while ready, the query still running there: lost, and no servant is left.
            try servant.send(to: broker, .bye, [])
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(
                try ScriptedServant.idAndResult(of: answer).result
                    == .error(
                        "mserve: no servant was ready within 0.3 seconds (--wait-for-servant); 1 servant(s) known, none ready; "
                            + "it had been sent to 1 servant(s) that left or were lost before answering"))
            let metrics = await run.broker.snapshot().metrics
            #expect(metrics.queries(.noServant) == 1)
            #expect(metrics.redispatched == 0, "the query was sent once")
        }
    }

    @Test func aQueryIsCountedWhenItGoesOutAgain() async throws {
        try await ScriptedBroker.run(servants: 2) { run in
            let (first, second) = (run.servants[0], run.servants[1])
            let firstBroker = try await first.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            _ = try await first.next(.query)
            try first.send(to: firstBroker, .bye, [])
            #expect(await eventually { await run.broker.snapshot().servants.first?.state == "lost" })
            // Back in the queue, waiting for a servant: not sent again yet.
            #expect(await run.broker.snapshot().metrics.redispatched == 0)

            let secondBroker = try await second.becomeReady(capacity: 1)
            let (_, again) = try await second.next(.query)
            try #require(again.count == 2)
            #expect(await run.broker.snapshot().metrics.redispatched == 1)
            try second.send(to: secondBroker, .reply, [again[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(2)))
            let metrics = await run.broker.snapshot().metrics
            #expect(metrics.redispatched == 1)
            #expect(metrics.queries(.answered) == 1)
        }
    }
}
