import Foundation
import MServeProtocol
import MServeServant
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

/// A secured servant serves only peers whose key is in its allowed list, checks the key again
/// on every message (so a broker revoked while connected is no longer served), and logs every
/// peer it refuses with the door `servant`.
@Suite(.enabled(if: ZMQ.has("curve"), "libzmq built without CURVE"))
struct ServantAdmissionTests {
    @Test func aBrokerRevokedWhileConnectedIsNoLongerServedAndRefusalsAreLogged() async throws {
        let recorder = LogRecorder()
        let servantKeys = try ZMQCurveKeyPair.generate()
        let broker = try ZMQCurveKeyPair.generate()
        let stranger = try ZMQCurveKeyPair.generate()
        let allowed = ZAPKeyList([broker.publicKey: "broker"])
        var configuration = ServantConfiguration()
        configuration.endpoint = "tcp://127.0.0.1:0"
        configuration.curve = ZMQCurveServerKeys(keyPair: servantKeys, allowedKeys: allowed)
        let servant = try Servant(
            configuration: configuration, functions: DemoFunctions.registry(), logger: recorder.logger(label: "servant"))
        let running = Task { try await servant.run() }
        defer { servant.stop() }
        let endpoint = try await servant.endpoint

        let context = try ZMQContext()
        var sockets: [ZMQSocket] = []
        defer {
            for socket in sockets { socket.close() }
            context.terminate()
        }
        func connect(_ keys: ZMQCurveKeyPair?) throws -> ZMQSocket {
            let socket = try ZMQSocket(context: context, type: .dealer)
            sockets.append(socket)
            try socket.setLinger(milliseconds: 0)
            if let keys { try socket.setCurveClient(ZMQCurveClientKeys(serverPublicKey: servantKeys.publicKey, keyPair: keys)) }
            try socket.connect(endpoint)
            return socket
        }
        let ping = [ServantLink.protocolMarker, ServantCommand.ping.frame]

        let listed = try connect(broker)
        try listed.send(multipart: ping)
        let pong = try await listed.receiveFrames(within: .seconds(10))
        #expect(pong?.count == 3 && pong?[1] == ServantCommand.pong.frame, "the listed broker is answered")

        let unlisted = try connect(stranger)
        try unlisted.send(multipart: ping)
        let plain = try connect(nil)
        try plain.send(multipart: ping)

        allowed.replace([:])  // what a refresh after `mserve hub revoke broker` does
        try listed.send(multipart: ping)
        #expect(try await listed.receiveFrames(within: .seconds(1)) == nil, "the revoked broker is answered")
        #expect(try await unlisted.receiveFrames(within: .milliseconds(100)) == nil)
        #expect(try await plain.receiveFrames(within: .milliseconds(100)) == nil)

        let logged = await eventually(timeout: .seconds(60)) {
            let entries = recorder.entries.filter { $0.metadata["door"] == "servant" }
            return entries.contains {
                $0.message == "dropped a message from a peer whose key is no longer allowed"
                    && $0.metadata["key"] == broker.publicKey
            }
                && entries.contains {
                    $0.message == "refused a peer: its key is not allowed" && $0.metadata["key"] == stranger.publicKey
                }
                && entries.contains { $0.message.hasPrefix("refused a peer: its handshake failed: ") }
        }
        #expect(logged, "\(recorder.entries.map { "\($0.message) \($0.metadata)" })")
        servant.stop()
        try await running.value
    }
}
