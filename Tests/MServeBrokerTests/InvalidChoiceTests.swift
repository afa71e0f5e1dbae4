import MServePlugin
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A dispatch algorithm that names a busy servant is not obeyed: the query waits for a free
/// one, and the busy servant is never sent more than its capacity.
struct InvalidChoiceTests {
    /// Always names the first servant, free or not.
    private final class StubbornAlgorithm: DispatchAlgorithm {
        var name: String { "stubborn" }
        func choose(routing: String, servants: [ServantView]) -> Int? { servants.isEmpty ? nil : 0 }
        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}
        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? { nil }
    }

    @Test func aQueryForABusyServantWaitsUntilItIsFree() async throws {
        try await ScriptedBroker.run(servants: 1, algorithm: { StubbornAlgorithm() }) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            let (_, first) = try await servant.next(.query)
            try #require(first.count == 2)
            try run.send(id: 2, "twice 2")
            // The second waits in the queue: the one servant is busy, whatever the algorithm said.
            #expect(await eventually {
                let snapshot = await run.broker.snapshot()
                return snapshot.queued == 1 && snapshot.inFlight == 1
            })
            try servant.send(to: broker, .reply, [first[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let (_, second) = try await servant.next(.query)
            try #require(second.count == 2)
            try servant.send(to: broker, .reply, [second[0], ScriptedServant.answer(id: 2, .atom(.long(4)))])
            var ids: [QValue] = []
            for _ in 0..<2 {
                let answer = try #require(try await run.answer(), "the client got no answer")
                ids.append(try ScriptedServant.idAndResult(of: answer).id)
            }
            #expect(ids == [.atom(.long(1)), .atom(.long(2))])
        }
    }
}
