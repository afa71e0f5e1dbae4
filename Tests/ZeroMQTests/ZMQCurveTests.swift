import Testing
import ZeroMQ

@Suite(.enabled(if: ZMQ.has("curve"), "libzmq built without CURVE"))
struct ZMQCurveTests {
    @Test func keyPairsAreZ85AndPublicKeyDerivesFromSecret() throws {
        let pair = try ZMQ.curveKeyPair()
        #expect(pair.publicKey.utf8.count == 40)
        #expect(pair.secretKey.utf8.count == 40)
        #expect(try ZMQ.curvePublicKey(fromSecret: pair.secretKey) == pair.publicKey)
        #expect(throws: ZMQError.self) { try ZMQ.curvePublicKey(fromSecret: "short") }
    }

    @Test func curvePairConnectsAndExchangesAMessage() throws {
        try withContext { context in
            let serverKeys = try ZMQ.curveKeyPair()
            let clientKeys = try ZMQ.curveKeyPair()
            let server = try ZMQSocket(context: context, type: .router)
            let client = try ZMQSocket(context: context, type: .dealer)
            defer { server.close(); client.close() }
            try server.setCurveServer(secretKey: serverKeys.secretKey)
            try server.bind("tcp://127.0.0.1:0")
            try client.setCurveClient(
                serverPublicKey: serverKeys.publicKey, publicKey: clientKeys.publicKey,
                secretKey: clientKeys.secretKey)
            try client.connect(try server.lastEndpoint)

            try client.send(Array("secret".utf8))
            let frames = try #require(try server.receiveMultipart())
            #expect(frames.count == 2)
            #expect(frames[1].string == "secret")
            #expect(frames[1].metadata("Peer-Address") == "127.0.0.1")
            try server.send(multipart: [frames[0].bytes, Array("ok".utf8)])
            #expect(try client.receive()?.string == "ok")
        }
    }

    @Test func versionAndCapabilities() {
        #expect(ZMQ.version.major == 4)
        #expect(ZMQ.has("ipc"))
        #expect(!ZMQ.has("no-such-capability"))
    }
}
