import Logging
import MServeAdmission
import MServeProtocol
import QData
import Synchronization
import ZeroMQ

/// The hub's side of admission: with a CURVE key pair configured, makes the hub socket a CURVE
/// server and answers ZAP requests from the `allowed_keys` table (cached, updated on ALLOW and
/// REVOKE), admitting a listed key whatever its role, and checking it again on every message
/// (a revoked key is refused at once, on connections already open too); serves ALLOW, REVOKE
/// and KEYS whether security is on or not. The roles are checked where a key is used
/// (``key(ofPeer:)``).
final class HubAdmission {
    /// The name of the hub's own key, the only one that may ALLOW and REVOKE (no key may be
    /// allowed under it).
    static let adminUserID = "hub-admin"

    private let keyList = ZAPKeyList()
    /// The allowed keys by public key (the User-Id of their connections), for their roles.
    private var keysByKey: [String: AllowedKey] = [:]
    private let ownKey: String?
    private let handler: ZAPHandler?
    private let handshakeWatch: ZMQHandshakeWatch?
    private let logger: Logger
    /// The refusals at the hub's door, logged and counted; nil when it is not secured.
    private let refusals: RefusedPeerLog?
    /// Connections whose key the hub refused, and handshakes that failed there.
    var refusedConnections: (keys: UInt64, handshakes: UInt64) {
        (refusals?.refusedKeyCount ?? 0, refusals?.failedHandshakeCount ?? 0)
    }
    /// Messages from peers whose key is no longer allowed, by key: a revoked spoke keeps
    /// heartbeating, so each key is logged once, then once a minute with a count of the rest.
    private var revokedPeerLog = LogThrottles<String>(interval: .seconds(60))

    init(
        context: ZMQContext, socket: ZMQSocket, configuration: HubConfiguration, database: HubDatabase,
        logger: Logger
    ) throws {
        ownKey = configuration.curve?.publicKey
        self.logger = logger
        guard let curve = configuration.curve else {
            handler = nil
            handshakeWatch = nil
            refusals = nil
            return
        }
        let keyList = self.keyList
        let ownKey = curve.publicKey
        let refusals = RefusedPeerLog(door: "hub", logger: logger)
        self.refusals = refusals
        // Every admitted connection's messages carry its public key as User-Id, so that a key
        // revoked later is told apart on the connection it already has.
        handler = try ZAPHandler(context: context) { request in
            if request.publicKey == ownKey { return .admit(as: ownKey) }
            if request.mechanism == "CURVE", keyList.name(of: request.publicKey) != nil { return .admit(as: request.publicKey) }
            refusals.keyRefused(request, "refused a peer: its key is not allowed")
            return .refuse
        }
        do {
            handshakeWatch = try refusals.watchHandshakes(of: socket, context: context)
        } catch {
            handler?.stop()
            throw error
        }
        do {
            try socket.setCurveServer(secretKey: curve.secretKey)
            try reload(database)
        } catch {
            handshakeWatch?.stop()
            handler?.stop()
            throw error
        }
    }

    /// Whether the hub speaks CURVE and admits only allowed keys.
    var isSecured: Bool { handler != nil }

    /// Whether the connection whose messages carry `userID` authenticated with the hub's own key.
    func isAdmin(_ userID: String) -> Bool { ownKey != nil && userID == ownKey }

    /// The allowed key of the peer whose connection carries `userID` (its public key): the
    /// hub's own key is allowed in every role; nil when the key is not allowed (any more).
    func key(ofPeer userID: String) -> AllowedKey? {
        if let ownKey, userID == ownKey { return AllowedKey(name: Self.adminUserID, key: ownKey, role: .any) }
        return keysByKey[userID]
    }

    /// On a secured hub, whether a message whose User-Id is `userID` comes from a key still
    /// allowed; logs the refusal (throttled) when not. Always true on a hub without security.
    func admitsMessage(userID: String, address: String?) -> Bool {
        guard isSecured, key(ofPeer: userID) == nil else { return true }
        if let heldBack = revokedPeerLog.admit(userID) {
            logger.warning(
                "\(LogThrottle.line("refused a message from a peer whose key is no longer allowed", heldBack: heldBack))",
                metadata: ["key": "\(userID)", "address": "\(address ?? "")", "door": "hub"])
        }
        return false
    }

    private func reload(_ database: HubDatabase) throws(HubError) {
        // A key stored under the hub's own name (by a release that did not refuse it) is
        // not admitted: it would have the hub key's rights.
        let allowed = try database.allowedKeys().filter { $0.name != Self.adminUserID }
        // Every process talks to the hub, so the hub admits a listed key whatever its role.
        keyList.replace(Dictionary(allowed.map { ($0.key, $0.name) }, uniquingKeysWith: { _, last in last }))
        keysByKey = Dictionary(allowed.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
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
        handshakeWatch?.stop()
        handler?.stop()
    }
}
