import Foundation
import Testing

@testable import MServeHub

/// A hub request honours its task's cancellation: a process stopping does not wait out the
/// request's timeout on a hub that does not answer.
struct HubClientCancellationTests {
    @Test func aCancelledRequestEndsWithCancellationNotItsTimeout() async throws {
        // Nothing listens on port 9 (discard) on loopback: no answer ever comes.
        let client = HubClient(endpoint: "tcp://127.0.0.1:9", timeout: .seconds(30))
        let request = Task { try await client.request(HubMessage(.resolve, [])) }
        try await Task.sleep(for: .milliseconds(100))
        request.cancel()
        await #expect(throws: CancellationError.self) { try await request.value }
    }

    @Test func aRequestCancelledBeforeItStartsIsNotSent() async throws {
        let client = HubClient(endpoint: "tcp://127.0.0.1:9", timeout: .seconds(30))
        let request = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await client.request(HubMessage(.resolve, []))
        }
        await #expect(throws: CancellationError.self) { try await request.value }
    }
}
