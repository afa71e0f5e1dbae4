import Foundation
import GRDB
import MServePasswords
import MServeTestSupport
import Testing

@testable import MServeHub
import ZeroMQ

/// The hub's kdb+ users: the `users` table keeps names and salted slow password hashes (never
/// plain text, nor a fast digest), and ADDUSER, REMOVEUSER and USERS edit and list it.
struct HubUsersTests {
    static let sha1OfSecret = "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"
    static let sha256OfSecret = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
    static let rounds = PasswordHash.roundsAllowed.lowerBound

    /// The stored hash of `user`, read back.
    static func hash(of user: String, in database: HubDatabase) throws -> PasswordHash {
        let stored = try #require(try database.users().first { $0.name == user })
        return try #require(PasswordHash(stored.hash))
    }

    @Test func addListAndRemoveUsers() throws {
        try withTemporaryDirectory("mserve-hub-users") { temporary in
            let database = try HubDatabase(directory: temporary + "/hub")
            let carol = PasswordHash(password: "wonderland", rounds: Self.rounds)
            try database.addUser(name: "carol", hash: carol.description, at: 1)
            try database.addUser(name: "bob", hash: Self.sha1OfSecret.uppercased(), at: 2)
            #expect(try database.users().map(\.name) == ["bob", "carol"])
            #expect(try database.users().map(\.kind) == ["pbkdf2-sha256/sha1", "pbkdf2-sha256"])
            #expect(try Self.hash(of: "carol", in: database) == carol)
            // A digest given is kept inside a slow hash, never as it is.
            let bob = try Self.hash(of: "bob", in: database)
            #expect(bob.rounds == PasswordHash.defaultRounds)
            #expect(bob.verifies(password: "secret"))
            #expect(try !database.users().contains { $0.hash.contains(Self.sha1OfSecret) })

            // Adding a user again replaces its password.
            try database.addUser(name: "bob", hash: PasswordHash(password: "builder", rounds: Self.rounds).description, at: 3)
            #expect(try Self.hash(of: "bob", in: database).verifies(password: "builder"))

            #expect(try database.removeUser(name: "bob"))
            #expect(try !database.removeUser(name: "bob"))
            #expect(try database.users().map(\.name) == ["carol"])
        }
    }

    @Test func onlyHashesDigestsAndPlainNamesAreStored() throws {
        try withTemporaryDirectory("mserve-hub-users") { temporary in
            let database = try HubDatabase(directory: temporary + "/hub")
            for hash in [
                "wonderland", "", String(Self.sha1OfSecret.dropLast()), String(repeating: "g", count: 64),
                "pbkdf2-sha256$1$00112233445566778899aabbccddeeff$" + String(repeating: "0", count: 64),
            ] {
                #expect(throws: HubError.self) { try database.addUser(name: "alice", hash: hash, at: 1) }
            }
            for name in ["", "a:b", "a b", "ctl\u{01}", "evil\u{202E}nimda"] {
                #expect(throws: HubError.self) { try database.addUser(name: name, hash: Self.sha1OfSecret, at: 1) }
            }
            #expect(try database.users().isEmpty)
        }
    }

    @Test func theUsersOutliveTheHubProcess() throws {
        try withTemporaryDirectory("mserve-hub-users") { temporary in
            let directory = temporary + "/hub"
            try HubDatabase(directory: directory).addUser(
                name: "alice", hash: PasswordHash(password: "secret", rounds: Self.rounds).description, at: 1)
            #expect(try HubDatabase(directory: directory).users().map(\.name) == ["alice"])
        }
    }

    /// A database written by a version that kept SHA digests: opening it wraps each digest in
    /// a slow hash, and every user keeps its password.
    @Test func digestsStoredByAnOlderVersionBecomeSlowHashes() throws {
        try withTemporaryDirectory("mserve-hub-users") { temporary in
            let directory = temporary + "/hub"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let queue = try DatabaseQueue(path: (directory as NSString).appendingPathComponent("hub.sqlite"))
            try HubDatabase.migrator.migrate(queue, upTo: "v5 key roles")
            try queue.write { db in
                try db.execute(
                    sql: "INSERT INTO users (name, digest, added) VALUES ('alice', ?, 1), ('bob', ?, 2), ('eve', 'junk', 3)",
                    arguments: [Self.sha256OfSecret, Self.sha1OfSecret.uppercased()])
            }
            try queue.close()

            let database = try HubDatabase(directory: directory)
            // eve's row matched no password: it is dropped, not kept as something a password could equal.
            #expect(try database.users().map(\.name) == ["alice", "bob"])
            #expect(try database.users().map(\.kind) == ["pbkdf2-sha256/sha256", "pbkdf2-sha256/sha1"])
            #expect(try Self.hash(of: "alice", in: database).verifies(password: "secret"))
            #expect(try Self.hash(of: "bob", in: database).verifies(password: "secret"))
            #expect(try !Self.hash(of: "bob", in: database).verifies(password: Self.sha1OfSecret))
        }
    }

    @Test func digestKinds() {
        #expect(PasswordDigestKind(digest: Self.sha1OfSecret) == .sha1)
        #expect(PasswordDigestKind(digest: Self.sha256OfSecret) == .sha256)
        #expect(PasswordDigestKind(digest: "secret") == nil)
        #expect(PasswordDigestKind.sha256.hexDigits == 64)
    }

    @Test func theHubServesTheUsers() async throws {
        try await HubFixture.with { fixture in
            let (hub, task) = try await fixture.startHub()
            defer { hub.stop() }
            #expect(try await fixture.client.users().isEmpty)
            let alice = PasswordHash(password: "secret", rounds: Self.rounds).description
            #expect(try await fixture.client.addUser(name: "alice", hash: alice) == [HubUser(name: "alice", hash: alice)])
            await #expect(throws: HubError.self) { try await fixture.client.addUser(name: "bob", hash: "secret") }
            // A digest is kept inside a hash, whichever way it is given.
            let bob = try await fixture.client.addUser(name: "bob", digest: Self.sha256OfSecret).first { $0.name == "bob" }
            #expect(try PasswordHash(#require(bob).hash)?.verifies(password: "secret") == true)
            #expect(try await fixture.client.removeUser(name: "bob").map(\.name) == ["alice"])
            #expect(try await fixture.client.users().map(\.name) == ["alice"])
            #expect(try await fixture.client.removeUser(name: "alice").isEmpty)
            await #expect(throws: HubError.self) { try await fixture.client.removeUser(name: "alice") }
            hub.stop()
            try await task.value
        }
    }

    @Test(.enabled(if: ZMQ.has("curve"), "libzmq built without CURVE"))
    func withSecurityOnlyTheHubKeyEditsUsers() async throws {
        try await HubFixture.withSecuredHub { fixture, hubKeys in
            let broker = try ZMQCurveKeyPair.generate()
            _ = try await fixture.curveClient(hubKeys).allow(name: "broker", key: broker.publicKey)
            _ = try await fixture.curveClient(hubKeys).addUser(name: "alice", hash: Self.sha1OfSecret)
            // An admitted broker reads the users, but may not edit them.
            #expect(try await fixture.curveClient(broker).users().map(\.name) == ["alice"])
            await #expect(throws: HubError.self) { try await fixture.curveClient(broker).addUser(name: "eve", hash: Self.sha1OfSecret) }
            await #expect(throws: HubError.self) { try await fixture.curveClient(broker).removeUser(name: "alice") }
        }
    }
}
