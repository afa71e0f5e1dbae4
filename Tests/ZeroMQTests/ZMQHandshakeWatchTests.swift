import Foundation
import Synchronization
import Testing
import ZeroMQ

/// A plaintext peer at a CURVE socket is refused by libzmq before the ZAP handler is asked:
/// the handshake watch reports it, with the peer's address.
@Suite(.enabled(if: ZMQ.has("curve"), "libzmq built without CURVE"))
struct ZMQHandshakeWatchTests {
    /// Runs `body` with a bound CURVE server (`serverKeys`) whose handshake failures are
    /// watched, and a way to wait (10 s at most) for the first one. Its ZAP handler refuses
    /// every peer, calling `onZAPRequest` each time it is asked.
    private static func withWatchedCurveServer(
        onZAPRequest: @escaping @Sendable () -> Void = {},
        _ body: (_ context: ZMQContext, _ serverKeys: (publicKey: String, secretKey: String), _ endpoint: String, _ firstFailure: () throws -> ZMQHandshakeFailure) throws -> Void
    ) throws {
        try withContext { context in
            let serverKeys = try ZMQ.curveKeyPair()
            let handler = try ZAPHandler(context: context) { _ in
                onZAPRequest()
                return .refuse
            }
            defer { handler.stop() }
            let server = try ZMQSocket(context: context, type: .router)
            defer { server.close() }
            let failures = Mutex<[ZMQHandshakeFailure]>([])
            let watch = try ZMQHandshakeWatch(socket: server, context: context, name: "test") { failure in
                failures.withLock { $0.append(failure) }
            }
            defer { watch.stop() }
            try server.setCurveServer(secretKey: serverKeys.secretKey)
            try server.bind("tcp://127.0.0.1:0")
            try body(context, serverKeys, try server.lastEndpoint) {
                let deadline = ContinuousClock.now + .seconds(10)
                while failures.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline {
                    Thread.sleep(forTimeInterval: 0.01)
                }
                return try #require(failures.withLock { $0.first })
            }
        }
    }

    @Test func aPlaintextPeerAtACurveSocketIsReported() throws {
        let zapAsked = Atomic<Int>(0)
        try Self.withWatchedCurveServer(onZAPRequest: { zapAsked.add(1, ordering: .relaxed) }) { context, _, endpoint, firstFailure in
            let plain = try ZMQSocket(context: context, type: .dealer)
            defer { plain.close() }
            try plain.setLinger(milliseconds: 0)
            try plain.connect(endpoint)
            _ = try plain.send(Array("hello".utf8), dontWait: true)

            let failure = try firstFailure()
            // The server sees the mismatch, or the plaintext peer does first and hangs up.
            #expect(
                failure.event == .handshakeFailedProtocol && failure.reason.contains("another security mechanism")
                    || failure.event == .handshakeFailedNoDetail, "\(failure.reason)")
            // Read when the connection was accepted, unless it was already gone by then.
            #expect(failure.peerAddress == nil || failure.peerAddress!.hasPrefix("127.0.0.1:"), "\(failure)")
            #expect(zapAsked.load(ordering: .relaxed) == 0, "the ZAP handler never hears of a plaintext peer")
        }
    }

    /// A CURVE peer whose boxes the server cannot open is reported without blaming one side:
    /// a wrong server key and a key pair whose halves do not match look the same to the server.
    @Test(arguments: [false, true])
    func aCurvePeerWhoseHandshakeDoesNotDecryptIsReportedNeutrally(mismatchedOwnKeys: Bool) throws {
        try Self.withWatchedCurveServer { context, serverKeys, endpoint, firstFailure in
            let clientKeys = try ZMQ.curveKeyPair()
            let otherKeys = try ZMQ.curveKeyPair()
            let client = try ZMQSocket(context: context, type: .dealer)
            defer { client.close() }
            try client.setLinger(milliseconds: 0)
            // Either the right server key with a secret key not of the announced public key,
            // or a consistent key pair with another server's key.
            try client.setCurveClient(
                serverPublicKey: mismatchedOwnKeys ? serverKeys.publicKey : otherKeys.publicKey,
                publicKey: clientKeys.publicKey,
                secretKey: mismatchedOwnKeys ? otherKeys.secretKey : clientKeys.secretKey)
            try client.connect(endpoint)
            _ = try client.send(Array("hello".utf8), dontWait: true)

            let failure = try firstFailure()
            #expect(failure.event == .handshakeFailedProtocol, "\(failure.reason)")
            #expect(
                failure.reason
                    == "its CURVE handshake did not decrypt (wrong server key, or its own public and secret keys do not match)")
        }
    }

    @Test func aDescriptorThatIsNoSocketHasNoPeerAddress() throws {
        #expect(ZMQ.peerAddress(ofDescriptor: -1) == nil)
    }
}
