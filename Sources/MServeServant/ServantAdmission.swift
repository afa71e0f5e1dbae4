import Logging
import MServeAdmission
import MServeProtocol
import ZeroMQ

/// A servant's side of admission: with security on, its ROUTER is a CURVE server and a ZAP
/// handler in its context admits only the broker keys in the shared allowed list, logging
/// every refusal with the key and the peer address. A peer's key is checked again on every
/// message, so a broker whose key is revoked is no longer served on the connection it already
/// has, from the servant's next refresh of the list: its messages are dropped, unanswered.
/// Refusals are logged at most once a second per kind, with a count of the rest.
final class ServantAdmission {
    private let handler: ZAPHandler
    private let handshakeWatch: ZMQHandshakeWatch
    private let allowedKeys: ZAPKeyList
    private let logger: Logger
    private var droppedLog = LogThrottle()

    /// Starts the ZAP handler in `context` and makes `socket` a CURVE server (before it binds).
    init(context: ZMQContext, socket: ZMQSocket, keys: ZMQCurveServerKeys, logger: Logger) throws {
        let refusals = RefusedPeerLog(door: "servant", logger: logger)
        handler = try ZAPHandler.securing(socket, with: keys, context: context) { request in
            refusals.keyRefused(request, "refused a peer: its key is not allowed")
        }
        do {
            handshakeWatch = try refusals.watchHandshakes(of: socket, context: context)
        } catch {
            handler.stop()
            throw error
        }
        allowedKeys = keys.allowedKeys
        self.logger = logger
    }

    /// Whether the message just received into `frames` comes from a key still allowed; logs
    /// the drop (throttled) when it does not.
    func admits(_ frames: ZMQFrames) -> Bool {
        let userID = frames.metadata("User-Id")
        if allowedKeys.admits(userID: userID) { return true }
        if let heldBack = droppedLog.admit() {
            logger.warning(
                "\(LogThrottle.line("dropped a message from a peer whose key is no longer allowed", heldBack: heldBack))",
                metadata: [
                    "key": "\(userID ?? "")", "address": "\(frames.metadata("Peer-Address") ?? "")", "door": "servant",
                ])
        }
        return false
    }

    /// Stops the ZAP handler; call before terminating the context.
    func stop() {
        handshakeWatch.stop()
        handler.stop()
    }
}
