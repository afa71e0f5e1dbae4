import Testing

@testable import MServeBroker

struct KdbUsersTests {
    let users: KdbUsers

    init() throws {
        users = try KdbUsers(
            parsing: """
                / plain, SHA-1 and SHA-256 of "secret"
                alice:wonderland
                bob:E5E9FA1BA31ECD1AE84F75CAAA474F3A663F05F4

                carol:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b
                """)
    }

    @Test func acceptsPlainAndDigestPasswords() {
        #expect(users.accepts(user: "alice", password: "wonderland"))
        #expect(users.accepts(user: "bob", password: "secret"))
        #expect(users.accepts(user: "carol", password: "secret"))
    }

    @Test func refusesWrongPasswordsAndUnknownUsers() {
        #expect(!users.accepts(user: "alice", password: "secret"))
        #expect(!users.accepts(user: "bob", password: "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f5"))
        #expect(!users.accepts(user: "mallory", password: "secret"))
        #expect(!users.accepts(user: "", password: ""))
    }

    @Test func aLineWithoutAUserIsAnError() {
        #expect(throws: BrokerError.self) { try KdbUsers(parsing: ":nouser") }
    }
}
