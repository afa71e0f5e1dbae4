import Logging
import ZeroMQ

/// A servant's side of admission: with security on, its ROUTER is a CURVE server and a ZAP
/// handler in its context admits only the broker keys in the shared allowed list, logging
/// every refusal with the key and the peer address.
final class ServantAdmission {
    private let handler: ZAPHandler

    /// Starts the ZAP handler in `context` and makes `socket` a CURVE server (before it binds).
    init(context: ZMQContext, socket: ZMQSocket, keys: ZMQCurveServerKeys, logger: Logger) throws {
        handler = try ZAPHandler.securing(socket, with: keys, context: context) { request in
            logger.warning(
                "refused a peer: its key is not allowed",
                metadata: ["key": "\(request.publicKey)", "address": "\(request.address)"])
        }
    }

    /// Stops the ZAP handler; call before terminating the context.
    func stop() {
        handler.stop()
    }
}
