import GRDB

/// One admitted CURVE public key in the hub's `allowed_keys` table.
public struct AllowedKey: Sendable, Hashable {
    /// The name it was allowed under (a servant's, broker's or client's).
    public var name: String
    /// The Z85 public key (40 characters).
    public var key: String

    /// Creates an entry.
    public init(name: String, key: String) {
        self.name = name
        self.key = key
    }
}

extension HubDatabase {
    /// Admits `key` under `name`, replacing a key of the same name.
    public func allow(name: String, key: String, at time: Int64) throws(HubError) {
        guard !name.isEmpty else { throw HubError(.refused, "a key needs a name") }
        guard key.utf8.count == 40 else { throw HubError(.refused, "'\(key)' is not a 40-character Z85 public key") }
        try write("allow a key") { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO allowed_keys (name, key, added) VALUES (?, ?, ?)",
                arguments: [name, key, time])
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
            try Row.fetchAll(db, sql: "SELECT name, key FROM allowed_keys ORDER BY name").map {
                AllowedKey(name: $0["name"], key: $0["key"])
            }
        }
    }
}
