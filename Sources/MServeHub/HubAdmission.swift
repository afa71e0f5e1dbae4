import Logging
import MServeProtocol
import QData
import ZeroMQ

/// The hub's side of admission: with a CURVE key pair configured, makes the hub socket a CURVE
/// server and answers ZAP requests from the `allowed_keys` table (cached, updated on ALLOW and
/// REVOKE), admitting a listed key whatever its role; serves ALLOW, REVOKE and KEYS whether
/// security is on or not. The roles are checked where a key is used (``role(ofPeer:)``).
final class HubAdmission {
    /// The User-Id of the hub's own key: the only one that may ALLOW and REVOKE.
    static let adminUserID = "hub-admin"

    private let keyList = ZAPKeyList()
    /// The allowed keys by name (the User-Id of their connections), for their roles.
    private var keysByName: [String: AllowedKey] = [:]
    private let ownKey: String?
    private let handler: ZAPHandler?

    init(
        context: ZMQContext, socket: ZMQSocket, configuration: HubConfiguration, database: HubDatabase,
        logger: Logger
    ) throws {
        ownKey = configuration.curve?.publicKey
        guard let curve = configuration.curve else {
            handler = nil
            return
        }
        let keyList = self.keyList
        let ownKey = curve.publicKey
        handler = try ZAPHandler(context: context) { request in
            if request.publicKey == ownKey { return .admit(as: Self.adminUserID) }
            if let name = keyList.name(of: request.publicKey) { return .admit(as: name) }
            logger.warning(
                "refused a peer: its key is not allowed",
                metadata: ["key": "\(request.publicKey)", "address": "\(request.address)"])
            return .refuse
        }
        do {
            try socket.setCurveServer(secretKey: curve.secretKey)
            try reload(database)
        } catch {
            handler?.stop()
            throw error
        }
    }

    /// Whether the hub speaks CURVE and admits only allowed keys.
    var isSecured: Bool { handler != nil }

    /// The name under which `key` is allowed (the User-Id its connections carry), if it is.
    func name(ofKey key: String) -> String? { keyList.name(of: key) }

    /// The allowed key of the peer whose connection carries `userID`: the hub's own key is
    /// allowed in every role; nil when no key is allowed under that name (any more).
    func key(ofPeer userID: String) -> AllowedKey? {
        if userID == Self.adminUserID, let ownKey { return AllowedKey(name: userID, key: ownKey, role: .any) }
        return keysByName[userID]
    }

    private func reload(_ database: HubDatabase) throws(HubError) {
        // A key stored under the hub's own name (by a release that did not refuse it) is
        // not admitted: it would have the hub key's rights.
        let allowed = try database.allowedKeys().filter { $0.name != Self.adminUserID }
        // Every process talks to the hub, so the hub admits a listed key whatever its role.
        var keys = Dictionary(allowed.map { ($0.key, $0.name) }, uniquingKeysWith: { _, last in last })
        if let ownKey { keys[ownKey] = Self.adminUserID }
        keyList.replace(keys)
        keysByName = Dictionary(allowed.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// The answer to ALLOW, REVOKE or KEYS.
    func handle(_ message: HubMessage, database: HubDatabase, logger: Logger) -> HubMessage {
        let name = message.text("name") ?? ""
        do {
            switch message.command {
            case .allow:
                // An ALLOW without a role (from an older mserve) gets the default, the least role.
                let roleName = message.text("role") ?? ""
                let role = roleName.isEmpty ? KeyRole.default : try KeyRole(validating: roleName)
                try database.allow(name: name, key: message.text("key") ?? "", role: role, at: QueryClock.qTimestampNow())
                logger.notice(
                    "key allowed", metadata: ["name": "\(name)", "key": "\(message.text("key") ?? "")", "role": "\(role)"])
            case .revoke:
                guard try database.revoke(name: name) else {
                    return HubMessage(.error, [("message", .string("no allowed key is named '\(name)'"))])
                }
                logger.notice("key revoked", metadata: ["name": "\(name)"])
            default:
                break
            }
            try reload(database)
            let keys = try database.allowedKeys()
            return HubMessage(
                .keys,
                [
                    ("name", .vector(.symbol(keys.map(\.name)))), ("key", .vector(.symbol(keys.map(\.key)))),
                    ("role", .vector(.symbol(keys.map(\.role.rawValue)))),
                ])
        } catch {
            return HubMessage(.error, [("message", .string(error.message))])
        }
    }

    /// Stops the ZAP handler; call before closing the hub socket.
    func stop() {
        handler?.stop()
    }
}
