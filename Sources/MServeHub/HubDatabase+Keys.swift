import GRDB
import ZeroMQ

/// What an allowed CURVE key may be used for. A process checks the role of every key it admits:
/// the hub takes a servant's registration only from a `servant` key and a broker's only from a
/// `broker` key, a servant admits only `broker` keys, and a broker admits only `client` keys on
/// its client socket and uses only servants serving with a `servant` key. `any` may do all of it.
///
/// Extensible: a role this version does not know (one listed by a newer hub) admits nothing.
public struct KeyRole: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The role's name, as stored and sent.
    public let rawValue: String

    /// A role with this name; use ``init(validating:)`` to refuse names this version does not know.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Sends queries to brokers.
    public static let client = KeyRole(rawValue: "client")
    /// Serves queries: registers as a servant and is used by brokers.
    public static let servant = KeyRole(rawValue: "servant")
    /// Balances queries: registers as a broker and reaches servants.
    public static let broker = KeyRole(rawValue: "broker")
    /// Any of the roles: how keys allowed before keys had roles are read.
    public static let any = KeyRole(rawValue: "any")

    /// The roles a key can be allowed in.
    public static let known: [KeyRole] = [.client, .servant, .broker, .any]

    /// The role of a key allowed without one: `client`, the least a key can do, so a key never
    /// gets more than it was allowed for by accident.
    public static let `default` = KeyRole.client

    /// A known role by name; throws ``HubError/Code/refused`` naming the known roles otherwise.
    public init(validating name: String) throws(HubError) {
        let role = KeyRole(rawValue: name)
        guard Self.known.contains(role) else {
            throw HubError(
                .refused,
                "unknown key role '\(name)'; a key's role is one of \(Self.known.map(\.rawValue).joined(separator: ", "))")
        }
        self = role
    }

    /// The role a spoke's key needs to register as `spokeRole` (`servant` or `broker`); nil
    /// for spokes of other roles, which nobody trusts for what they register.
    public init?(registeringAs spokeRole: String) {
        switch spokeRole {
        case SpokeRole.servant: self = .servant
        case SpokeRole.broker: self = .broker
        default: return nil
        }
    }

    /// Whether a key with this role may be used as `use` (`any` may be used as everything).
    public func permits(_ use: KeyRole) -> Bool {
        self == use || self == .any
    }

    /// The raw value.
    public var description: String { rawValue }
}

/// One admitted CURVE public key in the hub's `allowed_keys` table.
public struct AllowedKey: Sendable, Hashable {
    /// The name it was allowed under (a servant's, broker's or client's).
    public var name: String
    /// The Z85 public key (40 characters).
    public var key: String
    /// What the key may be used for.
    public var role: KeyRole

    /// Creates an entry.
    public init(name: String, key: String, role: KeyRole) {
        self.name = name
        self.key = key
        self.role = role
    }

    /// The keys of `keys` that may be used as `use`, as a ZAP key list's contents (public key → name).
    public static func keyList(_ keys: [AllowedKey], permitting use: KeyRole) -> [String: String] {
        Dictionary(
            keys.filter { $0.role.permits(use) }.map { ($0.key, $0.name) }, uniquingKeysWith: { _, last in last })
    }
}

extension HubDatabase {
    /// Admits `key` under `name` in `role`, replacing a key of the same name.
    public func allow(name: String, key: String, role: KeyRole = .default, at time: Int64) throws(HubError) {
        guard !name.isEmpty else { throw HubError(.refused, "a key needs a name") }
        // The hub's own key is admitted under this name, with the right to allow and revoke:
        // another key by that name would share it.
        guard name != HubAdmission.adminUserID else {
            throw HubError(.refused, "'\(name)' names the hub's own key; choose another name")
        }
        guard SpokeRegistration.textProblem(name, field: "key name", longest: SpokeRegistration.longestName) == nil else {
            throw HubError(.refused, "a key name is at most 255 bytes, without control or bidirectional formatting characters")
        }
        guard isZ85Key(key) else {
            throw HubError(.refused, "'\(key.prefix(48))' is not a 40-character Z85 public key")
        }
        let role = try KeyRole(validating: role.rawValue)
        try write("allow a key") { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO allowed_keys (name, key, added, role) VALUES (?, ?, ?, ?)",
                arguments: [name, key, time, role.rawValue])
        }
    }

    /// Stops admitting the key named `name`; returns whether there was one.
    @discardableResult
    public func revoke(name: String) throws(HubError) -> Bool {
        try write("revoke a key") { db in
            try db.execute(sql: "DELETE FROM allowed_keys WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    /// Every admitted key, by name.
    public func allowedKeys() throws(HubError) -> [AllowedKey] {
        try read("read the allowed keys") { db in
            try Row.fetchAll(db, sql: "SELECT name, key, role FROM allowed_keys ORDER BY name").map {
                AllowedKey(name: $0["name"], key: $0["key"], role: KeyRole(rawValue: $0["role"]))
            }
        }
    }
}
