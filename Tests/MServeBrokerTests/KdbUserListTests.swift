import MServeBroker
import Testing

/// Users kept up to date from the hub: none admitted before the first list, then exactly
/// the list's, by digest only.
struct KdbUserListTests {
    static let sha1OfSecret = "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"
    static let sha256OfWonderland = PasswordDigest.hex(PasswordDigest.sha256(Array("wonderland".utf8)))

    @Test func refusesEveryoneUntilTheFirstList() {
        let list = KdbUserList()
        #expect(list.users == nil)
        #expect(!list.accepts(user: "", password: ""))
        #expect(!list.accepts(user: "alice", password: "wonderland"))
    }

    @Test func acceptsTheListsUsersByDigest() {
        let list = KdbUserList()
        list.replace(KdbUsers(digests: ["alice": Self.sha256OfWonderland, "bob": Self.sha1OfSecret]))
        #expect(list.accepts(user: "alice", password: "wonderland"))
        #expect(list.accepts(user: "bob", password: "secret"))
        #expect(!list.accepts(user: "alice", password: "secret"))
        #expect(!list.accepts(user: "carol", password: "secret"))
        // The digest itself is not a password.
        #expect(!list.accepts(user: "bob", password: Self.sha1OfSecret))

        list.replace(KdbUsers(digests: ["bob": Self.sha1OfSecret]))
        #expect(!list.accepts(user: "alice", password: "wonderland"))
        #expect(list.accepts(user: "bob", password: "secret"))
    }
}
