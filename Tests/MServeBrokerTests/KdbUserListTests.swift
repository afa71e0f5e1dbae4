import MServeBroker
import MServePasswords
import Testing

/// Users kept up to date from the hub: none admitted before the first list, then exactly
/// the list's, by their hashes only; each replacement is counted.
struct KdbUserListTests {
    static let rounds = PasswordHash.roundsAllowed.lowerBound
    static let wonderland = StoredPassword.hashed(PasswordHash(password: "wonderland", rounds: rounds))
    static let secret = StoredPassword.hashed(PasswordHash(password: "secret", rounds: rounds))

    @Test func refusesEveryoneUntilTheFirstList() {
        let list = KdbUserList()
        #expect(list.users == nil)
        #expect(list.versioned.generation == 0)
        #expect(!list.accepts(user: "", password: ""))
        #expect(!list.accepts(user: "alice", password: "wonderland"))
    }

    @Test func acceptsTheListsUsers() {
        let list = KdbUserList()
        list.replace(KdbUsers(passwords: ["alice": Self.wonderland, "bob": Self.secret]))
        #expect(list.versioned.generation == 1)
        #expect(list.accepts(user: "alice", password: "wonderland"))
        #expect(list.accepts(user: "bob", password: "secret"))
        #expect(!list.accepts(user: "alice", password: "secret"))
        #expect(!list.accepts(user: "carol", password: "secret"))

        list.replace(KdbUsers(passwords: ["bob": Self.secret]))
        #expect(list.versioned.generation == 2)
        #expect(!list.accepts(user: "alice", password: "wonderland"))
        #expect(list.accepts(user: "bob", password: "secret"))
    }
}
