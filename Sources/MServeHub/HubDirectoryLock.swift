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
                    + (holder.map { $0.isEmpty ? "" : " (\($0))" } ?? "")
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
    /// otherwise have the hub overwrite (and empty, at its stop) a file elsewhere.
    static func openLockFile(_ path: String, permissions: UInt32) throws(HubError) -> Int32 {
        do {
            return try POSIXFile.openRegularFileForWriting(atPath: path, creatingWith: permissions)
        } catch where error.code == .notRegularFile {
            throw HubError(
                .database,
                "cannot use \(path) as a lock file: \(error.reason); remove it, and the hub makes the file itself")
        } catch {
            throw HubError(.database, "cannot use \(path) as a lock file: \(error.reason)")
        }
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
