// MServeAdmission owns what the broker's, the servant's and the hub's admission share: the log
// of the peers a secured socket refuses, whether its ZAP handler refused a key or the peer's
// security handshake failed before any key was seen.

package import Logging
import MServeProtocol
import Synchronization
package import ZeroMQ

/// The warnings about peers a secured ROUTER refuses at one door (`clients`, `servant`, `hub`):
/// each with the peer's key, its address and the door, at most once a second per kind (each
/// refusal message, each reason a handshake failed), with a count of those of its kind held
/// back, given with the next line of that kind (a refused peer may retry thousands of times a
/// second). A burst of one kind (a misconfigured host retrying) hides no line of another (a
/// plaintext peer elsewhere). A refused key is logged at most once a minute: a host whose key
/// was revoked, still running, reconnects every few seconds for ever. Every refusal is
/// counted, logged or not, for the metrics.
package final class RefusedPeerLog: Sendable {
    private let door: String
    private let logger: Logger
    private let refusedKeys = Mutex(KeyRefusalThrottle())
    private let failedHandshakes = Mutex(LogThrottles<String>())
    private let keyRefusals = Atomic<UInt64>(0)
    private let handshakeFailures = Atomic<UInt64>(0)

    /// Peers whose key the ZAP handler refused, since the door opened.
    package var refusedKeyCount: UInt64 { keyRefusals.load(ordering: .relaxed) }
    /// Connections whose security handshake failed, since the door opened.
    package var failedHandshakeCount: UInt64 { handshakeFailures.load(ordering: .relaxed) }

    /// A log of the refusals at `door`, written to `logger`.
    package init(door: String, logger: Logger) {
        self.door = door
        self.logger = logger
    }

    /// Logs that the ZAP handler refused `request`'s key, with `message` (the mechanism too
    /// with `namingMechanism`).
    package func keyRefused(
        _ request: ZAPRequest, _ message: String, namingMechanism: Bool = false,
        now: UInt64 = QueryClock.monotonicNanoseconds()
    ) {
        keyRefusals.add(1, ordering: .relaxed)
        guard let heldBack = refusedKeys.withLock({ $0.admit(message, key: request.publicKey, now: now) }) else { return }
        var metadata: Logger.Metadata = [
            "key": "\(request.publicKey)", "address": "\(request.address)", "door": "\(door)",
        ]
        if namingMechanism { metadata["mechanism"] = "\(request.mechanism)" }
        logger.warning("\(LogThrottle.line(message, heldBack: heldBack))", metadata: metadata)
    }

    /// Logs a connection whose security handshake failed.
    package func handshakeFailed(_ failure: ZMQHandshakeFailure) {
        handshakeFailures.add(1, ordering: .relaxed)
        let reason = failure.reason
        guard let heldBack = failedHandshakes.withLock({ $0.admit(reason) }) else { return }
        logger.warning(
            "\(LogThrottle.line("refused a peer: its handshake failed: \(reason)", heldBack: heldBack))",
            metadata: ["key": "", "address": "\(failure.peerAddress ?? "unknown")", "door": "\(door)"])
    }

    /// Starts watching `socket`'s handshakes (``ZMQHandshakeWatch``) and logs each that fails.
    package func watchHandshakes(of socket: ZMQSocket, context: ZMQContext) throws(ZMQError) -> ZMQHandshakeWatch {
        try ZMQHandshakeWatch(socket: socket, context: context, name: door) { [self] failure in
            handshakeFailed(failure)
        }
    }
}

/// The throttle of refused-key lines: a line of each kind (refusal message) at most once a
/// second, and a line naming one key at most once a minute; the count given with a line is of
/// every refusal of its kind not logged since the last line of that kind.
struct KeyRefusalThrottle {
    /// How often one key's refusal is logged at most.
    static let keyInterval: UInt64 = 60_000_000_000
    /// The most keys remembered at once; past it, all are forgotten (and may be logged again):
    /// a peer making up a key for each try costs no memory.
    static let keysRemembered = 1_024

    private var byKind = LogThrottles<String>()
    private var keyAllowedAgain: [String: UInt64] = [:]
    private var notLogged: [String: Int] = [:]

    /// Whether a refusal of kind `kind` for `key` may be logged at `now`: nil when it is held
    /// back, otherwise how many of its kind were held back since the last one logged.
    mutating func admit(_ kind: String, key: String, now: UInt64) -> Int? {
        let kindAndKey = kind + "\u{0}" + key
        if let allowedAgain = keyAllowedAgain[kindAndKey], now < allowedAgain {
            notLogged[kind, default: 0] += 1
            return nil
        }
        guard byKind.admit(kind, now: now) != nil else {
            notLogged[kind, default: 0] += 1
            return nil
        }
        if keyAllowedAgain.count >= Self.keysRemembered { keyAllowedAgain.removeAll(keepingCapacity: true) }
        keyAllowedAgain[kindAndKey] = now &+ Self.keyInterval
        defer { notLogged[kind] = 0 }
        return notLogged[kind] ?? 0
    }
}
