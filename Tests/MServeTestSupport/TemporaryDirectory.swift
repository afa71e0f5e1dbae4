// The directories tests make under the temporary directory, each removed when its test ends,
// whether it passed or failed: a test run leaves the temporary directory as it found it.

import Foundation

/// Runs `body` with the path of a new empty directory under the temporary directory, named
/// `PREFIX-UUID` and the owner's alone (0700, whatever the umask: a hub or a plugin loader
/// refuses a directory others may write), then removes the directory and everything in it,
/// whether `body` returns or throws. Stop whatever writes into it (a hub, a process) inside
/// `body`, so that nothing writes there once it is removed.
public func withTemporaryDirectory<Result>(_ prefix: String, _ body: (String) throws -> Result) throws -> Result {
    let path = try TemporaryDirectory.make(prefix)
    defer { TemporaryDirectory.remove(path) }
    return try body(path)
}

/// Runs `body` with the path of a new empty directory under the temporary directory, named
/// `PREFIX-UUID` and the owner's alone (0700), then removes the directory and everything in
/// it, whether `body` returns or throws. Stop whatever writes into it (a hub, a process) inside
/// `body`, so that nothing writes there once it is removed.
public func withTemporaryDirectory<Result>(
    _ prefix: String, isolation: isolated (any Actor)? = #isolation, _ body: (String) async throws -> Result
) async throws -> Result {
    let path = try TemporaryDirectory.make(prefix)
    defer { TemporaryDirectory.remove(path) }
    return try await body(path)
}

/// Making and removing the directories of ``withTemporaryDirectory(_:_:)``.
enum TemporaryDirectory {
    /// Creates `TMPDIR/PREFIX-UUID`, mode 0700; returns its path.
    static func make(_ prefix: String) throws -> String {
        let path = NSTemporaryDirectory() + prefix + "-" + UUID().uuidString
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return path
    }

    /// Removes `path` and everything in it, also directories a test made unreadable or
    /// unwritable (to check a refusal): those are made the owner's to change first.
    static func remove(_ path: String) {
        if (try? FileManager.default.removeItem(atPath: path)) != nil { return }
        makeRemovable(path)
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Gives the owner every right on each directory under `path` (symbolic links not followed).
    private static func makeRemovable(_ path: String) {
        guard let type = try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType,
            type == .typeDirectory
        else { return }
        chmod(path, 0o700)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
            makeRemovable(path + "/" + entry)
        }
    }
}
