import Foundation
public import MServePasswords
import POSIXFiles

/// How a kdb+ user's password is stored.
public enum StoredPassword: Sendable, Hashable {
    /// The password itself (a plain-text line of a users file).
    case plain(String)
    /// The SHA-1 of the password (a 40-hex-digit line of a users file).
    case sha1([UInt8])
    /// The SHA-256 of the password (a 64-hex-digit line of a users file).
    case sha256([UInt8])
    /// A salted, slow hash (the hub's users).
    case hashed(PasswordHash)

    /// What a users-file line's password text stores: 40 or 64 hex digits are a digest (only a
    /// password that hashes to it logs in), anything else is the password itself.
    public init(usersFileText text: String) {
        if let bytes = PasswordDigest.bytes(hex: text) {
            switch bytes.count {
            case 20:
                self = .sha1(bytes)
                return
            case 32:
                self = .sha256(bytes)
                return
            default:
                break
            }
        }
        self = .plain(text)
    }

    /// What a hub `USERS` answer's text stores: a ``PasswordHash`` text form, or (from a hub of
    /// an older version) a SHA-1 or SHA-256 hex digest; nil for anything else, so that no
    /// password is ever compared with the stored text itself.
    public init?(hubText text: String) {
        if let hash = PasswordHash(text) {
            self = .hashed(hash)
            return
        }
        switch StoredPassword(usersFileText: text) {
        case .plain, .hashed: return nil
        case let digest: self = digest
        }
    }

    /// Whether checking a password against this takes long (a slow hash) and belongs off the
    /// broker's loop.
    public var isSlow: Bool {
        if case .hashed = self { return true }
        return false
    }

    /// Whether `password`, as a client sent it, is the stored one. Plain text and digests are
    /// compared in a time that does not depend on where they differ; a slow hash takes its
    /// rounds.
    public func verifies(password: String) -> Bool {
        let given = Array(password.utf8)
        switch self {
        case .plain(let stored):
            // Hashing both first makes the comparison's time independent of the stored length too.
            return PasswordDigest.constantTimeEqual(PasswordDigest.sha256(given), PasswordDigest.sha256(Array(stored.utf8)))
        case .sha1(let digest): return PasswordDigest.constantTimeEqual(PasswordDigest.sha1(given), digest)
        case .sha256(let digest): return PasswordDigest.constantTimeEqual(PasswordDigest.sha256(given), digest)
        case .hashed(let hash): return hash.verifies(password: password)
        }
    }
}

/// The users a kdb+ IPC client may log in as: read from a kdb+ `-u` style file, or the hub's.
///
/// A users file has one `user:password` per line. A password of exactly 40 or 64 hex digits
/// (either case) is the SHA-1 or SHA-256 digest of the password: only a client sending a
/// password with that digest logs in (not one sending the digest). Any other password is
/// plain text and is compared as it is. Blank lines and lines starting with `/` (a q comment)
/// are skipped.
public struct KdbUsers: Sendable, Hashable {
    /// Each user's stored password, by user name.
    public var passwords: [String: StoredPassword]

    /// Users with these stored passwords.
    public init(passwords: [String: StoredPassword]) {
        self.passwords = passwords
    }

    /// Parses the text of a users file.
    public init(parsing text: String) throws(BrokerError) {
        var passwords: [String: StoredPassword] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("/") { continue }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw BrokerError(.configuration, "users file line \(number + 1): expected user:password")
            }
            passwords[String(line[..<colon])] = StoredPassword(
                usersFileText: String(line[line.index(after: colon)...]))
        }
        self.passwords = passwords
    }

    /// Reads a users file, refusing one its group or other users have any permission on, and
    /// one that a user other than root or the broker's own could change or replace: the file,
    /// or the directory holding it, belongs to another user, or the directory's group or
    /// other users may write it (a sticky one such as /tmp included), as plugin files are
    /// judged. A symbolic link is judged by the file it leads to.
    public init(contentsOf path: String) throws(BrokerError) {
        // The file read, and so the directory judged, is the one the path leads to.
        let resolved = POSIXFile.resolvedPath(path) ?? path
        let shownAs = resolved == path ? path : "\(path) (a link to \(resolved))"
        let contents: FileContents
        do {
            contents = try POSIXFile.read(atPath: resolved, limit: 16 << 20)
        } catch {
            throw BrokerError(.configuration, "cannot read the users file \(path): \(error.reason)")
        }
        // The mode of the very file read: plain passwords or unsalted digests, and whoever may
        // change the file may add a user of their own.
        guard contents.permissions & 0o077 == 0 else {
            throw BrokerError(
                .configuration,
                "the users file \(shownAs) has mode \(POSIXFile.octal(contents.permissions)), so "
                    + "\(POSIXFile.exposure(contents.permissions)) (its passwords are secrets, and whoever may write it may "
                    + "add a user): it must be readable by the broker's user only; run chmod 600 \(path)")
        }
        // Whoever may write the directory of a link given for it may point the link elsewhere.
        if let refusal = POSIXFile.linkRefusal(given: path, resolved: resolved, what: "users file") {
            throw BrokerError(.configuration, refusal)
        }
        // Its owner may rewrite it and change its mode; whoever may write its directory may put
        // a file of their own in its place.
        if let refusal = POSIXFile.controlRefusal(
            atPath: resolved, what: "users file", shownAs: shownAs,
            read: contents, fileHarm: "add a kdb+ user (and read the passwords)",
            directoryHarm: "put a users file of their own in its place (and add a kdb+ user)",
            otherwise: "give a users file of this user's own")
        {
            throw BrokerError(.configuration, refusal)
        }
        guard let text = String(validating: contents.bytes, as: UTF8.self) else {
            throw BrokerError(.configuration, "cannot read the users file \(path): it is not UTF-8 text")
        }
        try self.init(parsing: text)
    }

    /// Whether `user` may log in with `password` (as the client sent it, in plain text). Slow
    /// for a user stored as a slow hash: the door checks those off its loop (``KdbLoginChecker``).
    public func accepts(user: String, password: String) -> Bool {
        passwords[user]?.verifies(password: password) ?? false
    }
}
