import MServePlugin
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// An algorithm that takes queries for a free servant (the plugin's `take`) is asked, for each
/// free servant, before the waiting queries are offered to `choose` in arrival order, and the
/// query it takes goes to that servant.
struct QueryTakingTests {
    /// Takes the newest waiting query for any free servant; `choose` takes the first free one.
    private final class NewestFirstAlgorithm: DispatchAlgorithm {
        var name: String { "newest-first" }
        var takesQueries: Bool { true }

        func take(servant: ServantView, routings: [String]) -> Int? { routings.indices.last }

        func choose(routing: String, servants: [ServantView]) -> Int? { servants.firstIndex(where: \.isFree) }

        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}

        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
            nil
        }
    }

    @Test func theQueryAnAlgorithmTakesGoesToTheFreeServantFirst() async throws {
        try await ScriptedBroker.run(servants: 1, algorithm: { NewestFirstAlgorithm() }) { run in
            let servant = run.servants[0]
            // Three queries wait before the servant is ready.
            for n in 1...3 { try run.send(id: Int64(n), "twice \(n)") }
            #expect(await eventually { await run.broker.snapshot().queued == 3 })

            let brokerID = try await servant.becomeReady(capacity: 1)
            var order: [QValue] = []
            for _ in 1...3 {
                let (_, frames) = try await servant.next(.query)
                try #require(frames.count == 2)
                guard case .list(let items, _) = try QIPC.decode(frames[1]).value else {
                    Issue.record("a query that is not (id; query)")
                    return
                }
                order.append(items[0])
                try servant.send(
                    to: brokerID, .reply, [frames[0], QIPC.encode(.list([items[0], .atom(.long(0))]), messageType: .async)])
            }
            #expect(order == [.atom(.long(3)), .atom(.long(2)), .atom(.long(1))], "newest first, as the algorithm takes them")
        }
    }
}
