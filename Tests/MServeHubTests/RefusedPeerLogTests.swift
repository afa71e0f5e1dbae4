import Foundation
import MServeHub
import MServeTestSupport
import MServeTesting
import Testing
import ZeroMQ

/// A secured hub logs every peer it refuses — a plaintext one, one with an unlisted key, one
/// whose key was revoked while connected — with the door, and the address or key it knows.
struct RefusedPeerLogTests {
    @Test func aPlaintextPeerAtASecuredHubIsLogged() async throws {
        let recorder = LogRecorder()
        try await HubFixture.with(curve: try ZMQCurveKeyPair.generate()) { fixture in
            var fixture = fixture
            fixture.configuration.livenessTimeout = .seconds(5)
            let (hub, task) = try await fixture.startHub(logger: recorder.logger(label: "hub"))
            defer { hub.stop() }
            // No answer: the handshake fails.
            await #expect(throws: HubError.self) {
                _ = try await HubClient(endpoint: fixture.endpoint, timeout: .milliseconds(500)).table("spoke")
            }
            let logged = await eventually(timeout: .seconds(60)) {
                recorder.entries.contains {
                    // Which side sees the mismatch first varies: the refusal says why, in either case.
                    $0.message.hasPrefix("refused a peer: its handshake failed: ")
                        && $0.metadata["door"] == "hub" && $0.metadata["address"] != nil
                }
            }
            #expect(logged, "\(recorder.messages)")
            #expect(await hub.snapshot().metrics.refusals(.handshake) >= 1)
            hub.stop()
            try await task.value
        }
    }

    @Test func anUnlistedKeyAndARevokedOneAreLogged() async throws {
        let recorder = LogRecorder()
        let hubKeys = try ZMQCurveKeyPair.generate()
        try await HubFixture.with(curve: hubKeys) { fixture in
            var fixture = fixture
            fixture.configuration.livenessTimeout = .seconds(5)
            let (hub, task) = try await fixture.startHub(logger: recorder.logger(label: "hub"))
            defer { hub.stop() }
            let stranger = try ZMQCurveKeyPair.generate()
            await #expect(throws: HubError.self) {
                _ = try await fixture.curveClient(stranger, timeout: .milliseconds(500)).table("spoke")
            }
            #expect(
                await eventually(timeout: .seconds(60)) {
                    // The IP address alone: libzmq's ZAP request, which the refusal answers, has no port.
                    recorder.entries.contains {
                        $0.message == "refused a peer: its key is not allowed" && $0.metadata["key"] == stranger.publicKey
                            && $0.metadata["door"] == "hub" && $0.metadata["address"] == "127.0.0.1"
                    }
                }, "\(recorder.messages)")
            #expect(await hub.snapshot().metrics.refusals(.key) >= 1, "a refused key is counted")

            // A listed key connects; once revoked, the connection it has is refused too.
            let insider = try ZMQCurveKeyPair.generate()
            _ = try await fixture.curveClient(hubKeys).allow(name: "insider", key: insider.publicKey, role: .client)
            let keys = ZMQCurveClientKeys(serverPublicKey: hubKeys.publicKey, keyPair: insider)
            try await fixture.withPeerSocket(configure: { try $0.setCurveClient(keys) }) { socket in
                func ask(_ message: HubMessage) async throws -> HubMessage {
                    try socket.send(multipart: message.frames)
                    let frames = try #require(try await socket.receiveFrames(within: .seconds(10)), "the hub did not answer")
                    return try HubMessage(frames: frames)
                }
                #expect(try await ask(HubMessage(.keys)).command == .keys)
                _ = try await fixture.curveClient(hubKeys).revoke(name: "insider")
                let refused = try await ask(HubMessage(.keys))
                #expect(refused.command == .error)
                #expect(refused.text("message") == "this connection's key is no longer allowed")
                #expect(
                    recorder.entries.contains {
                        $0.message == "refused a message from a peer whose key is no longer allowed"
                            && $0.metadata["key"] == insider.publicKey && $0.metadata["door"] == "hub"
                    }, "\(recorder.messages)")
                // A revoked spoke goes on heartbeating: its messages, a second apart and more, are
                // refused each, and logged once (then once a minute), not once a second.
                for _ in 1...2 {
                    try await Task.sleep(for: .milliseconds(1_100))
                    #expect(try await ask(HubMessage(.keys)).command == .error)
                }
                #expect(
                    recorder.messages.filter { $0.hasPrefix("refused a message from a peer whose key is no longer allowed") }.count == 1,
                    "\(recorder.messages)")
                hub.stop()
                try await task.value
            }
        }
    }
}
