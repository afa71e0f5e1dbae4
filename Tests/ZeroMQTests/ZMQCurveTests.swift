import Testing
import ZeroMQ

struct ZMQCurveTests {
    @Test func curveKeysAreZ85AndDeriveTheirPublicHalf() throws {
        #expect(ZMQ.has("curve"))
        let pair = try ZMQ.curveKeyPair()
        #expect(pair.publicKey.count == 40)
        #expect(pair.secretKey.count == 40)
        #expect(try ZMQ.curvePublicKey(fromSecret: pair.secretKey) == pair.publicKey)
        #expect(ZMQ.version.major == 4)
    }

    @Test func aCurveClientTalksToACurveServer() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let serverKeys = try ZMQ.curveKeyPair()
        let clientKeys = try ZMQ.curveKeyPair()
        let server = try ZMQSocket(context: context, type: .router)
        defer { server.close() }
        try server.setCurveServer(secretKey: serverKeys.secretKey)
        try server.setReceiveTimeout(milliseconds: 5_000)
        try server.bind("tcp://127.0.0.1:0")
        let client = try ZMQSocket(context: context, type: .dealer)
        defer { client.close() }
        try client.setCurveClient(
            serverPublicKey: serverKeys.publicKey, publicKey: clientKeys.publicKey, secretKey: clientKeys.secretKey)
        try client.connect(try server.lastEndpoint)
        try client.send(Array("secret".utf8))
        let frames = try #require(try server.receiveMultipartBytes())
        #expect(frames[1] == Array("secret".utf8))
    }

    @Test func aClientWithTheWrongServerKeyGetsNothingThrough() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let serverKeys = try ZMQ.curveKeyPair()
        let otherKeys = try ZMQ.curveKeyPair()
        let clientKeys = try ZMQ.curveKeyPair()
        let server = try ZMQSocket(context: context, type: .router)
        defer { server.close() }
        try server.setCurveServer(secretKey: serverKeys.secretKey)
        try server.setReceiveTimeout(milliseconds: 500)
        try server.bind("tcp://127.0.0.1:0")
        let client = try ZMQSocket(context: context, type: .dealer)
        defer { client.close() }
        try client.setCurveClient(
            serverPublicKey: otherKeys.publicKey, publicKey: clientKeys.publicKey, secretKey: clientKeys.secretKey)
        try client.connect(try server.lastEndpoint)
        try client.send(Array("secret".utf8), dontWait: true)
        #expect(try server.receive() == nil)
    }
}
