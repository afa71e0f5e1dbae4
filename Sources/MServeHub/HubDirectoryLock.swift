// One hub per directory: the lock a serving hub holds on its directory, so a second hub
// started on another port over the same tables is refused instead of writing beside it.

import Foundation
import POSIXFiles

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on `hub.lock` in the hub directory, held while the hub serves; the
/// file says which process and endpoint hold it. The kernel drops the lock when the process
/// dies, so a crashed hub never leaves its directory locked.
final class HubDirectoryLock {
    private var descriptor: Int32

    /// Takes the lock for the hub serving `endpoint`, or throws a ``HubError`` naming the
    /// holder.
    init(directory: String, endpoint: String) throws(HubError) {
        let path = (directory as NSString).appendingPathComponent("hub.lock")
        let descriptor = try Self.openLockFile(path, permissions: 0o644)
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            defer { close(descriptor) }
            guard reason == EWOULDBLOCK else {
                throw HubError(.database, "cannot lock \(path): \(String(cString: strerror(reason)))")
            }
            // Read from the file locked, not from whatever the name leads to now.
            let holder = String(
                decoding: FileHandle(fileDescriptor: descriptor, closeOnDealloc: false).readDataToEndOfFile(),
                as: UTF8.self
            ).trimmingCharacters(in: .whitespacesAndNewlines) as String?
            throw HubError(
                .directoryInUse,
                "the hub directory \(directory) is in use by another hub"
                    + (holder.map {
                        // Empty: the holder could not write its line (a full disk), or is writing it.
                        $0.isEmpty ? " (its lock file names no process: a full disk keeps a hub from writing it; fuser or lsof on the file finds the holder)" : " (\($0))"
                    } ?? "")
                    + "; give each hub its own --dir")
        }
        self.descriptor = descriptor
        let holder = FileHandle(fileDescriptor: descriptor, closeOnDealloc: false)
        _ = ftruncate(descriptor, 0)
        try? holder.seek(toOffset: 0)
        try? holder.write(contentsOf: Data("pid \(getpid()) serving \(endpoint)\n".utf8))
    }

    /// Opens (creating if needed, with `permissions`) the lock file `path` of the hub
    /// directory: a regular file, never followed through a symbolic link, which could
    /// otherwise have the hub overwrite (and empty, at its stop) a file elsewhere. One this
    /// hub's user may not open for writing is refused naming its owner and mode, and the fix.
    static func openLockFile(_ path: String, permissions: UInt32) throws(HubError) -> Int32 {
        do {
            return try POSIXFile.openRegularFileForWriting(atPath: path, creatingWith: permissions)
        } catch where error.code == .notRegularFile {
            throw HubError(
                .database,
                "cannot use \(path) as a lock file: \(error.reason); remove it, and the hub makes the file itself")
        } catch {
            guard let errorNumber = error.systemErrorNumber, errorNumber == EACCES || errorNumber == EPERM else {
                throw HubError(.database, "cannot use \(path) as a lock file: \(error.reason)")
            }
            // What the file is, for the message only: the open has failed already.
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            let owner = (attributes?[.ownerAccountID] as? NSNumber).map { id in
                FileUser(id: id.uint32Value, name: attributes?[.ownerAccountName] as? String)
            }
            throw unwritableLockFile(
                path, errorNumber: errorNumber, owner: owner,
                permissions: (attributes?[.posixPermissions] as? NSNumber)?.uint32Value)
        }
    }

    /// A user, by id and, when the system's user database has it, by name.
    struct FileUser: Equatable {
        var id: UInt32
        var name: String?

        /// The user this hub runs as.
        static var hub: FileUser {
            // The name is the uid when the system's user database has none.
            FileUser(id: geteuid(), name: ProcessStart.userName == String(geteuid()) ? nil : ProcessStart.userName)
        }

        /// How a message names the user: the name, else `uid N`.
        var shown: String { name ?? "uid \(id)" }
        /// How a message names the user, said to be one: `user NAME`, else `uid N`.
        var shownAsUser: String { name.map { "user \($0)" } ?? "uid \(id)" }
        /// How `chown` takes the user: the name, else the id.
        var chownArgument: String { name ?? String(id) }
    }

    /// The refusal of the lock file `path`, which this hub's user (`user`) may not open for
    /// writing: `errorNumber` says why (`EACCES`: its owner, `owner`, and mode, `permissions`,
    /// when known; `EPERM`: an immutable flag), and the message what to change. The hub
    /// directory is the hub's user's own and writable (checked before), so removing the file
    /// is a way out, but for an immutable one.
    static func unwritableLockFile(
        _ path: String, errorNumber: Int32, owner: FileUser?, permissions: UInt32?, user: FileUser = .hub
    ) -> HubError {
        let refused = "cannot use \(path) as a lock file: \(String(cString: strerror(errorNumber)))"
        guard errorNumber == EACCES else {
            return HubError(
                .database, "\(refused), as for an immutable file (lsattr \(path) shows an i): run chattr -i \(path)")
        }
        let file = [owner.map { "owned by \($0.shown)" }, permissions.map { "mode \(POSIXFile.octal($0))" }]
            .compactMap { $0 }.joined(separator: ", ")
        let who = (file.isEmpty ? "" : file + "; ") + "this hub runs as \(user.shownAsUser)"
        let remove = "remove it, and the hub makes the file itself"
        let fix: String
        if let owner, owner.id == user.id {
            // Its own file: the mode keeps it out, else something the mode does not show.
            let modeKeepsOut = permissions.map { $0 & 0o200 == 0 } ?? false
            fix = modeKeepsOut ? "run chmod u+w \(path), or \(remove)" : remove
        } else {
            fix = "give the file to the hub's user (chown \(user.chownArgument) \(path), as root), or \(remove)"
        }
        return HubError(.database, "\(refused) (\(who)): \(fix)")
    }

    /// Releases the lock (and leaves the file, which the next hub reuses). Idempotent.
    func release() {
        guard descriptor >= 0 else { return }
        _ = ftruncate(descriptor, 0)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
