import Foundation
import MServePlugin
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A query the dispatch algorithm makes wait while a servant is free is offered again soon,
/// not only at the next arrival or answer: an algorithm that waits for a time keeps its word
/// when nothing else happens.
struct WaitingQueryTests {
    /// Makes every query wait for `patience` after the first time it is offered, then takes
    /// the first free servant.
    private final class PatientAlgorithm: DispatchAlgorithm {
        let patience: Duration
        private var firstOffered: ContinuousClock.Instant?

        init(patience: Duration) { self.patience = patience }

        var name: String { "patient" }

        func choose(routing: String, servants: [ServantView]) -> Int? {
            let now = ContinuousClock.now
            guard let since = firstOffered else {
                firstOffered = now
                return nil
            }
            return now - since >= patience ? servants.firstIndex(where: \.isFree) : nil
        }

        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}

        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
            nil
        }
    }

    @Test func aQueryMadeToWaitWithAServantFreeIsOfferedAgainWithoutAnotherEvent() async throws {
        try await ScriptedBroker.run(
            servants: 1,
            configure: {
                // No heartbeats during the test: nothing but the re-offer can bring the query back.
                $0.servants.heartbeatInterval = .seconds(90)
                $0.servants.livenessTimeout = .seconds(300)
            },
            algorithm: { PatientAlgorithm(patience: .milliseconds(100)) }
        ) { run in
            let servant = run.servants[0]
            _ = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))

            let sent = ContinuousClock.now
            try run.send(id: 1, "twice 1")
            try servant.socket.setReceiveTimeout(milliseconds: 3_000)
            let (_, frames) = try await servant.next(.query)
            let waited = ContinuousClock.now - sent
            #expect(frames.count == 2)
            #expect(waited >= .milliseconds(100), "the algorithm's wait was kept")
            // Left in the queue, it would wait for the next heartbeat, 90 s on: thirty seconds
            // tell the two apart however loaded the machine (a loaded one took over ten).
            #expect(waited < .seconds(30), "offered again soon after the wait, not left in the queue")
        }
    }
}
