import GRDB
import MServePasswords

/// The kinds of password digest a kdb+ `-u` file holds, which `mserve hub user add --sha1` and
/// `--sha256` take (the hub keeps them only inside a slow hash, ``PasswordHash``).
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

/// One kdb+ IPC user in the hub's `users` table: a name and its password's salted slow hash.
public struct HubUser: Sendable, Hashable {
    /// The user name, as the client sends it in the kdb+ handshake.
    public var name: String
    /// The text form of the password's ``PasswordHash`` (from a hub of an older version, a hex
    /// SHA-1 or SHA-256 digest).
    public var hash: String

    /// Creates an entry.
    public init(name: String, hash: String) {
        self.name = name
        self.hash = hash
    }

    /// How the password is kept, for listings: `pbkdf2-sha256` (of the password),
    /// `pbkdf2-sha256/sha1` or `pbkdf2-sha256/sha256` (of a digest given for it), or `?`.
    public var kind: String {
        guard let parsed = PasswordHash(hash) else { return "?" }
        return String(parsed.description.prefix { $0 != "$" })
    }
}

extension HubDatabase {
    /// Adds the kdb+ user `name` whose password is kept as `hash`, replacing a user of the same
    /// name. `hash` is the text form of a ``PasswordHash``, or a hex SHA-1 (40 digits) or SHA-256
    /// (64 digits) digest of the password, which the hub keeps wrapped in a ``PasswordHash``
    /// (never as it is).
    public func addUser(name: String, hash: String, at time: Int64) throws(HubError) {
        guard !name.isEmpty, name.count <= 256, !name.contains(":"), !name.contains(where: \.isWhitespace),
            SpokeRegistration.textProblem(name, field: "user name", longest: 1_024) == nil
        else {
            throw HubError(
                .refused, "'\(name.prefix(64))' is not a user name (it needs characters, and no ':', spaces, control or bidirectional formatting characters)")
        }
        guard let stored = PasswordHash(hash) ?? PasswordHash(wrappingDigest: hash) else {
            throw HubError(
                .refused,
                "a password is kept as a PBKDF2 hash (pbkdf2-sha256$ROUNDS$SALT$HASH with "
                    + "\(PasswordHash.roundsAllowed.lowerBound) to \(PasswordHash.roundsAllowed.upperBound) rounds) "
                    + "or given as a 40 (SHA-1) or 64 (SHA-256) hex digit digest")
        }
        try write("add a user") { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO users (name, hash, added) VALUES (?, ?, ?)",
                arguments: [name, stored.description, time])
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
            try Row.fetchAll(db, sql: "SELECT name, hash FROM users ORDER BY name").map {
                HubUser(name: $0["name"], hash: $0["hash"])
            }
        }
    }

    /// The schema change to slow password hashes: the `digest` column becomes `hash`, and each
    /// SHA-1 or SHA-256 digest stored by an older version is wrapped in a ``PasswordHash`` of it,
    /// so no fast digest stays on disk and every user keeps its password.
    static func migrateUsersToPasswordHashes(_ db: Database) throws {
        try db.execute(sql: "ALTER TABLE users RENAME COLUMN digest TO hash")
        for row in try Row.fetchAll(db, sql: "SELECT name, hash FROM users") {
            let name: String = row["name"]
            let old: String = row["hash"]
            guard PasswordHash(old) == nil else { continue }
            if let wrapped = PasswordHash(wrappingDigest: old) {
                try db.execute(sql: "UPDATE users SET hash = ? WHERE name = ?", arguments: [wrapped.description, name])
            } else {
                // Nothing a password could match: the user could never log in.
                try db.execute(sql: "DELETE FROM users WHERE name = ?", arguments: [name])
            }
        }
    }
}
