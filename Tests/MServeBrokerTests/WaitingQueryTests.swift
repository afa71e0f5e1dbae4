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
        let context = try ZMQContext()
        let servant = try ScriptedServant(context: context)
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        configuration.servants.endpoints = [servant.endpoint]
        // No heartbeats during the test: nothing but the re-offer can bring the query back.
        configuration.servants.heartbeatInterval = .seconds(30)
        configuration.servants.livenessTimeout = .seconds(120)
        let broker = try Broker(
            configuration: configuration, algorithms: { _ in PatientAlgorithm(patience: .milliseconds(100)) })
        let running = Task { try await broker.run() }
        let client = try ZMQSocket(context: context, type: .dealer)
        defer {
            client.close()
            servant.socket.close()
            broker.stop()
        }
        try client.setLinger(milliseconds: 0)
        try client.connect(try await broker.clientEndpoint)
        _ = try servant.becomeReady(capacity: 1)
        #expect(await eventually { await broker.snapshot().servants.first?.state == "ready" })

        let sent = ContinuousClock.now
        try client.send(QIPC.encode(.list([.atom(.long(1)), .string("twice 1")]), messageType: .async))
        try servant.socket.setReceiveTimeout(milliseconds: 3_000)
        let (_, frames) = try servant.next(.query)
        let waited = ContinuousClock.now - sent
        #expect(frames.count == 2)
        #expect(waited >= .milliseconds(100), "the algorithm's wait was kept")
        #expect(waited < .seconds(2), "offered again soon after the wait, not left in the queue")

        client.close()
        servant.socket.close()
        broker.stop()
        try await running.value
        context.terminate()
    }
}
