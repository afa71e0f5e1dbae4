import MServePlugin
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A dispatch algorithm that names no servant, or a busy one, fails the query at once with an
/// error naming the algorithm, instead of leaving it to wait for its deadline.
struct InvalidChoiceTests {
    /// Names the servant at `index`, whatever the servants are.
    final class FixedChoiceAlgorithm: DispatchAlgorithm {
        let index: @Sendable (Int) -> Int
        init(index: @escaping @Sendable (_ servantCount: Int) -> Int) { self.index = index }
        var name: String { "fixed" }
        func choose(routing: String, servants: [ServantView]) -> Int? { index(servants.count) }
        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}
        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
            nil
        }
    }

    static let invalidServant = QValue.error("mserve: the dispatch algorithm fixed returned an invalid servant")

    @Test func aChoiceOutOfRangeFailsTheQueryAtOnce() async throws {
        let recorder = LogRecorder()
        try await ScriptedBroker.run(
            servants: 1, algorithm: { FixedChoiceAlgorithm { $0 + 7 } }, logger: recorder.logger(label: "broker")
        ) { run in
            _ = try await run.servants[0].becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer) == (.atom(.long(1)), Self.invalidServant))
        }
        // The log says what the algorithm returned.
        let logged = recorder.entries.first { $0.message.hasPrefix("the dispatch algorithm chose no ready servant") }
        #expect(logged?.metadata["returned"] == "index 8 of 1 servants", "\(recorder.messages)")
    }

    @Test func aChoiceOfABusyServantFailsTheQueryAtOnce() async throws {
        let recorder = LogRecorder()
        try await ScriptedBroker.run(
            servants: 1, algorithm: { FixedChoiceAlgorithm { _ in 0 } }, logger: recorder.logger(label: "broker")
        ) { run in
            let servant = run.servants[0]
            _ = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            _ = try await servant.next(.query)  // and not answered: the servant stays busy
            try run.send(id: 2, "twice 2")
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer) == (.atom(.long(2)), Self.invalidServant))
        }
        let logged = recorder.entries.first { $0.message.hasPrefix("the dispatch algorithm chose a busy servant") }
        #expect(logged?.metadata["returned"] == "index 0 of 1 servants", "\(recorder.messages)")
    }
}
