import MServeTestSupport
import Synchronization
import Testing
import ZeroMQ

@Suite(.enabled(if: ZMQ.has("curve"), "libzmq built without CURVE"))
struct ZAPHandlerTests {
    @Test func admitsListedKeysAndRefusesOthers() async throws {
        try await withContext { context in
            let serverKeys = try ZMQ.curveKeyPair()
            let known = try ZMQ.curveKeyPair()
            let stranger = try ZMQ.curveKeyPair()
            let seen = Mutex<[ZAPRequest]>([])
            let handler = try ZAPHandler(context: context) { request in
                seen.withLock { $0.append(request) }
                return request.publicKey == known.publicKey ? .admit(as: "known") : .refuse
            }
            defer { handler.stop() }

            let server = try ZMQSocket(context: context, type: .router)
            let admitted = try ZMQSocket(context: context, type: .dealer)
            let refused = try ZMQSocket(context: context, type: .dealer)
            defer { server.close(); admitted.close(); refused.close() }
            try server.setCurveServer(secretKey: serverKeys.secretKey)
            try server.bind("tcp://127.0.0.1:0")
            let endpoint = try server.lastEndpoint
            for (socket, keys) in [(refused, stranger), (admitted, known)] {
                try socket.setCurveClient(
                    serverPublicKey: serverKeys.publicKey, publicKey: keys.publicKey, secretKey: keys.secretKey)
                try socket.connect(endpoint)
            }
            _ = try refused.send(Array("from the stranger".utf8), dontWait: true)
            _ = try admitted.send(Array("from a friend".utf8))

            let frames = try #require(try await server.receiveMessages(within: .seconds(2)))
            #expect(frames.last?.string == "from a friend")
            #expect(frames.last?.metadata("User-Id") == "known")
            // Nothing else arrives: the stranger never got through the handshake.
            #expect(try await server.receiveMessages(within: .milliseconds(300)) == nil)

            let requests = seen.withLock { $0 }
            #expect(requests.contains { $0.publicKey == stranger.publicKey && $0.address == "127.0.0.1" })
            #expect(requests.allSatisfy { $0.mechanism == "CURVE" })
        }
    }

    /// A handler admitting from a key list tags each message with the peer's public key, read
    /// from received frames, so a connection whose key leaves the list can be told apart.
    @Test func messagesCarryThePeersKeyAndTheListSaysWhenItIsRevoked() throws {
        try withContext { context in
            let serverKeys = try ZMQ.curveKeyPair()
            let known = try ZMQ.curveKeyPair()
            let list = ZAPKeyList([known.publicKey: "known"])
            let handler = try ZAPHandler(context: context, admitting: list) { _ in }
            defer { handler.stop() }
            let server = try ZMQSocket(context: context, type: .router)
            let client = try ZMQSocket(context: context, type: .dealer)
            defer { server.close(); client.close() }
            try server.setCurveServer(secretKey: serverKeys.secretKey)
            try server.setReceiveTimeout(milliseconds: 2_000)
            try server.bind("tcp://127.0.0.1:0")
            try client.setCurveClient(
                serverPublicKey: serverKeys.publicKey, publicKey: known.publicKey, secretKey: known.secretKey)
            try client.connect(try server.lastEndpoint)

            var frames = ZMQFrames()
            #expect(frames.metadata("User-Id") == nil)
            _ = try client.send(Array("before".utf8))
            #expect(try server.receive(into: &frames))
            let userID = frames.metadata("User-Id")
            #expect(userID == known.publicKey)
            #expect(list.admits(userID: userID))

            list.replace([:])
            _ = try client.send(Array("after".utf8))
            #expect(try server.receive(into: &frames))
            #expect(frames.metadata("User-Id") == known.publicKey, "the connection stays open")
            #expect(!list.admits(userID: frames.metadata("User-Id")))
            #expect(!list.admits(userID: nil))
        }
    }

    @Test func z85EncodesWholeWordsOnly() {
        #expect(ZMQ.z85Encode([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]) == "HelloWorld")
        #expect(ZMQ.z85Encode([1, 2, 3]) == nil)
    }
}
