import Synchronization
import Testing

@testable import MServeBroker

/// The scripted broker shows what the broker logged when a test's steps fail: a wait that ran
/// out says nothing of its cause without it.
struct ScriptedBrokerTests {
    /// What a test saw of the issues its known failure recorded.
    final class SeenIssues: Sendable {
        let comments = Mutex<[String]>([])
    }

    @Test func aRunThatThrowsShowsTheBrokersLog() async throws {
        let seen = SeenIssues()
        try await withKnownIssue {
            try await ScriptedBroker.run(servants: 1) { run in
                try await run.servants[0].becomeReady(capacity: 1, name: "scripted")
                try #require(await run.servantsBecomeReady(1))
                throw ScriptedServantError(description: "a step failed")
            }
        } matching: { issue in
            seen.comments.withLock { $0 += issue.comments.map(\.rawValue) }
            return true
        }
        let log = seen.comments.withLock { $0 }.first { $0.hasPrefix("the broker's log:") }
        #expect(log?.contains("servant ready") == true, "\(seen.comments.withLock { $0 })")
        #expect(log?.contains("servant=scripted") == true)
        // The broker's view of its connection, at debug, and the servant's.
        #expect(log?.contains("debug servant connection event broker=tcp://127.0.0.1:") == true)
        #expect(log?.contains(" event=[connected] ") == true)
        #expect(log?.contains("the scripted servants' connection events:\nservant 0 (tcp://127.0.0.1:") == true)
        #expect(log?.contains("[accepted] value=") == true)
        #expect(log?.contains("[handshakeSucceeded] value=") == true)
    }

    @Test func aRunThatEndsWellShowsNothing() async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            try await run.servants[0].becomeReady(capacity: 1)
            try #require(await run.servantsBecomeReady(1))
        }
    }
}
