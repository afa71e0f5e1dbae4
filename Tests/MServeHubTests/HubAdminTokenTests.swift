import Foundation
import MServeHub
import MServeTestSupport
import MServeTesting
import Testing
import ZeroMQ

/// A hub without keys takes the commands that edit (ALLOW, REVOKE, ADDUSER, REMOVEUSER) only
/// with the admin token it writes to its directory, mode 0600; any other peer gets ERROR.
struct HubAdminTokenTests {
    static let key = String(repeating: "k", count: 40)
    static let digest = String(repeating: "a", count: 64)

    @Test func theTokenFileIsReadableByTheHubsUserOnly() async throws {
        try await HubFixture.with { fixture in
            let (hub, task) = try await fixture.startHub()
            defer { hub.stop() }
            let path = HubAdminToken.path(directory: fixture.directory)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let token = try #require(HubAdminToken.read(directory: fixture.directory))
            #expect(token.count == 64)
            hub.stop()
            try await task.value

            // A new token each start: one read before is worth nothing after.
            let (again, againTask) = try await fixture.startHub()
            #expect(HubAdminToken.read(directory: fixture.directory) != token)
            again.stop()
            try await againTask.value
        }
    }

    /// An admin token that is not a regular file (a FIFO in the hub directory) is no token,
    /// and is not waited on: a command that reads it goes on without it.
    @Test func aTokenThatIsNotARegularFileIsNotWaitedOn() throws {
        try withTemporaryDirectory("mserve-hub") { directory in
            #expect(mkfifo(HubAdminToken.path(directory: directory), 0o600) == 0)
            #expect(HubAdminToken.read(directory: directory) == nil)
        }
    }

    /// With keys only the hub's own key edits: the hub writes no token, and removes the one a
    /// run of the same directory without keys left.
    @Test func aHubWithKeysKeepsNoToken() async throws {
        try await HubFixture.with { fixture in
            var fixture = fixture
            let (plain, plainTask) = try await fixture.startHub()
            plain.stop()
            try await plainTask.value
            #expect(HubAdminToken.read(directory: fixture.directory) != nil)

            fixture.configuration.curve = try ZMQCurveKeyPair.generate()
            let (secured, securedTask) = try await fixture.startHub()
            #expect(!FileManager.default.fileExists(atPath: HubAdminToken.path(directory: fixture.directory)))
            secured.stop()
            try await securedTask.value
        }
    }

    @Test func aPeerWithoutTheTokenCannotEditAndTheOperatorCan() async throws {
        let recorder = LogRecorder()
        try await HubFixture.with { fixture in
            let (hub, task) = try await fixture.startHub(logger: recorder.logger(label: "hub"))
            defer { hub.stop() }
            var wrong = fixture.plainClient
            wrong.adminToken = String(repeating: "0", count: 64)
            // The refusal's code says which: a caller may act on it (`mserve hub allow` says where
            // it looked for a token it did not find).
            for (client, code) in [(fixture.plainClient, HubError.Code.adminTokenMissing), (wrong, .adminTokenWrong)] {
                let refusals: [(String, () async throws -> Void)] = [
                    ("ALLOW", { _ = try await client.allow(name: "x", key: Self.key) }),
                    ("REVOKE", { _ = try await client.revoke(name: "x") }),
                    ("ADDUSER", { _ = try await client.addUser(name: "mallory", digest: Self.digest) }),
                    ("REMOVEUSER", { _ = try await client.removeUser(name: "mallory") }),
                ]
                for (command, refused) in refusals {
                    await #expect {
                        try await refused()
                    } throws: { error in
                        guard let error = error as? HubError else { return false }
                        return error.code == code && error.message.contains(command) && error.message.contains("admin token")
                    }
                }
            }
            // Nothing changed; reading needs no token.
            #expect(try await fixture.plainClient.allowedKeys().isEmpty)
            #expect(try await fixture.plainClient.users().isEmpty)
            #expect(recorder.messages.contains { $0.hasPrefix("refused an admin command") })
            #expect(recorder.entries.contains { $0.metadata["door"] == "hub admin" && $0.metadata["command"] == "ALLOW" })

            // The operator, who can read the hub directory, edits.
            #expect(try await fixture.client.allow(name: "x", key: Self.key).map(\.name) == ["x"])
            #expect(try await fixture.client.addUser(name: "alice", digest: Self.digest).map(\.name) == ["alice"])
            #expect(try await fixture.client.removeUser(name: "alice").isEmpty)
            #expect(try await fixture.client.revoke(name: "x").isEmpty)
            hub.stop()
            try await task.value
        }
    }

    @Test func theAdministrativeCommandsAreTheOnesThatEdit() {
        #expect(HubCommand.administrative == [.allow, .revoke, .addUser, .removeUser])
        #expect(!HubCommand.register.isAdministrative)
    }
}
