import MServePlugin
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// When a servant comes free, the queries at the front of the line are offered in turn, up to
/// the look-ahead: one the algorithm makes wait does not hold up those behind it.
struct BrokerLookAheadTests {
    /// Makes queries routed `HELD` wait; any other takes the first free servant.
    private final class HoldingAlgorithm: DispatchAlgorithm {
        var name: String { "holding" }
        func choose(routing: String, servants: [ServantView]) -> Int? {
            routing == "HELD" ? nil : servants.firstIndex(where: \.isFree)
        }
        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}
        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? { nil }
    }

    @Test func aQueryBehindOneMadeToWaitGoesWhenAServantComesFree() async throws {
        try await ScriptedBroker.run(servants: 1, algorithm: { HoldingAlgorithm() }) { run in
            let servant = run.servants[0]
            // Both wait in the queue for a servant, the held one in front.
            try run.send(id: 1, "twice `HELD")
            try run.send(id: 2, "twice `FREE")
            #expect(await eventually { await run.broker.snapshot().queued == 2 })
            let broker = try await servant.becomeReady(capacity: 1)
            let (_, query) = try await servant.next(.query)
            try #require(query.count == 2)
            try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: 2, .atom(.long(4)))])
            let answer = try #require(try await run.answer(), "the query behind the held one got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer).id == .atom(.long(2)))
            #expect(await run.broker.snapshot().queued == 1)
        }
    }
}
