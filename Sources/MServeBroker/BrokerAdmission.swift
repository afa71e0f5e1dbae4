public import Logging
import MServeAdmission
import MServeProtocol
import Synchronization
public import ZeroMQ

/// The broker's side of admission, used by its loop when security is on: the client ROUTER is
/// a CURVE server whose ZAP handler admits only keys allowed as clients, and servants are
/// reached as a CURVE client pinned to each servant's own key, only when that key is allowed
/// as a servant. A client's key is checked again on every message it sends, so a client
/// whose key is revoked is no longer served on the connection it already has (from the next
/// refresh of the allowed list): its first message after the revoke is answered with
/// ``revokedClientMessage``, the rest are dropped. Every refusal is logged with the key, the
/// peer address and the door, at most once a second per kind.
final class BrokerAdmission {
    /// The error a client whose key was revoked gets, once per connection.
    static let revokedClientMessage =
        "this client's key is no longer allowed (revoked, or no longer allowed as a client); the broker drops its messages from now on"

    private let keys: ZMQCurveServerKeys
    private let servantKeys: ZAPKeyList
    private let handler: ZAPHandler
    private let handshakeWatch: ZMQHandshakeWatch
    private let logger: Logger
    /// The refusals at the client door, logged and counted.
    private let refusals: RefusedPeerLog
    /// Clients whose key the client door refused, and handshakes that failed there.
    var refusedPeers: (keys: UInt64, handshakes: UInt64) { (refusals.refusedKeyCount, refusals.failedHandshakeCount) }
    /// Connections (routing ids) already told their key was revoked: their messages are dropped.
    private var toldRevoked: Set<[UInt8]> = []
    private var revokedClientLog = LogThrottle()

    /// Nil without `configuration.curve`; otherwise starts the ZAP handler in `context` and makes
    /// `clientSocket` a CURVE server (call before it binds).
    static func start(
        _ configuration: BrokerConfiguration, context: ZMQContext, clientSocket: ZMQSocket, logger: Logger
    ) throws -> BrokerAdmission? {
        guard let keys = configuration.curve else { return nil }
        return try BrokerAdmission(
            keys: keys, servantKeys: configuration.servantKeys ?? keys.allowedKeys, context: context,
            clientSocket: clientSocket, logger: logger)
    }

    private init(
        keys: ZMQCurveServerKeys, servantKeys: ZAPKeyList, context: ZMQContext, clientSocket: ZMQSocket, logger: Logger
    ) throws {
        self.keys = keys
        self.servantKeys = servantKeys
        self.logger = logger
        let refusals = RefusedPeerLog(door: "clients", logger: logger)
        self.refusals = refusals
        handler = try ZAPHandler.securing(clientSocket, with: keys, context: context) { request in
            refusals.keyRefused(request, "refused a client: its key is not allowed as a client", namingMechanism: true)
        }
        do {
            handshakeWatch = try refusals.watchHandshakes(of: clientSocket, context: context)
        } catch {
            handler.stop()
            throw error
        }
    }

    /// Whether a message from a client, whose `User-Id` is `userID` (its public key), comes
    /// from a key still allowed as a client.
    func admitsClient(userID: String?) -> Bool {
        keys.allowedKeys.admits(userID: userID)
    }

    /// A message from a client whose key is no longer allowed, on the connection `routingID`:
    /// logs it (throttled) and returns whether to answer it with ``revokedClientMessage`` — the
    /// first such message of the connection — or drop it.
    func refuseRevokedClient(routingID: [UInt8], userID: String?, address: String?) -> Bool {
        if let heldBack = revokedClientLog.admit() {
            logger.warning(
                "\(LogThrottle.line("refused a message from a client whose key is no longer allowed as a client", heldBack: heldBack))",
                metadata: ["key": "\(userID ?? "")", "address": "\(address ?? "")", "door": "clients"])
        }
        // Bounded: connections long gone are forgotten together now and then (they are
        // answered once more, then dropped again).
        if toldRevoked.count >= 4_096 { toldRevoked.removeAll(keepingCapacity: true) }
        return toldRevoked.insert(routingID).inserted
    }

    /// Whether the servant at `endpoint` may be used: it must have a key, and the key must be
    /// allowed as a servant. Logs the refusal otherwise.
    func admitsServant(endpoint: String, serverKey: String?) -> Bool {
        // However it was offered: the connection to a q servant cannot be secured.
        if KdbServantLinks.isKdbEndpoint(endpoint) {
            logger.warning(
                Logger.Message(stringLiteral: ServantKeyAdmission.qServantRefusal),
                metadata: ServantKeyAdmission.servantMetadata(endpoint: endpoint, key: serverKey))
            return false
        }
        guard let serverKey, !serverKey.isEmpty else {
            logger.warning(
                "refused a servant: it has no CURVE key", metadata: ServantKeyAdmission.servantMetadata(endpoint: endpoint, key: nil))
            return false
        }
        guard servantKeys.name(of: serverKey) != nil else {
            logger.warning(
                ServantKeyAdmission.notAllowedMessage,
                metadata: ServantKeyAdmission.servantMetadata(endpoint: endpoint, key: serverKey))
            return false
        }
        return true
    }

    /// Sets the CURVE client options on the servant socket for the next connect, pinned to
    /// `serverKey` (libzmq copies a socket's options into each connection as it is made).
    func prepareConnect(_ socket: ZMQSocket, serverKey: String?) throws {
        guard let serverKey else { return }
        try socket.setCurveClient(keys.clientKeys(serverPublicKey: serverKey))
    }

    /// Stops the ZAP handler; call before terminating the context.
    func stop() {
        handshakeWatch.stop()
        handler.stop()
    }
}

/// Keeps a broker's servants in step with the keys allowed as servants: remembers every servant
/// offered (by the hub or by hand) with its CURVE key, and on each ``reconcile()`` adds those
/// whose key is allowed and removes those whose key no longer is — so a revoked servant (or one
/// whose key lost the servant role) is dropped at the next refresh of the allowed list, and one
/// allowed again is used again. Until the first ``reconcile()`` (the list's first load from the
/// hub) a servant offered is only remembered: judged against a list not read yet, every servant
/// would be refused, and logged so, at each start. Safe from any thread.
public final class ServantKeyAdmission: Sendable {
    /// The log message of a servant refused because its key is not in the list.
    static let notAllowedMessage: Logger.Message = "refused a servant: its key is not allowed as a servant"

    private struct State {
        /// Every servant offered: endpoint → its key (nil: it registered none).
        var offered: [String: String?] = [:]
        /// The servants handed to the broker.
        var inUse: Set<String> = []
        /// Whether the allowed list was loaded (``reconcile()`` was called once).
        var listLoaded = false
    }

    private let broker: Broker
    private let allowedKeys: ZAPKeyList
    private let logger: Logger
    private let state = Mutex(State())

    /// Admits servants to `broker` by `allowedKeys` (the broker configuration's `servantKeys`).
    public init(broker: Broker, allowedKeys: ZAPKeyList, logger: Logger) {
        self.broker = broker
        self.allowedKeys = allowedKeys
        self.logger = logger
    }

    /// Why a secured broker refuses a q servant (`kdb://`) the hub lists, whatever key its
    /// registration carries.
    static let qServantRefusal =
        "refused a q servant: a broker with keys takes no q servants (a kdb+ IPC connection cannot prove a CURVE key)"

    /// A servant joined (or was configured): use it when its key is allowed, or log the refusal.
    /// A q servant (`kdb://`) is refused whatever its key: the key its registration carries is
    /// the registrant's, and nothing on a kdb+ IPC connection proves it.
    public func offer(endpoint: String, key: String?) {
        if KdbServantLinks.isKdbEndpoint(endpoint) {
            logger.warning(Logger.Message(stringLiteral: Self.qServantRefusal), metadata: Self.servantMetadata(endpoint: endpoint, key: key))
            return
        }
        let decision = state.withLock { state -> Bool? in
            state.offered[endpoint] = .some(key)
            guard state.listLoaded else { return nil }
            let admitted = key.map { allowedKeys.name(of: $0) != nil } ?? false
            if admitted { state.inUse.insert(endpoint) }
            return admitted
        }
        switch decision {
        case nil: break  // judged at the first reconcile
        case true?: broker.addServant(endpoint: endpoint, serverKey: key)
        case false?: logRefusal(endpoint: endpoint, key: key)
        }
    }

    /// The servants handed to the broker (for tests).
    var servantsInUse: Set<String> { state.withLock { $0.inUse } }

    private func logRefusal(endpoint: String, key: String?) {
        logger.warning(
            key == nil ? "refused a servant: it has no CURVE key" : Self.notAllowedMessage,
            metadata: Self.servantMetadata(endpoint: endpoint, key: key))
    }

    /// What a line about a servant the keys judge says of it, as the broker's other servant
    /// lines do: `servant` (its `HOST:PORT`: the name it announces comes with its READY, after
    /// this judgement) and `endpoint`, with its `key`.
    static func servantMetadata(endpoint: String, key: String?) -> Logger.Metadata {
        let (host, port) = BrokerLoop.hostAndPort(endpoint)
        return ServantRecord.logMetadata(name: port.isEmpty ? host : "\(host):\(port)", endpoint: endpoint, ["key": "\(key ?? "")"])
    }

    /// A servant left: stop using it.
    public func withdraw(endpoint: String) {
        let wasInUse = state.withLock { state in
            state.offered[endpoint] = nil
            return state.inUse.remove(endpoint) != nil
        }
        if wasInUse { broker.servantLeft(endpoint: endpoint) }
    }

    /// Applies the current allowed list: drops servants whose key was revoked, takes back those
    /// allowed again.
    public func reconcile() {
        let (firstLoad, dropped, taken, refused) = state.withLock {
            state -> (Bool, [(String, String)], [(String, String)], [(String, String?)]) in
            let firstLoad = !state.listLoaded
            state.listLoaded = true
            var dropped: [(String, String)] = []
            var taken: [(String, String)] = []
            var refused: [(String, String?)] = []
            for (endpoint, key) in state.offered {
                let allowed = key.map { allowedKeys.name(of: $0) != nil } ?? false
                if allowed, let key, !state.inUse.contains(endpoint) {
                    state.inUse.insert(endpoint)
                    taken.append((endpoint, key))
                } else if !allowed, state.inUse.contains(endpoint), let key {
                    state.inUse.remove(endpoint)
                    dropped.append((endpoint, key))
                } else if !allowed, firstLoad {
                    refused.append((endpoint, key))
                }
            }
            return (firstLoad, dropped, taken, refused)
        }
        // Offered before the list was read: judged now, for the first time.
        for (endpoint, key) in refused { logRefusal(endpoint: endpoint, key: key) }
        for (endpoint, key) in dropped {
            logger.warning(
                "dropped a servant: its key was revoked or is no longer allowed as a servant",
                metadata: Self.servantMetadata(endpoint: endpoint, key: key))
            broker.removeServant(endpoint: endpoint)
        }
        for (endpoint, key) in taken {
            if !firstLoad {
                logger.notice("servant key allowed again", metadata: Self.servantMetadata(endpoint: endpoint, key: key))
            }
            broker.addServant(endpoint: endpoint, serverKey: key)
        }
    }
}
