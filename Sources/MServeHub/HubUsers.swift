import Logging
import MServePasswords
import MServeProtocol
import QData

/// The hub's side of the kdb+ users: serves ADDUSER, REMOVEUSER and USERS from the `users`
/// table. Only salted slow hashes of the passwords (``PasswordHash``) are stored and sent,
/// never a plain password or a fast digest.
enum HubUsers {
    /// The answer to ADDUSER, REMOVEUSER or USERS: the users after the change, or an ERROR.
    static func handle(_ message: HubMessage, database: HubDatabase, logger: Logger) -> HubMessage {
        let name = message.text("name") ?? ""
        do {
            switch message.command {
            case .addUser:
                // `digest`: a hex SHA digest, as an older `mserve hub user add` sends it.
                let hash = message.text("hash") ?? message.text("digest") ?? ""
                try database.addUser(name: name, hash: hash, at: QueryClock.qTimestampNow())
                logger.notice("kdb+ user added", metadata: ["name": "\(name)"])
            case .removeUser:
                guard try database.removeUser(name: name) else {
                    return HubMessage(.error, [("message", .string("no user is named '\(name)'"))])
                }
                logger.notice("kdb+ user removed", metadata: ["name": "\(name)"])
            default:
                break
            }
            return answer(try database.users())
        } catch {
            return HubMessage(.error, [("message", .string(error.message))])
        }
    }

    /// The USERS answer: `name` and `hash` symbols, in name order.
    static func answer(_ users: [HubUser]) -> HubMessage {
        HubMessage(
            .users, [("name", .vector(.symbol(users.map(\.name)))), ("hash", .vector(.symbol(users.map(\.hash))))])
    }

    /// Reads a USERS answer (from an older hub, `digest` instead of `hash`).
    static func users(from answer: HubMessage) throws(HubError) -> [HubUser] {
        guard answer.command == .users else {
            throw HubError(.malformed, "expected USERS, got \(answer.command.rawValue)")
        }
        var names: [String] = []
        var hashes: [String] = []
        if case .vector(.symbol(let given), _)? = answer["name"] { names = given }
        if case .vector(.symbol(let given), _)? = answer["hash"] ?? answer["digest"] { hashes = given }
        guard names.count == hashes.count else {
            throw HubError(.malformed, "USERS with \(names.count) names and \(hashes.count) hashes")
        }
        return zip(names, hashes).map { HubUser(name: $0, hash: $1) }
    }
}

extension HubClient {
    /// Adds (or replaces) the kdb+ user `name` whose password is kept as `hash`: the text form
    /// of a ``PasswordHash``, or a hex SHA-1 or SHA-256 digest of the password, which the hub
    /// wraps in one (needs the hub's own key when security is on); returns the users.
    public func addUser(name: String, hash: String) async throws -> [HubUser] {
        try HubUsers.users(
            from: try await request(
                HubMessage(.addUser, [("name", .atom(.symbol(name))), ("hash", .atom(.symbol(hash)))])))
    }

    /// Adds (or replaces) the kdb+ user `name` whose password has the hex SHA-1 or SHA-256
    /// digest `digest`, which the hub keeps wrapped in a ``PasswordHash``: the same as
    /// ``addUser(name:hash:)`` given the digest. Returns the users.
    public func addUser(name: String, digest: String) async throws -> [HubUser] {
        try await addUser(name: name, hash: digest)
    }

    /// Removes the kdb+ user `name`; returns the users left.
    public func removeUser(name: String) async throws -> [HubUser] {
        try HubUsers.users(from: try await request(HubMessage(.removeUser, [("name", .atom(.symbol(name)))])))
    }

    /// The kdb+ users with their password hashes, by name.
    public func users() async throws -> [HubUser] {
        try HubUsers.users(from: try await request(HubMessage(.users)))
    }
}
