import Foundation
import MServeHub
import MServeTestSupport
import QData
import Synchronization
import Testing

/// The hub's tables as q values: what a spoke says of itself is shown, never trusted to be
/// in range.
struct HubDatabaseTests {
    private static func registration(startTime: Int64) -> SpokeRegistration {
        SpokeRegistration(
            pid: 1, port: 5001, threads: 1, address: "127.0.0.1", host: "localhost", user: "q",
            commandLine: "q", startTime: startTime, version: "4.1", buildDate: 0, directory: "/",
            service: "default", role: "servant", endpoint: "tcp://127.0.0.1:5001")
    }

    private static func column(_ table: QTable, _ name: String) -> QValue? {
        table.columns.firstIndex(of: name).map { table.values[$0] }
    }

    @Test func aStartTimeThatGivesNoUpTimeShowsANullNotATrap() throws {
        try withTemporaryDirectory("mserve-hub") { temporary in
            let directory = temporary + "/hub"
            let database = try HubDatabase(directory: directory)
            let now: Int64 = 1_000_000_000_000
            let null = try database.register(Self.registration(startTime: .min), endpoint: "tcp://127.0.0.1:5001", at: now)
            let far = try database.register(Self.registration(startTime: -.max + 1), endpoint: "tcp://127.0.0.1:5002", at: now)
            let fine = try database.register(Self.registration(startTime: now - 5), endpoint: "tcp://127.0.0.1:5003", at: now)

            let spoke = try database.table("spoke", now: now)
            let ids = try #require(Self.column(spoke, "id"))
            guard case .vector(.long(let order), _) = ids, case .vector(.timespan(let up), _)? = Self.column(spoke, "up") else {
                Issue.record("no id and up columns in \(spoke)")
                return
            }
            let upByID = Dictionary(uniqueKeysWithValues: zip(order, up))
            #expect(upByID == [null: .min, far: .min, fine: 5])

            // In `down`, up runs until the spoke was last heard: the same rule there.
            try database.markDown(spoke: far, crash: now, reason: "test")
            let down = try database.table("down", now: now)
            guard case .vector(.timespan(let downUp), _)? = Self.column(down, "up") else {
                Issue.record("no up column in \(down)")
                return
            }
            #expect(downUp == [.min])
        }
    }

    @Test func memoryStatsAreKeptInTheOrderHeardWhenTheClockStepsBack() throws {
        try withTemporaryDirectory("mserve-hub") { temporary in
            let directory = temporary + "/hub"
            let database = try HubDatabase(directory: directory)
            let now: Int64 = 1_000_000_000_000
            let id = try database.register(Self.registration(startTime: now), endpoint: "tcp://127.0.0.1:5001", at: now)
            // Heard at 10, 20, 30, then the wall clock steps back an hour: 5 and 6 are the newest.
            for (used, time) in [(1, 10), (2, 20), (3, 30), (4, 5), (5, 6)] as [(Int64, Int64)] {
                try database.heard(
                    spoke: id, at: now + time, memory: MemoryStats(used: used, heap: 0, peak: 0, rss: 0), keep: 3)
            }
            let memst = try database.table("memst", now: now)
            guard case .vector(.long(let used), _)? = Self.column(memst, "used") else {
                Issue.record("no used column in \(memst)")
                return
            }
            #expect(used == [3, 4, 5])

            // The crash report carries the last stats heard, not the latest by the clock.
            try database.markDown(spoke: id, crash: now + 7, reason: "test")
            let down = try database.table("down", now: now)
            guard case .vector(.long(let downUsed), _)? = Self.column(down, "used") else {
                Issue.record("no used column in \(down)")
                return
            }
            #expect(downUsed == [5])
        }
    }

    /// Heartbeats stored together, as the hub stores those heard between two scans: each
    /// spoke's last `heard` time, its newest stats kept up to the limit, and nothing for a
    /// spoke no longer in the table.
    @Test func heartbeatsStoredTogetherKeepEachSpokesNewestStats() throws {
        try withTemporaryDirectory("mserve-hub") { temporary in
            let database = try HubDatabase(directory: temporary + "/hub")
            let now: Int64 = 1_000_000_000_000
            let first = try database.register(Self.registration(startTime: now), endpoint: "tcp://127.0.0.1:5001", at: now)
            let second = try database.register(Self.registration(startTime: now), endpoint: "tcp://127.0.0.1:5002", at: now)
            let gone = try database.register(Self.registration(startTime: now), endpoint: "tcp://127.0.0.1:5003", at: now)
            try database.remove(spoke: gone)
            func stats(_ used: Int64) -> MemoryStats { MemoryStats(used: used, heap: 0, peak: 0, rss: 0) }
            try database.heard(
                [
                    HeardSpoke(id: first, time: now + 1, memory: stats(11)),
                    HeardSpoke(id: second, time: now + 2, memory: stats(21)),
                    HeardSpoke(id: first, time: now + 3, memory: stats(12)),
                    HeardSpoke(id: gone, time: now + 4, memory: stats(99)),
                    HeardSpoke(id: first, time: now + 5, memory: stats(13)),
                    HeardSpoke(id: second, time: now + 6, memory: nil),
                ], keep: 2)
            let memst = try database.table("memst", now: now)
            guard case .vector(.long(let spokes), _)? = Self.column(memst, "spoke"),
                case .vector(.long(let used), _)? = Self.column(memst, "used")
            else {
                Issue.record("no spoke and used columns in \(memst)")
                return
            }
            #expect(Array(zip(spokes, used)).map { "\($0.0):\($0.1)" } == ["\(second):21", "\(first):12", "\(first):13"])
            let spoke = try database.table("spoke", now: now)
            guard case .vector(.long(let ids), _)? = Self.column(spoke, "id"),
                case .vector(.timestamp(let heard), _)? = Self.column(spoke, "heard")
            else {
                Issue.record("no id and heard columns in \(spoke)")
                return
            }
            #expect(Dictionary(uniqueKeysWithValues: zip(ids, heard)) == [first: now + 5, second: now + 6])
        }
    }

    @Test func onlyTheNewestCrashReportsAreKept() throws {
        try withTemporaryDirectory("mserve-hub") { temporary in
            let directory = temporary + "/hub"
            let database = try HubDatabase(directory: directory)
            let now: Int64 = 1_000_000_000_000
            var ids: [Int64] = []
            for port in 5001...5005 {
                var registration = Self.registration(startTime: now)
                registration.session = "session-\(port)"
                let id = try database.register(registration, endpoint: "tcp://127.0.0.1:\(port)", at: now)
                ids.append(id)
                try database.markDown(spoke: id, crash: now + Int64(port), reason: "test", keep: 3)
            }
            let down = try database.table("down", now: now)
            guard case .vector(.long(let spokes), _)? = Self.column(down, "spoke") else {
                Issue.record("no spoke column in \(down)")
                return
            }
            #expect(spokes == Array(ids.suffix(3)))
        }
    }

    /// A crash report the hub wrote for a spoke's silence alone is amended when the same
    /// process (its session, with the same key) registers again: it had not stopped. A report
    /// a spoke's own sidecar gave, another process's, or one amended already, is left alone.
    @Test func aCrashReportForSilenceIsAmendedWhenTheSameProcessRegistersAgain() throws {
        try withTemporaryDirectory("mserve-hub") { temporary in
            let database = try HubDatabase(directory: temporary + "/hub")
            let now: Int64 = 1_000_000_000_000
            func registered(_ session: String, key: String? = nil) throws -> Int64 {
                var registration = Self.registration(startTime: now)
                registration.session = session
                registration.curveKey = key
                return try database.register(registration, endpoint: "tcp://127.0.0.1:5001", at: now)
            }
            func reason(of spoke: Int64) throws -> String? {
                try database.recentCrashes(limit: 100).first { $0.spoke == spoke }?.reason
            }
            let cut = try registered("cut")
            try database.markDown(spoke: cut, crash: now, reason: "missed heartbeats")
            let sidecar = try registered("sidecar")
            try database.markDown(spoke: sidecar, crash: now, reason: "the q process stopped accepting connections")
            let keyed = try registered("keyed", key: "key-a")
            try database.markDown(spoke: keyed, crash: now, reason: "not heard from after a hub restart")

            let back = try registered("cut")
            #expect(try database.amendCrashReport(ofSession: "cut", curveKey: nil, registeredAgainAs: back) == cut)
            #expect(
                try reason(of: cut)
                    == "missed heartbeats; the same process registered again as spoke \(back): not a crash (cut from the hub, or paused)")
            // Once only: the report says so already.
            #expect(try database.amendCrashReport(ofSession: "cut", curveKey: nil, registeredAgainAs: back) == nil)
            #expect(try database.amendCrashReport(ofSession: "sidecar", curveKey: nil, registeredAgainAs: back) == nil)
            #expect(try reason(of: sidecar) == "the q process stopped accepting connections")
            // Another key naming the session is not that process.
            #expect(try database.amendCrashReport(ofSession: "keyed", curveKey: "key-b", registeredAgainAs: back) == nil)
            #expect(try reason(of: keyed) == "not heard from after a hub restart")
            #expect(try database.amendCrashReport(ofSession: "keyed", curveKey: "key-a", registeredAgainAs: back) == keyed)
            #expect(try database.amendCrashReport(ofSession: "never", curveKey: nil, registeredAgainAs: back) == nil)
        }
    }

    /// Processes racing for the hub in auto mode open its database at once: on a fresh directory
    /// each must find the tables made, none fail on `table spoke already exists`.
    @Test func hubsOpeningAFreshDirectoryAtOnceAllOpenIt() throws {
        for _ in 0..<5 {
            try withTemporaryDirectory("mserve-hub-race") { temporary in
                let directory = temporary + "/hub"
                let failures = Mutex<[String]>([])
                DispatchQueue.concurrentPerform(iterations: 4) { _ in
                    do {
                        _ = try HubDatabase(directory: directory)
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
                #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
            }
        }
    }

    /// An existing file that is no directory is named as that; a path below a file cannot be
    /// made, with the system's reason.
    @Test func aDirectoryThatCannotBeMadeIsNamedWithTheSystemsReason() throws {
        try withTemporaryDirectory("mserve-hub-file") { temporary in
            let file = temporary + "/file"
            #expect(FileManager.default.createFile(atPath: file, contents: Data()))
            let error = #expect(throws: HubError.self) { try HubDatabase(directory: file) }
            #expect(
                error?.message
                    == "the hub directory \(file) is not a directory: give --dir or MSERVE_HUB_DIR a directory, or a path "
                    + "where the hub may create one")
            #expect(error?.code == .directoryRefused)
            let below = #expect(throws: HubError.self) { try HubDatabase(directory: file + "/hub") }
            #expect(
                below?.message
                    == "cannot create the hub directory \(file)/hub: Not a directory; give another with --dir or MSERVE_HUB_DIR")
            // A broker or servant serving the hub in auto mode has no --dir.
            let auto = #expect(throws: HubError.self) { try HubDatabase(directory: file + "/hub", settings: "MSERVE_HUB_DIR") }
            #expect(auto?.message == "cannot create the hub directory \(file)/hub: Not a directory; give another with MSERVE_HUB_DIR")
        }
    }

    /// A database with a damaged page would fail the hub's writes for as long as it runs: it
    /// is refused at the start, naming the file and what to do.
    @Test func aDamagedDatabaseIsRefusedSayingWhatToDo() throws {
        try withTemporaryDirectory("mserve-hub-damaged") { temporary in
            let directory = temporary + "/hub"
            do {
                let database = try HubDatabase(directory: directory)
                _ = try database.register(Self.registration(startTime: 0), endpoint: "tcp://127.0.0.1:5001", at: 1)
            }
            let path = directory + "/hub.sqlite"
            let file = try #require(FileHandle(forUpdatingAtPath: path))
            try file.seek(toOffset: 4 * 4096)
            try file.write(contentsOf: Data(repeating: 0xFF, count: 4096))
            try file.close()
            let error = #expect(throws: HubError.self) { _ = try HubDatabase(directory: directory) }
            #expect(error?.code == .database)
            let message = error?.message ?? ""
            #expect(message.hasPrefix("the hub database \(path) is damaged (SQLite's quick_check: "), "\(message)")
            #expect(message.contains("move it aside (with \(path)-wal and \(path)-shm, if there)"), "\(message)")
            #expect(message.contains("every live spoke registers again"), "\(message)")

            // Garbage where the database should be is the same.
            try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
            let notADatabase = #expect(throws: HubError.self) { _ = try HubDatabase(directory: directory) }
            #expect(notADatabase?.message.hasPrefix("the hub database \(path) is damaged") == true, "\(String(describing: notADatabase))")
        }
    }

    /// SQLite takes a file of 0 bytes for a new database: the hub would make new tables there,
    /// its allowed keys and kdb+ users gone without a word. The hub writes its tables as it
    /// makes the file, so an empty one is refused as damaged, and left as it is.
    @Test func anEmptyDatabaseFileIsRefusedAsDamagedNotTakenForANewOne() throws {
        try withTemporaryDirectory("mserve-hub-empty") { temporary in
            let directory = temporary + "/hub"
            do {
                let database = try HubDatabase(directory: directory)
                try database.addUser(name: "alice", hash: String(repeating: "ab", count: 32), at: 1)
            }
            let path = directory + "/hub.sqlite"
            try Data().write(to: URL(fileURLWithPath: path))
            let error = #expect(throws: HubError.self) { _ = try HubDatabase(directory: directory) }
            #expect(error?.code == .database)
            let message = error?.message ?? ""
            #expect(
                message.hasPrefix(
                    "the hub database \(path) is damaged (the file is empty, 0 bytes, as an interrupted copy or restore leaves it): "
                        + "move it aside (with \(path)-wal and \(path)-shm, if there), e.g. mv \(path) \(path).damaged;"),
                "\(message)")
            #expect(message.hasSuffix("must be added again (mserve hub allow, mserve hub user add), or restored from a backup of \(path)"), "\(message)")
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == 0, "the refused file is left as it was")

            // Moved aside, the hub makes new tables.
            try FileManager.default.moveItem(atPath: path, toPath: path + ".damaged")
            #expect(try HubDatabase(directory: directory).users().isEmpty)
        }
    }

    /// SQLite follows a link and writes where it leads, and names a FIFO or a directory only
    /// as an I/O error: each database file that is there must be a regular file the hub may
    /// write, or the hub says what it is.
    @Test func databaseFilesThatAreNotRegularFilesAreRefusedSayingWhatTheyAre() throws {
        try withTemporaryDirectory("mserve-hub-files") { parent in
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            let elsewhere = parent + "/elsewhere"
            #expect(FileManager.default.createFile(atPath: elsewhere, contents: Data(), attributes: [.posixPermissions: 0o644]))
            let advice = "the hub keeps its database there and follows no link: move it out of the hub directory, and the hub makes the file"
            let cases: [(name: String, make: (String) throws -> Void, says: String)] = [
                ("hub.sqlite", { try FileManager.default.createSymbolicLink(atPath: $0, withDestinationPath: elsewhere) }, "it is a symbolic link, not a regular file"),
                ("hub.sqlite", { try FileManager.default.createSymbolicLink(atPath: $0, withDestinationPath: parent + "/missing") }, "it is a symbolic link, not a regular file"),
                ("hub.sqlite-wal", { try FileManager.default.createSymbolicLink(atPath: $0, withDestinationPath: elsewhere) }, "it is a symbolic link, not a regular file"),
                ("hub.sqlite", { #expect(mkfifo($0, 0o600) == 0) }, "it is a FIFO (named pipe), not a regular file"),
                ("hub.sqlite", { try FileManager.default.createDirectory(atPath: $0, withIntermediateDirectories: false) }, "it is a directory, not a regular file"),
            ]
            for (index, (name, make, says)) in cases.enumerated() {
                let directory = parent + "/hub\(index)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                let file = directory + "/" + name
                try make(file)
                let error = #expect(throws: HubError.self) { _ = try HubDatabase(directory: directory) }
                #expect(error?.message == "cannot write the hub database \(file): \(says); \(advice)", "\(String(describing: error))")
            }
            // Nothing was written through a link: the file it led to is as it was, and none was made.
            #expect(try FileManager.default.attributesOfItem(atPath: elsewhere)[.size] as? Int == 0)
            #expect((try FileManager.default.attributesOfItem(atPath: elsewhere)[.posixPermissions] as? NSNumber)?.intValue == 0o644)
            #expect(!FileManager.default.fileExists(atPath: parent + "/missing"))

            // A file the hub may not write (an immutable one says "Operation not permitted"): the
            // system's reason, plainly. Root writes any mode: there, only the link cases apply.
            if geteuid() != 0 {
                let directory = parent + "/readonly"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                #expect(FileManager.default.createFile(atPath: directory + "/hub.sqlite", contents: Data(), attributes: [.posixPermissions: 0o400]))
                let error = #expect(throws: HubError.self) { _ = try HubDatabase(directory: directory) }
                #expect(error?.message == "cannot write the hub database \(directory)/hub.sqlite: Permission denied")
            }
        }
    }

    /// The database holds the kdb+ users' digests: a hub directory the hub creates is its
    /// user's alone, and the database files are not readable by others even in a directory
    /// that is.
    @Test func theHubDirectoryAndDatabaseAreTheHubsUsersAlone() throws {
        try withTemporaryDirectory("mserve-hub-modes") { parent in
            func mode(_ path: String) throws -> Int? {
                (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
            }
            let created = parent + "/hub"
            let database = try HubDatabase(directory: created)
            _ = try database.register(Self.registration(startTime: 0), endpoint: "tcp://127.0.0.1:5001", at: 1)
            #expect(try mode(created) == 0o700)
            for file in ["hub.sqlite", "hub.sqlite-wal", "hub.sqlite-shm"] {
                #expect(try mode(created + "/" + file) == 0o600, "\(file)")
            }

            let existing = parent + "/open"
            try FileManager.default.createDirectory(atPath: existing, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            let other = try HubDatabase(directory: existing)
            _ = try other.register(Self.registration(startTime: 0), endpoint: "tcp://127.0.0.1:5001", at: 1)
            #expect(try mode(existing) == 0o755)
            for file in ["hub.sqlite", "hub.sqlite-wal", "hub.sqlite-shm"] {
                #expect(try mode(existing + "/" + file) == 0o600, "\(file)")
            }
        }
    }

    /// A directory others may write could hold a database of theirs, or have the hub's files
    /// replaced: the hub refuses it, saying what to do, and writes nothing there.
    @Test func aHubDirectoryOthersMayWriteIsRefused() throws {
        try withTemporaryDirectory("mserve-hub-shared") { parent in
            // Each refusal says who may write it: the group, other users, or both.
            let cases = [
                (0o777, "mode 0777, so its group may read, write and execute it and other users may read, write and execute it"),
                (0o1777, "mode 1777, so its group may read, write and execute it and other users may read, write and execute it"),
                (0o775, "mode 0775, so its group may read, write and execute it and other users may read and execute it"),
                (0o757, "mode 0757, so its group may read and execute it and other users may read, write and execute it"),
                (0o720, "mode 0720, so its group may write it:"),
            ]
            for (permissions, says) in cases {
                let shared = parent + "/\(String(permissions, radix: 8))"
                try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
                try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: shared)
                let error = #expect(throws: HubError.self) { _ = try HubDatabase(directory: shared) }
                #expect(error?.code == .directoryRefused)
                #expect(
                    error?.message.contains(says) == true
                        && error?.message.contains("run chmod 700 \(shared)") == true,
                    "\(String(describing: error))")
                #expect(!FileManager.default.fileExists(atPath: shared + "/hub.sqlite"))
            }
        }
    }

    /// A hub directory given as a symbolic link (to a data disk, say) is judged by the directory
    /// it leads to: a link's own mode is always 0777, and chmod on a link changes its target.
    @Test func aHubDirectoryGivenAsALinkIsJudgedByItsTarget() throws {
        try withTemporaryDirectory("mserve-hub-link") { parent in
            let target = parent + "/data"
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let link = parent + "/hub"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
            // The directory the link leads to, as the hub resolves it (TMPDIR may hold links too).
            let resolved = URL(fileURLWithPath: target).resolvingSymlinksInPath().path
            let database = try HubDatabase(directory: link)
            #expect(database.directory == resolved)
            #expect(FileManager.default.fileExists(atPath: target + "/hub.sqlite"))

            try FileManager.default.setAttributes([.posixPermissions: 0o775], ofItemAtPath: target)
            let error = #expect(throws: HubError.self) { _ = try HubDatabase(directory: link) }
            #expect(
                error?.message.contains("(a link to \(resolved)) has mode 0775") == true
                    && error?.message.contains("run chmod 700 \(resolved)") == true,
                "\(String(describing: error))")
        }
    }

    /// The hub directory given as a link is watched as the database is: its link removed, or
    /// made to lead elsewhere, displaces the database, which a hub started again with the same
    /// directory would not find, though the file is in its place. A plain directory named with
    /// dots is no link.
    @Test func aDirectoryLinkRemovedOrChangedDisplacesTheDatabase() throws {
        try withTemporaryDirectory("mserve-hub-link") { temporary in
            let parent = URL(fileURLWithPath: temporary).resolvingSymlinksInPath().path
            let target = parent + "/data"
            let other = parent + "/other"
            for directory in [target, other] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            }
            let link = parent + "/hub"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
            let database = try HubDatabase(directory: link)
            #expect(database.linkedDirectory == link)
            #expect(database.displacement() == nil)

            try FileManager.default.removeItem(atPath: link)
            #expect(database.displacement() == .directoryLinkRemoved)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: other)
            #expect(database.displacement() == .directoryLinkChanged)
            try FileManager.default.removeItem(atPath: link)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
            #expect(database.displacement() == nil)
            // The directory gone, the link dangling: the database went with it.
            try FileManager.default.removeItem(atPath: target)
            #expect(database.displacement() == .directoryRemoved)

            #expect(try HubDatabase(directory: other + "/../other").linkedDirectory == nil)
        }
    }

    /// A plain directory named with `..` (or relatively) is not called a link in a refusal.
    @Test func aPlainDirectoryNamedWithDotsIsNotCalledALink() throws {
        try withTemporaryDirectory("mserve-hub-dots") { temporary in
            let parent = URL(fileURLWithPath: temporary).resolvingSymlinksInPath().path
            try FileManager.default.createDirectory(atPath: parent + "/data", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o775])
            let given = parent + "/data/../data"
            let error = #expect(throws: HubError.self) { _ = try HubDatabase(directory: given) }
            #expect(error?.message.contains("the hub directory \(given) has mode 0775") == true, "\(String(describing: error))")
            #expect(error?.message.contains("a link") == false, "\(String(describing: error))")
        }
    }

    /// A directory another user owns could have its files or mode changed by that user: the
    /// hub refuses it, even at mode 0700. (Needs root, to give a directory to another user.)
    @Test(.enabled(if: geteuid() == 0, "giving a directory to another user needs root"))
    func aHubDirectoryAnotherUserOwnsIsRefused() throws {
        try withTemporaryDirectory("mserve-hub-owner") { parent in
            let theirs = parent + "/theirs"
            try FileManager.default.createDirectory(atPath: theirs, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            #expect(chown(theirs, 65_534, 65_534) == 0)
            let error = #expect(throws: HubError.self) { _ = try HubDatabase(directory: theirs) }
            #expect(error?.message.contains("belongs to uid 65534") == true, "\(String(describing: error))")
            #expect(!FileManager.default.fileExists(atPath: theirs + "/hub.sqlite"))
        }
    }
}
