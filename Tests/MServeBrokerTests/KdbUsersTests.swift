import Foundation
import MServePasswords
import MServeTestSupport
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

/// The users file on disk: read only when no other user may read or change it, nor put another
/// file in its place.
struct KdbUsersFileTests {
    /// Runs `body` with a users file of mode `mode` in a new directory of this user's alone.
    private func withUsersFile(mode: UInt32, _ body: (String) throws -> Void) throws {
        try withTemporaryDirectory("mserve-users") { directory in
            let path = directory + "/users"
            #expect(FileManager.default.createFile(atPath: path, contents: Data("alice:wonderland\n".utf8)))
            try FileManager.default.setAttributes([.posixPermissions: Int(mode)], ofItemAtPath: path)
            try body(path)
        }
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

    /// The file's owner may rewrite it (and change its mode), and whoever may write its
    /// directory may put a file of their own in its place: either could add a kdb+ user. As
    /// for plugin files and the key directory, the file and its directory must belong to root
    /// or the broker's user, and the directory must not be writable by its group or others,
    /// a sticky one such as /tmp included.
    @Test func aFileOrDirectoryOthersControlIsRefused() throws {
        try withUsersFile(mode: 0o600) { (path: String) throws in
            let directory = (path as NSString).deletingLastPathComponent
            func refusal() -> String? {
                (#expect(throws: BrokerError.self) { try KdbUsers(contentsOf: path) })?.message
            }
            #expect(chmod(directory, 0o777) == 0)
            let writable = refusal()
            #expect(
                writable == "the directory \(directory) of the users file \(path) has mode 0777, so its group may read, "
                    + "write and execute it and other users may read, write and execute it: whoever may write it could put "
                    + "a users file of their own in its place (and add a kdb+ user); run chmod go-w \(directory)",
                "\(String(describing: writable))")
            // A sticky directory, as /tmp is, is refused too: others may still add a file to it.
            #expect(chmod(directory, 0o1777) == 0)
            let sticky = refusal()
            #expect(sticky?.contains("the directory \(directory) of the users file \(path) has mode 1777") == true)
            #expect(
                sticky?.contains("it is a shared directory (sticky, as /tmp is), so leave its mode and move the file") == true,
                "\(String(describing: sticky))")
            #expect(chmod(directory, 0o700) == 0)

            if geteuid() == 0 {
                #expect(chown(path, 65_534, 65_534) == 0)
                let theirs = refusal()
                #expect(
                    theirs == "the users file \(path) belongs to uid 65534, who could add a kdb+ user (and read the "
                        + "passwords): it must belong to root; run chown 0 \(path) (as root), or give a users file of "
                        + "this user's own",
                    "\(String(describing: theirs))")
                #expect(chown(path, 0, 0) == 0)
                #expect(chown(directory, 65_534, 65_534) == 0)
                let theirDirectory = refusal()
                #expect(
                    theirDirectory?.hasPrefix("the directory \(directory) of the users file \(path) belongs to uid 65534") == true,
                    "\(String(describing: theirDirectory))")
                #expect(chown(directory, 0, 0) == 0)
            }
            #expect(try KdbUsers(contentsOf: path).accepts(user: "alice", password: "wonderland"))
        }
    }

    /// A users file given as a symbolic link is judged by the file it leads to and that file's
    /// directory, and named in messages as given, with the file it leads to.
    @Test func aLinkIsJudgedByTheFileItLeadsTo() throws {
        try withUsersFile(mode: 0o600) { (path: String) throws in
            let directory = (path as NSString).deletingLastPathComponent
            try withTemporaryDirectory("mserve-users-link") { (linkDirectory: String) throws in
                let link = linkDirectory + "/users"
                try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
                #expect(try KdbUsers(contentsOf: link).accepts(user: "alice", password: "wonderland"))
                // A mode others may read, judged on the file the link leads to.
                #expect(chmod(path, 0o644) == 0)
                let modeError = #expect(throws: BrokerError.self) { try KdbUsers(contentsOf: link) }
                #expect(
                    modeError?.message.hasPrefix("the users file \(link) (a link to \(path)) has mode 0644") == true,
                    "\(String(describing: modeError))")
                #expect(chmod(path, 0o600) == 0)
                #expect(chmod(directory, 0o777) == 0)
                defer { chmod(directory, 0o700) }
                let error = #expect(throws: BrokerError.self) { try KdbUsers(contentsOf: link) }
                #expect(
                    error?.message.hasPrefix(
                        "the directory \(directory) of the users file \(link) (a link to \(path)) has mode 0777") == true,
                    "\(String(describing: error))")
                // Whoever may write the link's own directory could point it at another file.
                #expect(chmod(directory, 0o700) == 0)
                #expect(chmod(linkDirectory, 0o777) == 0)
                defer { chmod(linkDirectory, 0o700) }
                let linkError = #expect(throws: BrokerError.self) { try KdbUsers(contentsOf: link) }
                #expect(
                    linkError?.message.hasPrefix(
                        "the directory \(linkDirectory) of the link \(link) to the users file \(path) has mode 0777") == true,
                    "\(String(describing: linkError))")
            }
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
