import Foundation
import MServeHub
import Testing

/// What a process registers about itself: facts read from the system, not from an environment
/// the caller controls.
struct SpokeRegistrationTests {
    @Test func theUserIsTheOneTheProcessRunsAsNotTheEnvironmentsUSER() throws {
        let saved = ProcessInfo.processInfo.environment["USER"]
        setenv("USER", "someone-else", 1)
        defer {
            if let saved { setenv("USER", saved, 1) } else { unsetenv("USER") }
        }
        let registration = SpokeRegistration.current(port: 5001, service: "test", role: "servant", endpoint: "tcp://127.0.0.1:5001")
        #expect(registration.user == NSUserName())
        #expect(registration.user != "someone-else")
        #expect(registration.pid == Int64(getpid()))
    }
}
