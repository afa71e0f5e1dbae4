import Foundation
import MServeHub
import Testing
import ZeroMQ

/// The hub's kdb+ users: the `users` table keeps names and password digests (never plain
/// text), and ADDUSER, REMOVEUSER and USERS edit and list it.
struct HubUsersTests {
    static let sha1OfSecret = "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"
    static let sha256OfSecret = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"

    @Test func addListAndRemoveUsers() throws {
        let database = try HubDatabase(directory: try Self.directory())
        try database.addUser(name: "carol", digest: Self.sha256OfSecret, at: 1)
        try database.addUser(name: "bob", digest: Self.sha1OfSecret.uppercased(), at: 2)
        #expect(try database.users() == [
            HubUser(name: "bob", digest: Self.sha1OfSecret), HubUser(name: "carol", digest: Self.sha256OfSecret),
        ])
        #expect(try database.users().map(\.kind) == [.sha1, .sha256])

        // Adding a user again replaces its password.
        try database.addUser(name: "bob", digest: Self.sha256OfSecret, at: 3)
        #expect(try database.users().first?.kind == .sha256)

        #expect(try database.removeUser(name: "bob"))
        #expect(try !database.removeUser(name: "bob"))
        #expect(try database.users().map(\.name) == ["carol"])
    }

    @Test func onlyDigestsAndPlainNamesAreStored() throws {
        let database = try HubDatabase(directory: try Self.directory())
        for digest in ["wonderland", "", String(Self.sha1OfSecret.dropLast()), String(repeating: "g", count: 64)] {
            #expect(throws: HubError.self) { try database.addUser(name: "alice", digest: digest, at: 1) }
        }
        for name in ["", "a:b", "a b"] {
            #expect(throws: HubError.self) { try database.addUser(name: name, digest: Self.sha1OfSecret, at: 1) }
        }
        #expect(try database.users().isEmpty)
    }

    @Test func theUsersOutliveTheHubProcess() throws {
        let directory = try Self.directory()
        try HubDatabase(directory: directory).addUser(name: "alice", digest: Self.sha256OfSecret, at: 1)
        #expect(try HubDatabase(directory: directory).users().map(\.name) == ["alice"])
    }

    @Test func digestKinds() {
        #expect(PasswordDigestKind(digest: Self.sha1OfSecret) == .sha1)
        #expect(PasswordDigestKind(digest: Self.sha256OfSecret) == .sha256)
        #expect(PasswordDigestKind(digest: "secret") == nil)
        #expect(PasswordDigestKind.sha256.hexDigits == 64)
    }

    @Test func theHubServesTheUsers() async throws {
        let fixture = HubFixture()
        let (hub, task) = try await fixture.startHub()
        defer { hub.stop() }
        #expect(try await fixture.client.users().isEmpty)
        #expect(try await fixture.client.addUser(name: "alice", digest: Self.sha256OfSecret) == [
            HubUser(name: "alice", digest: Self.sha256OfSecret)
        ])
        await #expect(throws: HubError.self) { try await fixture.client.addUser(name: "bob", digest: "secret") }
        #expect(try await fixture.client.users().map(\.name) == ["alice"])
        #expect(try await fixture.client.removeUser(name: "alice").isEmpty)
        await #expect(throws: HubError.self) { try await fixture.client.removeUser(name: "alice") }
        hub.stop()
        try await task.value
    }

    @Test(.enabled(if: ZMQ.has("curve"), "libzmq built without CURVE"))
    func withSecurityOnlyTheHubKeyEditsUsers() async throws {
        try await HubFixture.withSecuredHub { fixture, hubKeys in
            let broker = try ZMQCurveKeyPair.generate()
            _ = try await fixture.curveClient(hubKeys).allow(name: "broker", key: broker.publicKey)
            _ = try await fixture.curveClient(hubKeys).addUser(name: "alice", digest: Self.sha1OfSecret)
            // An admitted broker reads the users, but may not edit them.
            #expect(try await fixture.curveClient(broker).users().map(\.name) == ["alice"])
            await #expect(throws: HubError.self) { try await fixture.curveClient(broker).addUser(name: "eve", digest: Self.sha1OfSecret) }
            await #expect(throws: HubError.self) { try await fixture.curveClient(broker).removeUser(name: "alice") }
        }
    }

    static func directory() throws -> String {
        (NSTemporaryDirectory() as NSString).appendingPathComponent("mserve-hub-users-\(UUID().uuidString)")
    }
}
