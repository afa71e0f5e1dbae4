import MServePlugin
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A query whose deadline passes in the queue because the dispatch algorithm kept answering
/// `MSERVE_DISPATCH_WAIT` while servants were free is told so, the algorithm named: "no servant
/// was free in time" would blame the servants.
struct KeptWaitingTests {
    /// Never chooses: every query waits.
    final class NeverChoosingAlgorithm: DispatchAlgorithm {
        var name: String { "never" }
        func choose(routing: String, servants: [ServantView]) -> Int? { nil }
        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}
        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
            nil
        }
    }

    @Test func aQueryTheAlgorithmKeptWaitingWhileAServantWasFreeSaysSo() async throws {
        let recorder = LogRecorder()
        try await ScriptedBroker.run(
            servants: 1, configure: { $0.dispatch.queryDeadline = .milliseconds(300) },
            algorithm: { NeverChoosingAlgorithm() }, logger: recorder.logger(label: "broker")
        ) { run in
            _ = try await run.servants[0].becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(
                try ScriptedServant.idAndResult(of: answer)
                    == (
                        .atom(.long(1)),
                        .error(
                            "mserve: deadline exceeded: the dispatch algorithm never kept the query waiting in the queue while 1 servant(s) were free"
                        )
                    ))
        }
        let logged = recorder.entries.first { $0.message.hasPrefix("a query passed its deadline in the queue") }
        #expect(
            logged?.message
                == "a query passed its deadline in the queue while 1 servant(s) were free: the dispatch algorithm never kept it waiting",
            "\(recorder.messages)")
        #expect(logged?.metadata["algorithm"] == "never")
    }

    @Test func aQueryWaitingForBusyServantsKeepsTheUsualError() async throws {
        try await ScriptedBroker.run(
            servants: 1, configure: { $0.dispatch.queryDeadline = .milliseconds(300) }
        ) { run in
            _ = try await run.servants[0].becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            _ = try await run.servants[0].next(.query)  // and never answered: the servant stays busy
            try run.send(id: 2, "twice 2")
            var results: [QValue: QValue] = [:]
            for _ in 0..<2 {
                let answer = try #require(try await run.answer(), "the client got no answer")
                let (id, result) = try ScriptedServant.idAndResult(of: answer)
                results[id] = result
            }
            #expect(results[.atom(.long(2))] == .error("mserve: \(BrokerLoop.deadlineExceededInQueue)"))
        }
    }
}
