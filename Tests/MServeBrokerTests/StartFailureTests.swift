import MServePlugin
import MServeTestSupport
import Synchronization
import Testing

@testable import MServeBroker

/// A broker that fails to start says why, to `run()` and to `clientEndpoint`, and leaves no
/// caller of `snapshot()` waiting for a loop that will never answer.
struct StartFailureTests {
    struct NoSuchAlgorithm: Error {}
    final class Count: Sendable { let value = Atomic<Int>(0) }

    @Test func aBrokerThatFailedToStartAnswersSnapshotsEmpty() async throws {
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        let broker = try Broker(configuration: configuration) { _ in throw NoSuchAlgorithm() }
        let answers = Count()
        // One asked before the start fails, one after.
        Task {
            if await broker.snapshot().servants.isEmpty { answers.value.add(1, ordering: .relaxed) }
        }
        await #expect(throws: NoSuchAlgorithm.self) { try await broker.run() }
        await #expect(throws: NoSuchAlgorithm.self) { _ = try await broker.clientEndpoint }
        Task {
            if await broker.snapshot().servants.isEmpty { answers.value.add(1, ordering: .relaxed) }
        }
        let answered = await eventually(timeout: .seconds(60)) { answers.value.load(ordering: .relaxed) == 2 }
        #expect(answered, "snapshot() waited for a broker that never started")
    }
}
