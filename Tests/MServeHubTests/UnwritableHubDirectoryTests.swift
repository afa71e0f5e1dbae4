// A hub directory this hub's user may not write is refused naming the directory, the user and
// what to change, not with a lock file's or SQLite's bare "Permission denied".

import Foundation
import MServeTestSupport
import Testing

@testable import MServeHub

@Suite("An unwritable hub directory")
struct UnwritableHubDirectoryTests {
    static let settings = HubConfiguration.serveDirectorySettings

    /// A directory of this user's own whose mode keeps this user from making files in it.
    /// Root makes files whatever the mode: there, the immutable-flag test below stands in.
    @Test(.enabled(if: geteuid() != 0, "root makes files in a directory of any mode"))
    func aDirectoryWhoseModeKeepsItsOwnerOutIsRefusedSayingSo() throws {
        try withTemporaryDirectory("mserve-hub-readonly") { temporary in
            let parent = URL(fileURLWithPath: temporary).resolvingSymlinksInPath().path
            let directory = parent + "/hub"
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o500])
            defer { chmod(directory, 0o700) }
            let error = #expect(throws: HubError.self) { _ = try HubDatabase(directory: directory) }
            #expect(
                error?.message
                    == "the hub directory \(directory) is not writable by this hub's user (uid \(geteuid())): its mode is 0500; "
                    + "the hub makes its database, lock files and admin token there: run chmod 700 \(directory), "
                    + "or give another with \(Self.settings)",
                "\(String(describing: error))")
        }
    }

    /// Whether this file system takes `chattr +i` from this process (root, on ext4, xfs, tmpfs
    /// and the like): an immutable directory is one even root may not add a file to.
    static let immutableDirectoriesCanBeMade: Bool = {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/chattr") else { return false }
        let directory = NSTemporaryDirectory() + "/mserve-hub-chattr-\(getpid())"
        guard (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)) != nil
        else { return false }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        guard chattr("+i", directory) else { return false }
        return chattr("-i", directory)
    }()

    @discardableResult
    static func chattr(_ flag: String, _ path: String) -> Bool {
        guard
            let process = try? SpawnedProcess(
                executable: URL(fileURLWithPath: "/usr/bin/chattr"), arguments: [flag, path],
                environment: ProcessInfo.processInfo.environment)
        else { return false }
        process.waitUntilExit()
        return process.exitCode == 0
    }

    /// A fresh directory, and one holding a database, that this user (root too) may not write:
    /// refused before any file of the hub is made or opened.
    @Test(.enabled(if: immutableDirectoriesCanBeMade, "needs root and a file system that takes chattr +i"))
    func anImmutableDirectoryIsRefusedSayingSo() throws {
        try withTemporaryDirectory("mserve-hub-immutable") { temporary in
            let parent = URL(fileURLWithPath: temporary).resolvingSymlinksInPath().path
            let fresh = parent + "/fresh"
            let holding = parent + "/holding"
            for directory in [fresh, holding] {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            }
            _ = try HubDatabase(directory: holding)
            for directory in [fresh, holding] { #expect(Self.chattr("+i", directory)) }
            defer { for directory in [fresh, holding] { Self.chattr("-i", directory) } }
            for directory in [fresh, holding] {
                let error = #expect(throws: HubError.self) { _ = try HubDatabase(directory: directory) }
                #expect(
                    error?.message
                        == "the hub directory \(directory) is not writable by this hub's user (uid \(geteuid())): "
                        + "Operation not permitted, as for an immutable directory (lsattr -d \(directory) shows an i); "
                        + "the hub makes its database, lock files and admin token there: run chattr -i \(directory), "
                        + "or give another with \(Self.settings)",
                    "\(String(describing: error))")
            }
            #expect(!FileManager.default.fileExists(atPath: fresh + "/hub.schema.lock"))
        }
    }

    /// What each reason the system gives says; a read-only file system cannot be made here
    /// without mounting one.
    @Test func eachReasonSaysWhatToChange() {
        let directory = "/srv/hub"
        let user = "this hub's user (uid \(geteuid()))"
        let said = "the hub makes its database, lock files and admin token there"
        #expect(
            HubDatabase.unwritableDirectory(directory, errorNumber: EACCES, permissions: 0o555, settings: Self.settings).message
                == "the hub directory /srv/hub is not writable by \(user): its mode is 0555; \(said): "
                + "run chmod 700 /srv/hub, or give another with --dir or MSERVE_HUB_DIR")
        #expect(
            HubDatabase.unwritableDirectory(directory, errorNumber: EROFS, permissions: 0o700, settings: "MSERVE_HUB_DIR").message
                == "the hub directory /srv/hub is not writable by \(user): it is on a read-only file system; \(said): "
                + "give one on a writable file system with MSERVE_HUB_DIR")
    }

    /// SQLite's read-only refusal at the open (`SQLite error 8`), when the checks before it
    /// passed (a file changed between them, an access control list): named with what to change.
    @Test func aDatabaseSQLiteFindsReadOnlySaysWhoMayNotWriteWhat() {
        let sqlite = "SQLite error 8: attempt to write a readonly database - while executing `PRAGMA synchronous = NORMAL`"
        let error = HubDatabase.readOnlyDatabase("/srv/hub/hub.sqlite", in: "/srv/hub", sqlite, settings: Self.settings)
        #expect(
            error.message
                == "cannot open the hub database /srv/hub/hub.sqlite: \(sqlite): this hub's user (uid \(geteuid())) may not "
                + "write the hub directory /srv/hub, or /srv/hub/hub.sqlite, /srv/hub/hub.sqlite-wal or /srv/hub/hub.sqlite-shm "
                + "in it: make them this user's own and writable (chmod 700 /srv/hub; chmod 600 /srv/hub/hub.sqlite*), "
                + "or give another directory with --dir or MSERVE_HUB_DIR")
    }
}
