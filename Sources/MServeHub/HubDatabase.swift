import Foundation
import GRDB
import POSIXFiles
public import MServeProtocol
public import QData

/// One live (or not yet re-confirmed) spoke, as stored in the `spoke` table.
public struct SpokeRecord: Sendable, Hashable {
    /// The hub's id for the spoke, never reused.
    public var id: Int64
    /// What the spoke said about itself (`address` is the address the hub saw).
    public var registration: SpokeRegistration
    /// The endpoint others connect to, `tcp://host:port` (empty when the spoke serves no port).
    public var endpoint: String
    /// When it (last) registered, q timestamp.
    public var registered: Int64
    /// When the hub last heard from it, q timestamp.
    public var heard: Int64

    /// The endpoint as a servant of its service, for resolution.
    public var serviceEndpoint: ServiceEndpoint {
        let name = endpoint.hasPrefix("tcp://") || endpoint.hasPrefix("kdb://") ? String(endpoint.dropFirst(6)) : endpoint
        return ServiceEndpoint(
            endpoint: endpoint, name: name, spokeID: id, threads: registration.threads, curveKey: registration.curveKey)
    }
}

/// The hub's tables in SQLite: `spoke` (live processes), `memst` (memory stats, the last N per
/// spoke) and `down` (crash reports: the spoke's last record, its last memory stats, the crash
/// time and the reason). The file is `hub.sqlite` in the hub directory.
public final class HubDatabase: Sendable {
    /// The names of the tables ``table(_:)`` serves.
    public static let tableNames = ["spoke", "memst", "down"]

    private let queue: DatabaseQueue
    /// The database file.
    public let path: String
    /// The hub directory as checked: a symbolic link given for it resolved, once.
    public let directory: String
    /// The hub directory as given (`--dir`), when a symbolic link in it leads to
    /// ``directory``; nil when it names ``directory`` itself.
    public let linkedDirectory: String?
    /// The file ``path`` led to once the database was open: ``displacement()`` compares.
    private let openedFile: FileIdentity?
    /// The directory ``directory`` was once the database was open: ``displacement()``
    /// compares what ``linkedDirectory`` leads to.
    private let openedDirectory: FileIdentity?

    /// Refuses a hub directory its group or other users may write, or that another user owns
    /// (as ssh refuses such a home directory): whoever may write it, or change its mode, could
    /// put a database of their own there (their keys allowed, their users), or replace the
    /// files the hub and its admin commands read.
    /// A directory given as a symbolic link (a hub directory on another disk, say) is judged by
    /// the directory it leads to; that directory, resolved once here, is returned, and every
    /// file of the hub is opened in it, so that a link changed after the check leads nowhere
    /// new.
    static func refuseDirectoryOthersControl(_ given: String, settings: String) throws(HubError) -> String {
        let resolved = URL(fileURLWithPath: given).resolvingSymlinksInPath().path
        // A relative path, or one with `.` or `..`, is no link: compared made absolute.
        let absolute = URL(fileURLWithPath: given).standardizedFileURL.path
        let directory = resolved == absolute ? given : "\(given) (a link to \(resolved))"
        let control: OutsideControl?
        do {
            control = try POSIXFile.outsideControl(atPath: resolved, trustedOwners: [POSIXFile.effectiveUserID])
        } catch {
            throw HubError(
                .database, "cannot read the mode of the hub directory \(directory): \(error.systemReason ?? error.message)")
        }
        switch control {
        case nil:
            return resolved
        case .ownedBy(let owner):
            throw HubError(
                .directoryRefused,
                "the hub directory \(directory) belongs to uid \(owner), not to this hub's user (uid \(geteuid())), "
                    + "who could change its files and mode: the hub keeps its database and admin token there; "
                    + "give one of this user's own with \(settings)")
        case .writableByOthers(let permissions):
            // Who may do what, as the key files' checks say it: "its group may read, write and execute it".
            throw HubError(
                .directoryRefused,
                "the hub directory \(directory) has mode \(POSIXFile.octal(permissions)), so \(POSIXFile.exposure(permissions)): "
                    + "the hub keeps its database and admin token there; run chmod 700 \(resolved), or give another with \(settings)")
        }
    }

    /// Opens (creating if needed) the hub database in `directory`. A directory it creates is
    /// the hub's user's alone (mode 0700); an existing one its group or others may write, or
    /// another user owns, is refused, as is an existing file that is not a directory; and the database files (`hub.sqlite` and its WAL
    /// and shared-memory files) are made 0600 at each open: they hold the kdb+ users' digests.
    /// A directory refused, or that cannot be made, is named with `settings`, the settings
    /// that give another (``HubConfiguration/directorySettings``).
    public init(directory: String, settings: String = HubConfiguration.serveDirectorySettings) throws(HubError) {
        // A file of that name would only make the creation below fail with "File exists".
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw HubError(
                .directoryRefused,
                "the hub directory \(directory) is not a directory: give \(settings) a directory, "
                    + "or a path where the hub may create one")
        }
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            // Foundation's error prints as a dictionary dump; its POSIX cause says it for people.
            let underlying = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? any Error).map { $0 as NSError }
            let cause =
                underlying.flatMap { $0.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32($0.code))) : nil }
                ?? error.localizedDescription
            throw HubError(.database, "cannot create the hub directory \(directory): \(cause); give another with \(settings)")
        }
        let resolved = try Self.refuseDirectoryOthersControl(directory, settings: settings)
        try Self.refuseUnwritableDirectory(resolved, settings: settings)
        self.directory = resolved
        // A relative path, or one with `.` or `..`, is no link: compared made absolute.
        linkedDirectory = resolved == URL(fileURLWithPath: directory).standardizedFileURL.path ? nil : directory
        // Processes racing for the hub (auto mode) open the database at once: on a fresh
        // directory each would make the tables, and all but one fail (`table spoke already
        // exists`, or `database is locked` switching to WAL). The schema is made, or found
        // made, by one at a time.
        let schemaLock = try Self.lockSchema(in: resolved)
        defer { close(schemaLock) }
        let path = (resolved as NSString).appendingPathComponent("hub.sqlite")
        self.path = path
        let files = [path, path + "-wal", path + "-shm"]
        // SQLite follows a link, and says only `disk I/O error` of a FIFO: each file that is
        // there must be a regular file the hub may write, before SQLite opens it.
        for file in files { try Self.refuseUnwritable(file) }
        try Self.refuseEmpty(path)
        // A database this open makes, and fails to make (a full disk), must not be left as an
        // empty file, which every later start would refuse as damaged (``refuseEmpty(_:)``).
        let isNew = !FileManager.default.fileExists(atPath: path)
        do {
            queue = try Self.openAndMigrate(path: path)
        } catch {
            if isNew { Self.removeUnmade(files) }
            throw Self.openingFailure(error, path: path, directory: resolved, settings: settings)
        }
        // SQLite creates the files 0644 (after the umask), and its WAL and shared-memory
        // files take the database file's mode.
        for file in files { try Self.refuseUnwritable(file, settingPermissions: true) }
        openedFile = POSIXFile.identity(atPath: path)
        openedDirectory = POSIXFile.identity(atPath: resolved)
    }

    /// Opens the database at `path`, checks it, switches it to WAL and makes or brings up to
    /// date its tables.
    private static func openAndMigrate(path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try Self.refuseDamaged(queue, path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
        }
        try Self.migrator.migrate(queue)
        // Opened and its tables made (by one process at a time, above), the hub waits far
        // less for a lock another process holds: its loop waits with it, answering no spoke
        // and no HTTP request meanwhile (docs/HUB.md).
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA busy_timeout = \(Self.runningBusyTimeoutMilliseconds)")
        }
        return queue
    }

    /// What a failure to open the database at `path` says.
    private static func openingFailure(_ error: any Error, path: String, directory: String, settings: String) -> HubError {
        switch error {
        case let error as HubError: error
        case let error as DatabaseError where isDamage(error): damaged(path, error.message ?? "\(error)")
        case let error as DatabaseError where error.resultCode == .SQLITE_READONLY:
            readOnlyDatabase(path, in: directory, "\(error)", settings: settings)
        default: HubError(.database, "cannot open the hub database \(path): \(error)")
        }
    }

    /// Removes the files of a database this process began to make and could not (its first
    /// write failed: a full disk, a file-size limit), while it holds the schema lock: a main
    /// file still empty, and its WAL and shared-memory files. A main file with something in it
    /// is kept (its tables are brought up to date at the next start).
    private static func removeUnmade(_ files: [String]) {
        guard let main = files.first, isEmptyFile(main) else { return }
        for file in files { unlink(file) }
    }

    /// Whether a file is at `path` and holds 0 bytes.
    private static func isEmptyFile(_ path: String) -> Bool {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value == 0
    }

    /// How the database file the hub opened left its place, when it did.
    public enum Displacement: Sendable, Hashable {
        /// The hub directory is gone (`rm -rf`, or moved away), and the database with it.
        case directoryRemoved
        /// The directory is there, `hub.sqlite` in it is not.
        case fileRemoved
        /// Another file is at ``path`` (a restored copy), or the directory is another.
        case fileReplaced
        /// The database is in its place, but the hub directory as given
        /// (``linkedDirectory``), through a symbolic link, leads nowhere now: the link was
        /// removed.
        case directoryLinkRemoved
        /// The database is in its place, but the hub directory as given
        /// (``linkedDirectory``), through a symbolic link, leads to another directory now.
        case directoryLinkChanged
    }

    /// Whether the database file this hub opened is still the one at ``path``, and the
    /// directory given for it (``linkedDirectory``, when a link) still leads there; nil when
    /// so. A removed or replaced file takes none of the hub's writes from then on: they go to
    /// the file it opened, which the system keeps, nameless, only until the hub stops. A link
    /// removed or changed leaves the hub's writes where they were, but a hub started again
    /// with the same directory would not find them, nor would an admin command its token.
    /// One `stat` of the path (and of the directory, when the path is gone, or of the
    /// directory as given, when a link).
    public func displacement() -> Displacement? {
        guard let openedFile else { return nil }
        guard let current = POSIXFile.identity(atPath: path) else {
            return POSIXFile.identity(atPath: directory) == nil ? .directoryRemoved : .fileRemoved
        }
        guard current == openedFile else { return .fileReplaced }
        guard let linkedDirectory, let openedDirectory else { return nil }
        switch POSIXFile.identity(atPath: linkedDirectory) {
        case nil: return .directoryLinkRemoved
        case openedDirectory: return nil
        default: return .directoryLinkChanged
        }
    }

    /// How long a write waits for a lock another process holds on the database, once it is
    /// open: at the open, 5 s (hubs starting together take turns making the tables).
    static let runningBusyTimeoutMilliseconds = 250

    /// Refuses a hub directory this hub's user may not create files in (`access`): its mode
    /// (the directory is this user's own, checked before), an immutable flag or a read-only
    /// file system. The hub makes its lock files, database and admin token there; without
    /// this, the first of them to fail would say only `Permission denied` of a file.
    private static func refuseUnwritableDirectory(_ directory: String, settings: String) throws(HubError) {
        guard access(directory, W_OK | X_OK) != 0 else { return }
        let reason = errno
        throw unwritableDirectory(
            directory, errorNumber: reason, permissions: try? POSIXFile.permissions(atPath: directory), settings: settings)
    }

    /// The refusal of the hub directory `directory`, which this hub's user may not write:
    /// `errorNumber` says why (`EACCES`: its mode, `permissions`; `EPERM`: an immutable flag;
    /// `EROFS`: a read-only file system), and the message what to change.
    static func unwritableDirectory(
        _ directory: String, errorNumber: Int32, permissions: UInt32?, settings: String
    ) -> HubError {
        let why: String
        let fix: String
        switch errorNumber {
        case EACCES:
            why = permissions.map { "its mode is \(POSIXFile.octal($0))" } ?? String(cString: strerror(errorNumber))
            fix = "run chmod 700 \(directory), or give another with \(settings)"
        case EPERM:
            why = "\(String(cString: strerror(errorNumber))), as for an immutable directory (lsattr -d \(directory) shows an i)"
            fix = "run chattr -i \(directory), or give another with \(settings)"
        case EROFS:
            why = "it is on a read-only file system"
            fix = "give one on a writable file system with \(settings)"
        default:
            why = String(cString: strerror(errorNumber))
            fix = "give another with \(settings)"
        }
        return HubError(
            .database,
            "the hub directory \(directory) is not writable by this hub's user (uid \(geteuid())): \(why); "
                + "the hub makes its database, lock files and admin token there: \(fix)")
    }

    /// The refusal of the database `path` in the hub directory `directory`, which SQLite
    /// found read-only as it opened it (`SQLite error 8`, said in `sqliteError`): this
    /// hub's user may not write the directory (to make the WAL and shared-memory files) or a
    /// file of the database.
    static func readOnlyDatabase(_ path: String, in directory: String, _ sqliteError: String, settings: String) -> HubError {
        HubError(
            .database,
            "cannot open the hub database \(path): \(sqliteError): this hub's user (uid \(geteuid())) may not write "
                + "the hub directory \(directory), or \(path), \(path)-wal or \(path)-shm in it: make them this user's "
                + "own and writable (chmod 700 \(directory); chmod 600 \(path)*), or give another directory with \(settings)")
    }

    /// Refuses the database file `file` (or its WAL or shared-memory file), when there is
    /// one, unless it is a regular file the hub may write: not a symbolic link (whose target,
    /// outside the hub directory, the hub would write), a FIFO or a directory, nor a file its
    /// mode, an immutable flag or a read-only file system keeps from being written. With
    /// `settingPermissions`, makes it 0600.
    private static func refuseUnwritable(_ file: String, settingPermissions: Bool = false) throws(HubError) {
        do {
            // Never opened here: SQLite holds POSIX locks on these files, which closing any
            // descriptor of them in this process would let go of. Setting the mode checks the
            // file as the check alone does; a missing one is left as it is.
            if settingPermissions {
                try POSIXFile.setPermissions(0o600, ofRegularFileAtPath: file)
            } else {
                try POSIXFile.checkWritableRegularFile(atPath: file)
            }
        } catch where error.systemErrorNumber == ENOENT {
            return
        } catch where error.code == .notRegularFile {
            throw HubError(
                .database,
                "cannot write the hub database \(file): \(error.reason); the hub keeps its database there and "
                    + "follows no link: move it out of the hub directory, and the hub makes the file")
        } catch {
            throw HubError(.database, "cannot write the hub database \(file): \(error.reason)")
        }
    }

    /// Refuses a database that fails SQLite's quick integrity check (`PRAGMA quick_check`): a
    /// damaged page would fail the hub's writes, registrations among them, for as long as it
    /// runs.
    private static func refuseDamaged(_ queue: DatabaseQueue, path: String) throws {
        let problems = try queue.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
        guard problems == ["ok"] else {
            throw damaged(path, problems.prefix(3).joined(separator: "; "))
        }
    }

    /// Refuses an existing database file of 0 bytes. SQLite takes one for a new, empty
    /// database, and the hub would make new tables in it without a word, its allowed keys,
    /// kdb+ users and crash reports gone; but the hub writes its tables as it makes the file,
    /// so an empty one is what an interrupted copy, restore or truncation left where the
    /// database was. A missing file is a new database.
    private static func refuseEmpty(_ path: String) throws(HubError) {
        guard isEmptyFile(path) else { return }
        throw damaged(
            path, "the file is empty, 0 bytes, as an interrupted copy or restore leaves it",
            recovery: "restored from a backup of \(path)")
    }

    /// Whether `error` says the database file is damaged, or is no database.
    static func isDamage(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB
    }

    /// The refusal of the damaged database `path`, with what SQLite's quick check found.
    static func damaged(_ path: String, _ found: String) -> HubError {
        damaged(path, "SQLite's quick_check: \(found)", recovery: "recovered with sqlite3 \(path).damaged .recover")
    }

    /// The refusal of the damaged database `path`: `why` it is refused, and how else than by
    /// adding them again its allowed keys and users may come back (`recovery`).
    static func damaged(_ path: String, _ why: String, recovery: String) -> HubError {
        HubError(
            .database,
            "the hub database \(path) is damaged (\(why)): move it aside "
                + "(with \(path)-wal and \(path)-shm, if there), e.g. mv \(path) \(path).damaged; the hub then makes "
                + "new tables, and every live spoke registers again within seconds; the allowed keys and kdb+ users it "
                + "held must be added again (mserve hub allow, mserve hub user add), or \(recovery)")
    }

    /// Takes an exclusive `flock` on `hub.schema.lock` in `directory`, waiting for another
    /// process opening the database to finish; returns the descriptor (closing it lets go).
    private static func lockSchema(in directory: String) throws(HubError) -> Int32 {
        let path = (directory as NSString).appendingPathComponent("hub.schema.lock")
        let descriptor = try HubDirectoryLock.openLockFile(path, permissions: 0o600)
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                throw HubError(.database, "cannot lock \(path): \(reason)")
            }
        }
        return descriptor
    }

    /// The schema's migrations, oldest first (internal for the tests that open older databases).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE spoke (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT NOT NULL UNIQUE,
                        pid INTEGER NOT NULL, port INTEGER NOT NULL, threads INTEGER NOT NULL,
                        ip TEXT NOT NULL, host TEXT NOT NULL, user TEXT NOT NULL, command TEXT NOT NULL,
                        started INTEGER NOT NULL, version TEXT NOT NULL, buildDate INTEGER NOT NULL,
                        dir TEXT NOT NULL, service TEXT NOT NULL, role TEXT NOT NULL, endpoint TEXT NOT NULL,
                        advertised TEXT, registered INTEGER NOT NULL, heard INTEGER NOT NULL);
                    CREATE TABLE memst (
                        spoke INTEGER NOT NULL, time INTEGER NOT NULL, used INTEGER NOT NULL,
                        heap INTEGER NOT NULL, peak INTEGER NOT NULL, rss INTEGER NOT NULL);
                    CREATE INDEX memst_spoke_time ON memst (spoke, time);
                    CREATE TABLE down (
                        spoke INTEGER NOT NULL, session TEXT NOT NULL,
                        pid INTEGER NOT NULL, port INTEGER NOT NULL, threads INTEGER NOT NULL,
                        ip TEXT NOT NULL, host TEXT NOT NULL, user TEXT NOT NULL, command TEXT NOT NULL,
                        started INTEGER NOT NULL, version TEXT NOT NULL, buildDate INTEGER NOT NULL,
                        dir TEXT NOT NULL, service TEXT NOT NULL, role TEXT NOT NULL, endpoint TEXT NOT NULL,
                        advertised TEXT, registered INTEGER NOT NULL, heard INTEGER NOT NULL,
                        used INTEGER, heap INTEGER, peak INTEGER, rss INTEGER, memoryTime INTEGER,
                        crash INTEGER NOT NULL, reason TEXT NOT NULL);
                    """)
        }
        migrator.registerMigration("v2 allowed keys") { db in
            try db.execute(
                sql: "CREATE TABLE allowed_keys (name TEXT PRIMARY KEY, key TEXT NOT NULL, added INTEGER NOT NULL)")
        }
        migrator.registerMigration("v3 servant keys") { db in
            try db.execute(sql: "ALTER TABLE spoke ADD COLUMN curveKey TEXT; ALTER TABLE down ADD COLUMN curveKey TEXT")
        }
        migrator.registerMigration("v4 kdb users") { db in
            try db.execute(
                sql: "CREATE TABLE users (name TEXT PRIMARY KEY, digest TEXT NOT NULL, added INTEGER NOT NULL)")
        }
        migrator.registerMigration("v5 key roles") { db in
            // Keys allowed before keys had roles keep doing everything they did.
            try db.execute(sql: "ALTER TABLE allowed_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'any'")
        }
        migrator.registerMigration("v6 kdb user password hashes") { db in
            try migrateUsersToPasswordHashes(db)
        }
        return migrator
    }

    private static let spokeColumns =
        "pid, port, threads, ip, host, user, command, started, version, buildDate, dir, service, role, endpoint, advertised, curveKey"

    func write<T>(_ what: String, _ body: (Database) throws -> T) throws(HubError) -> T {
        do {
            return try queue.write(body)
        } catch {
            throw HubError(.database, "cannot \(what): \(error)")
        }
    }

    func read<T>(_ what: String, _ body: (Database) throws -> T) throws(HubError) -> T {
        do {
            return try queue.read(body)
        } catch {
            throw HubError(.database, "cannot \(what): \(error)")
        }
    }

    /// Inserts a spoke, or updates the one with the same session; returns its id.
    @discardableResult
    public func register(_ registration: SpokeRegistration, endpoint: String, at time: Int64) throws(HubError) -> Int64 {
        try write("register a spoke") { db in
            let r = registration
            let arguments: StatementArguments = [
                r.pid, Int64(r.port), Int64(r.threads), r.address, r.host, r.user, r.commandLine, r.startTime,
                r.version, Int64(r.buildDate), r.directory, r.service, r.role, endpoint, r.advertisedHost,
                r.curveKey,
            ]
            if let id = try Int64.fetchOne(db, sql: "SELECT id FROM spoke WHERE session = ?", arguments: [r.session]) {
                try db.execute(
                    sql: """
                        UPDATE spoke SET pid = ?, port = ?, threads = ?, ip = ?, host = ?, user = ?, command = ?,
                        started = ?, version = ?, buildDate = ?, dir = ?, service = ?, role = ?, endpoint = ?,
                        advertised = ?, curveKey = ?, registered = ?, heard = ? WHERE id = ?
                        """,
                    arguments: arguments + [time, time, id])
                return id
            }
            try db.execute(
                sql: "INSERT INTO spoke (session, \(Self.spokeColumns), registered, heard) VALUES (?, \(Array(repeating: "?", count: 16).joined(separator: ", ")), ?, ?)",
                arguments: [r.session] + arguments + [time, time])
            return db.lastInsertedRowID
        }
    }

    /// Records that the hub heard from spoke `id` at `time`, with its memory stats if given,
    /// keeping the last `keep` memory-stat rows recorded for the spoke (in the order the hub
    /// heard them, whatever a wall clock stepped back says).
    public func heard(spoke id: Int64, at time: Int64, memory: MemoryStats?, keep: Int) throws(HubError) {
        try heard([HeardSpoke(id: id, time: time, memory: memory)], keep: keep)
    }

    /// Records heartbeats, oldest first, in one transaction: each spoke's `heard` time, and
    /// its memory stats, of which the newest `keep` rows per spoke are kept. A spoke no longer
    /// in `spoke` gets no row.
    public func heard(_ heartbeats: [HeardSpoke], keep: Int) throws(HubError) {
        guard !heartbeats.isEmpty else { return }
        try write(heartbeats.count == 1 ? "record a heartbeat" : "record \(heartbeats.count) heartbeats") { db in
            // Compiled once per connection: a hub of hundreds of spokes runs these hundreds of
            // times a second.
            let heard = try db.cachedStatement(sql: "UPDATE spoke SET heard = ? WHERE id = ?")
            let insert = try db.cachedStatement(
                sql: "INSERT INTO memst (spoke, time, used, heap, peak, rss) VALUES (?, ?, ?, ?, ?, ?)")
            // Rows up to the newest one past the `keep` newest go: with no such row the
            // subquery is NULL and nothing is deleted, found through the (spoke, time) index.
            let trim = try db.cachedStatement(
                sql: """
                    DELETE FROM memst WHERE spoke = ? AND rowid <=
                    (SELECT rowid FROM memst WHERE spoke = ? ORDER BY rowid DESC LIMIT 1 OFFSET ?)
                    """)
            var trimmed: Set<Int64> = []
            for heartbeat in heartbeats {
                try heard.execute(arguments: [heartbeat.time, heartbeat.id])
                guard let memory = heartbeat.memory, db.changesCount > 0 else { continue }
                try insert.execute(
                    arguments: [heartbeat.id, heartbeat.time, memory.used, memory.heap, memory.peak, memory.rss])
                trimmed.insert(heartbeat.id)
            }
            for id in trimmed { try trim.execute(arguments: [id, id, keep]) }
        }
    }

    /// Moves spoke `id` to `down` with its last memory stats, the crash time and the reason;
    /// keeps the newest `keep` crash reports.
    public func markDown(spoke id: Int64, crash: Int64, reason: String, keep: Int = .max) throws(HubError) {
        try write("move a spoke to down") { db in
            try db.execute(
                sql: """
                    INSERT INTO down (spoke, session, \(Self.spokeColumns), registered, heard,
                        used, heap, peak, rss, memoryTime, crash, reason)
                    SELECT s.id, s.session, \(Self.spokeColumns.split(separator: ",").map { "s." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")),
                        s.registered, s.heard, m.used, m.heap, m.peak, m.rss, m.time, ?, ?
                    FROM spoke s LEFT JOIN memst m ON m.rowid =
                        (SELECT rowid FROM memst WHERE spoke = s.id ORDER BY rowid DESC LIMIT 1)
                    WHERE s.id = ?
                    """,
                arguments: [crash, reason, id])
            try db.execute(sql: "DELETE FROM spoke WHERE id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM memst WHERE spoke = ?", arguments: [id])
            if keep < Int.max {
                // Rows are numbered in the order they came: all but the newest `keep` go.
                try db.execute(
                    sql: "DELETE FROM down WHERE rowid <= (SELECT MAX(rowid) FROM down) - ?",
                    arguments: [max(1, keep)])
            }
        }
    }

    /// The reasons for which the hub itself moves a spoke to `down`: it heard nothing from it.
    /// The process may still run (cut from the hub, or paused); a spoke that registers again
    /// as the same process says it did.
    static let livenessReasons = ["missed heartbeats", "not heard from after a hub restart"]

    /// Amends the newest crash report of the process whose `session` (and `curveKey`, the key
    /// it registered with) registered again as spoke `newID`, when the hub wrote that report
    /// for its silence alone (``livenessReasons``): the process had not stopped. Its reason
    /// gains `; the same process registered again as spoke N: not a crash (cut from the hub,
    /// or paused)`. Returns the spoke id of the report amended, nil when there was none.
    public func amendCrashReport(ofSession session: String, curveKey: String?, registeredAgainAs newID: Int64) throws(HubError) -> Int64? {
        try write("amend a crash report") { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT rowid, spoke, reason FROM down WHERE rowid =
                        (SELECT MAX(rowid) FROM down WHERE session = ? AND curveKey IS ?)
                        """,
                    arguments: [session, curveKey]),
                let reason = row["reason"] as String?, Self.livenessReasons.contains(reason)
            else { return nil }
            try db.execute(
                sql: "UPDATE down SET reason = ? WHERE rowid = ?",
                arguments: [Self.registeredAgain(reason, as: newID), row["rowid"] as Int64])
            return row["spoke"] as Int64?
        }
    }

    /// The reason of a crash report amended once its process registered again as spoke `newID`.
    static func registeredAgain(_ reason: String, as newID: Int64) -> String {
        "\(reason); the same process registered again as spoke \(newID): not a crash (cut from the hub, or paused)"
    }

    /// Removes spoke `id` and its memory stats without a crash report (a clean exit).
    public func remove(spoke id: Int64) throws(HubError) {
        try write("remove a spoke") { db in
            try db.execute(sql: "DELETE FROM spoke WHERE id = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM memst WHERE spoke = ?", arguments: [id])
        }
    }

    /// Every spoke in the table, by id.
    public func spokes() throws(HubError) -> [SpokeRecord] {
        try read("read the spoke table") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM spoke ORDER BY id").map { row in
                SpokeRecord(
                    id: row["id"],
                    registration: SpokeRegistration(
                        pid: row["pid"], port: Int32(clamping: row["port"] as Int64),
                        threads: Int32(clamping: row["threads"] as Int64), address: row["ip"], host: row["host"],
                        user: row["user"], commandLine: row["command"], startTime: row["started"],
                        version: row["version"], buildDate: Int32(clamping: row["buildDate"] as Int64),
                        directory: row["dir"], service: row["service"], role: row["role"], endpoint: row["endpoint"],
                        advertisedHost: row["advertised"], session: row["session"], curveKey: row["curveKey"]),
                    endpoint: row["endpoint"], registered: row["registered"], heard: row["heard"])
            }
        }
    }

    /// The newest `limit` crash reports (rows of `down`), newest first.
    public func recentCrashes(limit: Int) throws(HubError) -> [CrashReport] {
        try read("read the down table") { db in
            try Row.fetchAll(
                db, sql: "SELECT spoke, service, role, endpoint, host, pid, crash, reason FROM down ORDER BY rowid DESC LIMIT ?",
                arguments: [limit]
            ).map { row in
                CrashReport(
                    spoke: row["spoke"], service: row["service"], role: row["role"], endpoint: row["endpoint"],
                    host: row["host"], pid: row["pid"], crash: row["crash"], reason: row["reason"])
            }
        }
    }

    /// The number of rows of `name` (`spoke`, `memst` or `down`).
    public func count(_ name: String) throws(HubError) -> Int {
        guard Self.tableNames.contains(name) else { throw HubError(.refused, "no table named '\(name)'") }
        return try read("count \(name)") { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(name)") ?? 0 }
    }

    /// The table `name` (`spoke`, `memst` or `down`) as a q table, with the seed's column names
    /// (`pid`, `port`, `threads`, `IP`, `host`, `user`, `X`, `P`, `K`, `k`, `up`, `dir`, …).
    public func table(_ name: String, now: Int64 = QueryClock.qTimestampNow()) throws(HubError) -> QTable {
        let columns: [QColumn]
        let sql: String
        switch name {
        case "spoke":
            columns = QColumn.spoke(upUntil: nil)
            sql = "SELECT * FROM spoke ORDER BY id"
        case "memst":
            columns = [
                .init("spoke", "spoke", .long), .init("time", "time", .timestamp), .init("used", "used", .long),
                .init("heap", "heap", .long), .init("peak", "peak", .long), .init("rss", "rss", .long),
            ]
            sql = "SELECT * FROM memst ORDER BY rowid"
        case "down":
            columns =
                [.init("spoke", "spoke", .long)] + QColumn.spoke(upUntil: "heard").dropFirst() + [
                    .init("used", "used", .long), .init("heap", "heap", .long), .init("peak", "peak", .long),
                    .init("rss", "rss", .long), .init("crash", "crash", .timestamp), .init("reason", "reason", .string),
                ]
            sql = "SELECT * FROM down ORDER BY crash"
        default:
            throw HubError(.refused, "no table named '\(name)'; the hub has spoke, memst and down")
        }
        let rows = try read("read \(name)") { db in try Row.fetchAll(db, sql: sql) }
        return QTable(columns: columns.map(\.name), values: columns.map { $0.values(rows, now: now) })
    }
}

/// How one SQL column becomes one q column.
struct QColumn {
    enum Kind { case long, int, symbol, string, timestamp, date, upTime(String?) }
    var name: String
    var sqlName: String
    var kind: Kind

    init(_ name: String, _ sqlName: String, _ kind: Kind) {
        self.name = name
        self.sqlName = sqlName
        self.kind = kind
    }

    /// The spoke record's columns; `up` runs to `upUntil`'s column, or to now when nil.
    static func spoke(upUntil: String?) -> [QColumn] {
        [
            .init("id", "id", .long), .init("pid", "pid", .long), .init("port", "port", .int),
            .init("threads", "threads", .int), .init("IP", "ip", .symbol), .init("host", "host", .symbol),
            .init("user", "user", .symbol), .init("X", "command", .string), .init("P", "started", .timestamp),
            .init("K", "version", .symbol), .init("k", "buildDate", .date), .init("up", "started", .upTime(upUntil)),
            .init("dir", "dir", .string), .init("service", "service", .symbol), .init("role", "role", .symbol),
            .init("endpoint", "endpoint", .symbol), .init("registered", "registered", .timestamp),
            .init("heard", "heard", .timestamp),
        ]
    }

    private static let nullLong = Int64.min

    func values(_ rows: [Row], now: Int64) -> QValue {
        func long(_ row: Row, _ column: String) -> Int64 { (row[column] as Int64?) ?? Self.nullLong }
        switch kind {
        case .long: return .vector(.long(rows.map { long($0, sqlName) }))
        case .int: return .vector(.int(rows.map { Int32(clamping: long($0, sqlName)) }))
        case .symbol: return .vector(.symbol(rows.map { ($0[sqlName] as String?) ?? "" }))
        case .string: return .list(rows.map { .string(($0[sqlName] as String?) ?? "") })
        case .timestamp: return .vector(.timestamp(rows.map { long($0, sqlName) }))
        case .date: return .vector(.date(rows.map { Int32(clamping: long($0, sqlName)) }))
        case .upTime(let until):
            return .vector(
                .timespan(
                    rows.map { row in
                        // The start is the spoke's word: one that cannot give a time up
                        // (a null, or far from `end`) gives a null, not an overflow.
                        let end = until.map { long(row, $0) } ?? now
                        let start = long(row, sqlName)
                        guard end != Self.nullLong, start != Self.nullLong else { return Self.nullLong }
                        let (up, overflow) = end.subtractingReportingOverflow(start)
                        return overflow ? Self.nullLong : up
                    }))
        }
    }
}
