import Foundation
import MServeTestSupport
import Testing

@testable import MServeHub

/// The lock a serving hub holds on its directory: `hub.lock`, a regular file of the directory's
/// own, never one a link leads to.
struct HubDirectoryLockTests {
    @Test func theLockFileNamesTheHolderAndIsEmptiedAtRelease() throws {
        try withTemporaryDirectory("mserve-hub-lock") { directory in
            let lock = try HubDirectoryLock(directory: directory, endpoint: "tcp://127.0.0.1:5560")
            #expect(try String(contentsOfFile: directory + "/hub.lock", encoding: .utf8) == "pid \(getpid()) serving tcp://127.0.0.1:5560\n")
            let error = #expect(throws: HubError.self) { _ = try HubDirectoryLock(directory: directory, endpoint: "tcp://127.0.0.1:5561") }
            #expect(error?.code == .directoryInUse)
            #expect(error?.message.contains("(pid \(getpid()) serving tcp://127.0.0.1:5560)") == true, "\(String(describing: error))")
            lock.release()
            #expect(try String(contentsOfFile: directory + "/hub.lock", encoding: .utf8) == "")
        }
    }

    /// A lock held on an empty file (its holder could not write its line: a full disk) is
    /// refused saying so and how to find the holder, not with an empty pair of parentheses.
    @Test func aLockHeldOnAnEmptyFileSaysHowToFindItsHolder() throws {
        try withTemporaryDirectory("mserve-hub-lock") { directory in
            let path = directory + "/hub.lock"
            #expect(FileManager.default.createFile(atPath: path, contents: Data(), attributes: [.posixPermissions: 0o644]))
            let held = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            try #require(held >= 0 && flock(held, LOCK_EX | LOCK_NB) == 0)
            defer { close(held) }
            let error = #expect(throws: HubError.self) { _ = try HubDirectoryLock(directory: directory, endpoint: "tcp://127.0.0.1:5560") }
            #expect(error?.code == .directoryInUse)
            #expect(
                error?.message == "the hub directory \(directory) is in use by another hub (its lock file names no process: "
                    + "a full disk keeps a hub from writing it; fuser or lsof on the file finds the holder); give each hub its own --dir",
                "\(String(describing: error))")
        }
    }

    /// A link in place of `hub.lock` (to a file of the hub's user elsewhere, or to nowhere) is
    /// refused: the hub neither writes the file it leads to nor creates one there. So is
    /// anything else that is not a regular file.
    @Test func aLockFileThatIsALinkOrNoRegularFileIsRefusedAndNothingIsWrittenThroughIt() throws {
        try withTemporaryDirectory("mserve-hub-lock") { directory in
            let target = directory + "/precious"
            try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: target))
            let lockPath = directory + "/hub.lock"
            let advice = "remove it, and the hub makes the file itself"
            for (leadsTo, exists) in [(target, true), (directory + "/nowhere", false)] {
                try FileManager.default.createSymbolicLink(atPath: lockPath, withDestinationPath: leadsTo)
                let error = #expect(throws: HubError.self) { _ = try HubDirectoryLock(directory: directory, endpoint: "tcp://127.0.0.1:5560") }
                #expect(
                    error?.message == "cannot use \(lockPath) as a lock file: it is a symbolic link, not a regular file; \(advice)",
                    "\(String(describing: error))")
                #expect(FileManager.default.fileExists(atPath: leadsTo) == exists)
                try FileManager.default.removeItem(atPath: lockPath)
            }
            #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me\n")

            // A hard link is another name of the file elsewhere: written through as well.
            #expect(link(target, lockPath) == 0)
            let hardLink = #expect(throws: HubError.self) { _ = try HubDirectoryLock(directory: directory, endpoint: "tcp://127.0.0.1:5560") }
            #expect(
                hardLink?.message
                    == "cannot use \(lockPath) as a lock file: it has 2 names (hard links), and a write would change the file under the others too; \(advice)",
                "\(String(describing: hardLink))")
            #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me\n")
            try FileManager.default.removeItem(atPath: lockPath)

            #expect(mkfifo(lockPath, 0o600) == 0)
            let fifo = #expect(throws: HubError.self) { _ = try HubDirectoryLock(directory: directory, endpoint: "tcp://127.0.0.1:5560") }
            #expect(
                fifo?.message == "cannot use \(lockPath) as a lock file: it is a FIFO (named pipe), not a regular file; \(advice)",
                "\(String(describing: fifo))")
        }
    }

    /// The lock files of the hub directory: the hub's lock, and the lock its processes take
    /// turns with to make the database's tables.
    static let lockFiles = ["hub.lock", "hub.schema.lock"]

    /// Opens the lock file `name` of `directory` as a starting hub does.
    static func open(_ name: String, in directory: String) throws {
        if name == "hub.lock" {
            _ = try HubDirectoryLock(directory: directory, endpoint: "tcp://127.0.0.1:5560")
        } else {
            _ = try HubDatabase(directory: directory)
        }
    }

    /// A lock file of this user's own whose mode keeps this user from writing it: refused
    /// naming its owner and mode, and the fix, not with a bare "Permission denied". Root opens
    /// a file of any mode: there, the immutable-flag test below stands in.
    @Test(.enabled(if: geteuid() != 0, "root opens a file of any mode for writing"))
    func aLockFileWhoseModeKeepsTheHubOutIsRefusedSayingWhatToChange() throws {
        let user = ProcessStart.userName
        for name in Self.lockFiles {
            try withTemporaryDirectory("mserve-hub-lock") { directory in
                let path = directory + "/" + name
                #expect(FileManager.default.createFile(atPath: path, contents: Data(), attributes: [.posixPermissions: 0o444]))
                let error = #expect(throws: HubError.self) { try Self.open(name, in: directory) }
                #expect(
                    error?.message
                        == "cannot use \(path) as a lock file: Permission denied (owned by \(user), mode 0444; this hub runs as "
                        + "user \(user)): run chmod u+w \(path), or remove it, and the hub makes the file itself",
                    "\(String(describing: error))")
            }
        }
    }

    /// An immutable lock file, which even root may not open for writing (nor remove): refused
    /// saying how to make it writable again.
    @Test(
        .enabled(
            if: UnwritableHubDirectoryTests.immutableDirectoriesCanBeMade, "needs root and a file system that takes chattr +i"))
    func anImmutableLockFileIsRefusedSayingSo() throws {
        for name in Self.lockFiles {
            try withTemporaryDirectory("mserve-hub-lock") { directory in
                let path = directory + "/" + name
                #expect(FileManager.default.createFile(atPath: path, contents: Data(), attributes: [.posixPermissions: 0o600]))
                #expect(UnwritableHubDirectoryTests.chattr("+i", path))
                defer { UnwritableHubDirectoryTests.chattr("-i", path) }
                let error = #expect(throws: HubError.self) { try Self.open(name, in: directory) }
                #expect(
                    error?.message
                        == "cannot use \(path) as a lock file: Operation not permitted, as for an immutable file "
                        + "(lsattr \(path) shows an i): run chattr -i \(path)",
                    "\(String(describing: error))")
            }
        }
    }

    /// What each reason and file a lock file cannot be opened for says; another user's file
    /// (root's, left by a hub once run as root) cannot be made here without being root.
    @Test func eachLockFileRefusalSaysWhatToChange() {
        typealias User = HubDirectoryLock.FileUser
        let path = "/srv/hub/hub.lock"
        let alice = User(id: 1000, name: "alice")
        let remove = "remove it, and the hub makes the file itself"
        func message(_ errorNumber: Int32, owner: User?, permissions: UInt32?) -> String {
            HubDirectoryLock.unwritableLockFile(path, errorNumber: errorNumber, owner: owner, permissions: permissions, user: alice)
                .message
        }
        let denied = "cannot use /srv/hub/hub.lock as a lock file: Permission denied"
        #expect(
            message(EACCES, owner: User(id: 0, name: "root"), permissions: 0o644)
                == "\(denied) (owned by root, mode 0644; this hub runs as user alice): "
                + "give the file to the hub's user (chown alice /srv/hub/hub.lock, as root), or \(remove)")
        #expect(
            message(EACCES, owner: User(id: 1234, name: nil), permissions: 0o600)
                == "\(denied) (owned by uid 1234, mode 0600; this hub runs as user alice): "
                + "give the file to the hub's user (chown alice /srv/hub/hub.lock, as root), or \(remove)")
        #expect(
            message(EACCES, owner: alice, permissions: 0o444)
                == "\(denied) (owned by alice, mode 0444; this hub runs as user alice): run chmod u+w /srv/hub/hub.lock, or \(remove)")
        // Its own, and writable by its mode: something else keeps it out (an access control list).
        #expect(message(EACCES, owner: alice, permissions: 0o644) == "\(denied) (owned by alice, mode 0644; this hub runs as user alice): \(remove)")
        #expect(
            message(EACCES, owner: nil, permissions: nil)
                == "\(denied) (this hub runs as user alice): give the file to the hub's user (chown alice /srv/hub/hub.lock, as root), or \(remove)")
        #expect(
            HubDirectoryLock.unwritableLockFile(
                path, errorNumber: EACCES, owner: User(id: 0, name: "root"), permissions: 0o644, user: User(id: 1000, name: nil)
            ).message.hasSuffix("(owned by root, mode 0644; this hub runs as uid 1000): give the file to the hub's user (chown 1000 /srv/hub/hub.lock, as root), or \(remove)"))
        #expect(
            message(EPERM, owner: alice, permissions: 0o644)
                == "cannot use /srv/hub/hub.lock as a lock file: Operation not permitted, as for an immutable file "
                + "(lsattr /srv/hub/hub.lock shows an i): run chattr -i /srv/hub/hub.lock")
    }
}
