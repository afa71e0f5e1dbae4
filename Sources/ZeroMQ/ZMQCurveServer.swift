/// What a CURVE server socket needs: its own key pair and the public keys it admits. The key
/// list is shared: whoever keeps it up to date (for example from the hub's `allowed_keys`)
/// replaces it while the socket serves, and the next handshake sees the new list.
public struct ZMQCurveServerKeys: Sendable {
    /// The server's own key pair (its public half is what clients pin).
    public var keyPair: ZMQCurveKeyPair
    /// The client public keys admitted, each with the name it was admitted under.
    public var allowedKeys: ZAPKeyList

    /// Creates server keys admitting `allowedKeys`.
    public init(keyPair: ZMQCurveKeyPair, allowedKeys: ZAPKeyList) {
        self.keyPair = keyPair
        self.allowedKeys = allowedKeys
    }

    /// The client keys of a peer of this server that uses the same key pair (a process that is
    /// both a CURVE server and a CURVE client of another server whose public key is `serverPublicKey`).
    public func clientKeys(serverPublicKey: String) -> ZMQCurveClientKeys {
        ZMQCurveClientKeys(serverPublicKey: serverPublicKey, keyPair: keyPair)
    }
}

extension ZAPHandler {
    /// A handler that admits CURVE peers whose public key is in `keys` and refuses everyone
    /// else, calling `onRefuse` with each refused request (its `publicKey` and `address` say who
    /// it was). Every message of an admitted peer carries its public key as its `User-Id`, so
    /// that the key can be checked against the list again after a revoke
    /// (``ZAPKeyList/admits(userID:)``): the handshake alone admits a connection for good.
    public convenience init(
        context: ZMQContext, admitting keys: ZAPKeyList, onRefuse: @escaping @Sendable (ZAPRequest) -> Void
    ) throws(ZMQError) {
        try self.init(context: context) { request in
            if request.mechanism == "CURVE", keys.name(of: request.publicKey) != nil { return .admit(as: request.publicKey) }
            onRefuse(request)
            return .refuse
        }
    }
}

extension ZAPHandler {
    /// Secures `socket` (before it binds): starts a handler in `context` admitting the keys in
    /// `keys.allowedKeys` and makes `socket` a CURVE server with `keys`. The handler is stopped
    /// again if the socket refuses the options. Stop the returned handler before terminating
    /// the context.
    public static func securing(
        _ socket: ZMQSocket, with keys: ZMQCurveServerKeys, context: ZMQContext,
        onRefuse: @escaping @Sendable (ZAPRequest) -> Void
    ) throws(ZMQError) -> ZAPHandler {
        let handler = try ZAPHandler(context: context, admitting: keys.allowedKeys, onRefuse: onRefuse)
        do {
            try socket.setCurveServer(keys)
        } catch {
            handler.stop()
            throw error
        }
        return handler
    }
}

extension ZMQSocket {
    /// Makes the socket a CURVE server with `keys` (before binding). The context must have a
    /// ``ZAPHandler`` answering for it, or libzmq admits every client with a valid handshake.
    public func setCurveServer(_ keys: ZMQCurveServerKeys, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setCurveServer(secretKey: keys.keyPair.secretKey, file: file, line: line)
    }
}
