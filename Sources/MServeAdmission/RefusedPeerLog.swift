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
/// plaintext peer elsewhere). Every refusal is counted, logged or not, for the metrics.
package final class RefusedPeerLog: Sendable {
    private let door: String
    private let logger: Logger
    private let refusedKeys = Mutex(LogThrottles<String>())
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
    package func keyRefused(_ request: ZAPRequest, _ message: String, namingMechanism: Bool = false) {
        keyRefusals.add(1, ordering: .relaxed)
        guard let heldBack = refusedKeys.withLock({ $0.admit(message) }) else { return }
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
