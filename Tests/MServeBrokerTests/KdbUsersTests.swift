import Foundation
import MServePasswords
import POSIXFiles
import Testing

@testable import MServeBroker

/// A kdb+ `-u` style users file: plain-text passwords compared as they are, 40- and 64-digit
/// hex lines as the SHA-1 and SHA-256 of the password.
struct KdbUsersTests {
    static let sha1OfSecret = "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"
    static let sha256OfSecret = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
    let users: KdbUsers

    init() throws {
        users = try KdbUsers(
            parsing: """
                / plain, SHA-1 and SHA-256 of "secret"
                alice:wonderland
                bob:E5E9FA1BA31ECD1AE84F75CAAA474F3A663F05F4

                carol:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b
                dave:cafe
                """)
    }

    @Test func acceptsPlainAndDigestPasswords() {
        #expect(users.accepts(user: "alice", password: "wonderland"))
        #expect(users.accepts(user: "bob", password: "secret"))
        #expect(users.accepts(user: "carol", password: "secret"))
        // Hex of another length is a plain password, as kdb+ reads it.
        #expect(users.accepts(user: "dave", password: "cafe"))
    }

    /// Whoever can read the file learns the digest, not the password: the digest itself does
    /// not log in.
    @Test func aDigestLineRefusesTheDigestItself() {
        #expect(!users.accepts(user: "bob", password: Self.sha1OfSecret))
        #expect(!users.accepts(user: "bob", password: Self.sha1OfSecret.uppercased()))
        #expect(!users.accepts(user: "carol", password: Self.sha256OfSecret))
    }

    @Test func refusesWrongPasswordsAndUnknownUsers() {
        #expect(!users.accepts(user: "alice", password: "secret"))
        #expect(!users.accepts(user: "alice", password: "wonderlan"))
        #expect(!users.accepts(user: "bob", password: "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f5"))
        #expect(!users.accepts(user: "mallory", password: "secret"))
        #expect(!users.accepts(user: "", password: ""))
    }

    @Test func linesAreReadAsDigestsOrPlainText() {
        #expect(users.passwords["alice"] == .plain("wonderland"))
        #expect(users.passwords["bob"] == .sha1(PasswordDigest.sha1(Array("secret".utf8))))
        #expect(users.passwords["carol"] == .sha256(PasswordDigest.sha256(Array("secret".utf8))))
    }

    /// The hub's text: a slow hash, or a digest from an older hub; never a plain password.
    @Test func hubTextIsAHashOrADigest() throws {
        let hash = PasswordHash(password: "secret", rounds: PasswordHash.roundsAllowed.lowerBound)
        let stored = try #require(StoredPassword(hubText: hash.description))
        #expect(stored == .hashed(hash))
        #expect(stored.isSlow)
        #expect(stored.verifies(password: "secret"))
        #expect(StoredPassword(hubText: Self.sha1OfSecret)?.verifies(password: "secret") == true)
        #expect(StoredPassword(hubText: "wonderland") == nil)
    }

    @Test func aLineWithoutAUserIsAnError() {
        #expect(throws: BrokerError.self) { try KdbUsers(parsing: ":nouser") }
    }
}

/// The users file on disk: read only when no other user may read or change it.
struct KdbUsersFileTests {
    private func withUsersFile(mode: UInt32, _ body: (String) throws -> Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mserve-users-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data("alice:wonderland\n".utf8)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.setAttributes([.posixPermissions: Int(mode)], ofItemAtPath: path)
        try body(path)
    }

    @Test func aFileOnlyItsOwnerMayUseIsRead() throws {
        try withUsersFile(mode: 0o600) { (path: String) throws in
            let users = try KdbUsers(contentsOf: path)
            #expect(users.accepts(user: "alice", password: "wonderland"))
        }
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o620, 0o602, 0o660])
    func aFileOthersMayReadOrChangeIsRefused(mode: UInt32) throws {
        try withUsersFile(mode: mode) { path in
            let error = #expect(throws: BrokerError.self) { try KdbUsers(contentsOf: path) }
            #expect(error?.code == .configuration)
            #expect(error?.message.contains("chmod 600 \(path)") == true, "\(String(describing: error))")
            // It says who may do what: for 0602, that other users may write it, not read it.
            #expect(
                error?.message.contains("has mode \(POSIXFile.octal(mode)), so \(POSIXFile.exposure(mode)) (") == true,
                "\(String(describing: error))")
        }
    }

    /// A FIFO of mode 0600 passes the mode check but holds no file: it is refused at once,
    /// never waited on (a FIFO without a writer would block the broker's start for ever).
    @Test func aFileThatIsNotARegularFileIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mserve-users-\(UUID().uuidString)").path
        #expect(mkfifo(path, 0o600) == 0)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: BrokerError.self) { try KdbUsers(contentsOf: path) }
        #expect(error?.code == .configuration)
        #expect(error?.message == "cannot read the users file \(path): it is a FIFO (named pipe), not a regular file")
    }
}
