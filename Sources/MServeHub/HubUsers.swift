import Logging
import MServeProtocol
import QData

/// The hub's side of the kdb+ users: serves ADDUSER, REMOVEUSER and USERS from the `users`
/// table. Only password digests are stored and sent, never a plain password.
enum HubUsers {
    /// The answer to ADDUSER, REMOVEUSER or USERS: the users after the change, or an ERROR.
    static func handle(_ message: HubMessage, database: HubDatabase, logger: Logger) -> HubMessage {
        let name = message.text("name") ?? ""
        do {
            switch message.command {
            case .addUser:
                let digest = message.text("digest") ?? ""
                try database.addUser(name: name, digest: digest, at: QueryClock.qTimestampNow())
                logger.notice(
                    "kdb+ user added",
                    metadata: ["name": "\(name)", "digest": "\(PasswordDigestKind(digest: digest)?.rawValue ?? "")"])
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

    /// The USERS answer: `name` and `digest` symbols, in name order.
    static func answer(_ users: [HubUser]) -> HubMessage {
        HubMessage(
            .users, [("name", .vector(.symbol(users.map(\.name)))), ("digest", .vector(.symbol(users.map(\.digest))))])
    }

    /// Reads a USERS answer.
    static func users(from answer: HubMessage) throws(HubError) -> [HubUser] {
        guard answer.command == .users else {
            throw HubError(.malformed, "expected USERS, got \(answer.command.rawValue)")
        }
        var names: [String] = []
        var digests: [String] = []
        if case .vector(.symbol(let given), _)? = answer["name"] { names = given }
        if case .vector(.symbol(let given), _)? = answer["digest"] { digests = given }
        guard names.count == digests.count else {
            throw HubError(.malformed, "USERS with \(names.count) names and \(digests.count) digests")
        }
        return zip(names, digests).map { HubUser(name: $0, digest: $1) }
    }
}

extension HubClient {
    /// Adds (or replaces) the kdb+ user `name` whose password has the hex SHA-1 or SHA-256
    /// digest `digest` (needs the hub's own key when security is on); returns the users.
    public func addUser(name: String, digest: String) async throws -> [HubUser] {
        try HubUsers.users(
            from: try await request(
                HubMessage(.addUser, [("name", .atom(.symbol(name))), ("digest", .atom(.symbol(digest)))])))
    }

    /// Removes the kdb+ user `name`; returns the users left.
    public func removeUser(name: String) async throws -> [HubUser] {
        try HubUsers.users(from: try await request(HubMessage(.removeUser, [("name", .atom(.symbol(name)))])))
    }

    /// The kdb+ users with their password digests, by name.
    public func users() async throws -> [HubUser] {
        try HubUsers.users(from: try await request(HubMessage(.users)))
    }
}
