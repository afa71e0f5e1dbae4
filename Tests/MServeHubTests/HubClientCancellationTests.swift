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

    /// A hub endpoint whose host name does not resolve is said to be so at the timeout, not
    /// asked whether the hub is running.
    @Test func aHubWhoseNameDoesNotResolveIsSaidToBeSoAtTheTimeout() async throws {
        let client = HubClient(endpoint: "tcp://no-such-hub.invalid:5560", timeout: .milliseconds(300))
        let error = await #expect(throws: HubError.self) { try await client.request(HubMessage(.resolve, [])) }
        #expect(
            error?.message.hasPrefix(
                "the hub at tcp://no-such-hub.invalid:5560 did not answer within 0.3 seconds: the host name no-such-hub.invalid does not resolve (")
                == true,
            "\(String(describing: error))")
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
