import Foundation
import Synchronization
import Testing
import ZeroMQ

/// A plaintext peer at a CURVE socket is refused by libzmq before the ZAP handler is asked:
/// the handshake watch reports it, with the peer's address.
@Suite(.enabled(if: ZMQ.has("curve"), "libzmq built without CURVE"))
struct ZMQHandshakeWatchTests {
    @Test func aPlaintextPeerAtACurveSocketIsReported() throws {
        try withContext { context in
            let serverKeys = try ZMQ.curveKeyPair()
            let zapAsked = Atomic<Int>(0)
            let handler = try ZAPHandler(context: context) { _ in
                zapAsked.add(1, ordering: .relaxed)
                return .refuse
            }
            defer { handler.stop() }
            let server = try ZMQSocket(context: context, type: .router)
            let plain = try ZMQSocket(context: context, type: .dealer)
            defer { server.close(); plain.close() }
            let failures = Mutex<[ZMQHandshakeFailure]>([])
            let watch = try ZMQHandshakeWatch(socket: server, context: context, name: "test") { failure in
                failures.withLock { $0.append(failure) }
            }
            defer { watch.stop() }
            try server.setCurveServer(secretKey: serverKeys.secretKey)
            try server.bind("tcp://127.0.0.1:0")
            try plain.setLinger(milliseconds: 0)
            try plain.connect(try server.lastEndpoint)
            _ = try plain.send(Array("hello".utf8), dontWait: true)

            let deadline = ContinuousClock.now + .seconds(10)
            while failures.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.01)
            }
            let failure = try #require(failures.withLock { $0.first })
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
        try withContext { context in
            let serverKeys = try ZMQ.curveKeyPair()
            let clientKeys = try ZMQ.curveKeyPair()
            let otherKeys = try ZMQ.curveKeyPair()
            let handler = try ZAPHandler(context: context) { _ in .refuse }
            defer { handler.stop() }
            let server = try ZMQSocket(context: context, type: .router)
            let client = try ZMQSocket(context: context, type: .dealer)
            defer { server.close(); client.close() }
            let failures = Mutex<[ZMQHandshakeFailure]>([])
            let watch = try ZMQHandshakeWatch(socket: server, context: context, name: "test") { failure in
                failures.withLock { $0.append(failure) }
            }
            defer { watch.stop() }
            try server.setCurveServer(secretKey: serverKeys.secretKey)
            try server.bind("tcp://127.0.0.1:0")
            try client.setLinger(milliseconds: 0)
            // Either the right server key with a secret key not of the announced public key,
            // or a consistent key pair with another server's key.
            try client.setCurveClient(
                serverPublicKey: mismatchedOwnKeys ? serverKeys.publicKey : otherKeys.publicKey,
                publicKey: clientKeys.publicKey,
                secretKey: mismatchedOwnKeys ? otherKeys.secretKey : clientKeys.secretKey)
            try client.connect(try server.lastEndpoint)
            _ = try client.send(Array("hello".utf8), dontWait: true)

            let deadline = ContinuousClock.now + .seconds(10)
            while failures.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.01)
            }
            let failure = try #require(failures.withLock { $0.first })
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
