import Foundation
import POSIXFiles

/// The proof of being the hub's operator when the hub runs without CURVE keys: a random token
/// the hub writes at start to `admin.token` in its directory, readable only by the hub's user
/// (created 0600 from the start, never 0644 for a moment). The admin commands (`ALLOW`,
/// `REVOKE`, `ADDUSER`, `REMOVEUSER`) must carry it as `token`; anyone who can read the file
/// is the operator. A secured hub takes them from its own key instead.
public enum HubAdminToken {
    /// The token file's name in the hub directory.
    public static let fileName = "admin.token"

    /// The token file of the hub directory `directory`.
    public static func path(directory: String) -> String {
        (directory as NSString).appendingPathComponent(fileName)
    }

    /// Writes a new random token to the hub directory (replacing the previous hub's) and
    /// returns it. The file is created exclusively with mode 0600: a file planted in its place
    /// (a link, say) is removed first, never written through.
    static func create(directory: String) throws(HubError) -> String {
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
        let path = path(directory: directory)
        if unlink(path) != 0 && errno != ENOENT {
            throw HubError(.database, "cannot replace the admin token \(path): \(String(cString: strerror(errno)))")
        }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw HubError(.database, "cannot create the admin token \(path): \(String(cString: strerror(errno)))")
        }
        let file = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try file.write(contentsOf: Data((token + "\n").utf8))
            try file.close()
        } catch {
            throw HubError(.database, "cannot write the admin token \(path): \(error)")
        }
        return token
    }

    /// The token of the hub serving `directory`; nil when there is none, this user may not
    /// read it, or it is not a regular file (a FIFO in its place is not waited on).
    public static func read(directory: String) -> String? {
        guard let contents = try? POSIXFile.read(atPath: path(directory: directory), limit: 4096),
            let text = String(validating: contents.bytes, as: UTF8.self)
        else { return nil }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return token.isEmpty ? nil : token
    }

    /// Removes the token file of `directory`, if there is one (a hub with keys has none).
    static func remove(directory: String) {
        unlink(path(directory: directory))
    }

    /// Whether `given` is `token`, compared in time independent of where they differ; never
    /// when `token` is empty (a hub with keys has none).
    static func matches(_ given: String?, _ token: String) -> Bool {
        guard !token.isEmpty else { return false }
        let given = Array((given ?? "").utf8)
        let expected = Array(token.utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for index in expected.indices {
            difference |= expected[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }
}

extension HubCommand {
    /// The commands that change the hub's state on the operator's behalf (rather than a
    /// spoke's own registration): allowed keys and kdb+ users. They need the hub's own key on a
    /// secured hub, the admin token (``HubAdminToken``) on any other.
    public static let administrative: Set<HubCommand> = [.allow, .revoke, .addUser, .removeUser]

    /// Whether the command is one of ``administrative``.
    public var isAdministrative: Bool { Self.administrative.contains(self) }
}
