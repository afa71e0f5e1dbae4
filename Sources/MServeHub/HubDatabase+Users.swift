import GRDB

/// How a kdb+ user's password is stored in the hub: always as a hex digest, never as plain text.
public enum PasswordDigestKind: String, Sendable, Hashable, CaseIterable {
    /// The SHA-1 of the password, 40 hex digits.
    case sha1
    /// The SHA-256 of the password, 64 hex digits.
    case sha256

    /// The number of hex digits of a digest of this kind.
    public var hexDigits: Int {
        switch self {
        case .sha1: 40
        case .sha256: 64
        }
    }

    /// The kind of `digest` (hex text): by its length; nil when it is not 40 or 64 hex digits.
    public init?(digest: String) {
        guard digest.allSatisfy(\.isHexDigit) else { return nil }
        switch digest.count {
        case 40: self = .sha1
        case 64: self = .sha256
        default: return nil
        }
    }
}

/// One kdb+ IPC user in the hub's `users` table: a name and the hex digest of its password.
public struct HubUser: Sendable, Hashable {
    /// The user name, as the client sends it in the kdb+ handshake.
    public var name: String
    /// The lower-case hex SHA-1 or SHA-256 digest of the password.
    public var digest: String

    /// Creates an entry (the digest is kept in lower case).
    public init(name: String, digest: String) {
        self.name = name
        self.digest = digest.lowercased()
    }

    /// The digest's kind; nil for a digest of neither length.
    public var kind: PasswordDigestKind? { PasswordDigestKind(digest: digest) }
}

extension HubDatabase {
    /// Adds the kdb+ user `name` with the hex password digest `digest` (SHA-1 or SHA-256),
    /// replacing a user of the same name.
    public func addUser(name: String, digest: String, at time: Int64) throws(HubError) {
        guard !name.isEmpty, !name.contains(":"), !name.contains(where: \.isWhitespace) else {
            throw HubError(.refused, "'\(name)' is not a user name (it needs characters, and no ':' or spaces)")
        }
        guard PasswordDigestKind(digest: digest) != nil else {
            throw HubError(.refused, "a password digest is 40 (SHA-1) or 64 (SHA-256) hex digits, not '\(digest)'")
        }
        try write("add a user") { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO users (name, digest, added) VALUES (?, ?, ?)",
                arguments: [name, digest.lowercased(), time])
        }
    }

    /// Removes the kdb+ user `name`; returns whether there was one.
    @discardableResult
    public func removeUser(name: String) throws(HubError) -> Bool {
        try write("remove a user") { db in
            try db.execute(sql: "DELETE FROM users WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    /// Every kdb+ user, by name.
    public func users() throws(HubError) -> [HubUser] {
        try read("read the users") { db in
            try Row.fetchAll(db, sql: "SELECT name, digest FROM users ORDER BY name").map {
                HubUser(name: $0["name"], digest: $0["digest"])
            }
        }
    }
}
