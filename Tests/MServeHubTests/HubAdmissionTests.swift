import Foundation
@testable import MServeHub
import MServeTestSupport
import MServeTesting
import Testing
import ZeroMQ

/// The hub's allowed keys: ALLOW, REVOKE and KEYS edit and list them; with its own key pair
/// the hub is a CURVE server admitting only those keys, and only its own key may edit them.
@Suite(.enabled(if: ZMQ.has("curve"), "libzmq built without CURVE"))
struct HubAdmissionTests {
    @Test func allowRevokeAndKeysEditTheTable() async throws {
        try await HubFixture.with { fixture in
            let (hub, task) = try await fixture.startHub()
            defer { hub.stop() }
            let servant = try ZMQCurveKeyPair.generate()

            #expect(try await fixture.client.allow(name: "servant", key: servant.publicKey, role: .servant) == [
                AllowedKey(name: "servant", key: servant.publicKey, role: .servant)
            ])
            #expect(try await fixture.client.allowedKeys().map(\.name) == ["servant"])
            #expect(try await fixture.client.revoke(name: "servant").isEmpty)
            await #expect(throws: HubError.self) { try await fixture.client.revoke(name: "servant") }
            await #expect(throws: HubError.self) { try await fixture.client.allow(name: "bad", key: "short") }
            // 40 characters, but not of Z85's alphabet; a name with a control character.
            await #expect(throws: HubError.self) {
                try await fixture.client.allow(name: "bad", key: String(repeating: "\"", count: 40))
            }
            await #expect(throws: HubError.self) {
                try await fixture.client.allow(name: "bad\nname", key: servant.publicKey)
            }
            #expect(try await fixture.client.allowedKeys().isEmpty)
            hub.stop()
            try await task.value
        }
    }

    @Test func withSecurityOnlyAllowedKeysAreAdmittedAndOnlyTheHubKeyEdits() async throws {
        try await HubFixture.withSecuredHub { fixture, hubKeys in
            let servant = try ZMQCurveKeyPair.generate()
            let stranger = try ZMQCurveKeyPair.generate()
            func client(_ keys: ZMQCurveKeyPair) -> HubClient { fixture.curveClient(keys) }
            func unanswered(_ keys: ZMQCurveKeyPair) -> HubClient { fixture.curveClient(keys, timeout: HubFixture.noAnswerTimeout) }

            // No CURVE at all, or an unknown key: no answer.
            await #expect(throws: HubError.self) { try await fixture.impatientClient.allowedKeys() }
            await #expect(throws: HubError.self) { try await unanswered(stranger).allowedKeys() }

            _ = try await client(hubKeys).allow(name: "servant", key: servant.publicKey)
            #expect(try await client(servant).allowedKeys().map(\.key) == [servant.publicKey])
            // An admitted key that is not the hub's may not edit the list.
            await #expect {
                try await client(servant).allow(name: "x", key: stranger.publicKey)
            } throws: { error in
                (error as? HubError)?.code == .adminKeyNeeded
            }

            _ = try await client(hubKeys).revoke(name: "servant")
            await #expect(throws: HubError.self) { try await unanswered(servant).allowedKeys() }
        }
    }

    /// A spoke whose key is revoked while it runs has each heartbeat refused, for ever: it
    /// says once what that means for it and what to do, then once a minute, not once a beat.
    @Test func aRevokedSpokeSaysOnceWhatItMeansAndWhatToDo() async throws {
        try await HubFixture.withSecuredHub { fixture, hubKeys in
            let keys = try await fixture.allowedKey("servant", role: .servant, by: hubKeys)
            let recorder = LogRecorder()
            var registration = SpokeRegistration.current(
                port: 40_000, threads: 1, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:40000")
            registration.curveKey = keys.publicKey
            let agent = try SpokeAgent(
                hub: fixture.endpoint, registration: registration, heartbeatInterval: .milliseconds(100),
                livenessTimeout: .seconds(3),
                curve: ZMQCurveClientKeys(serverPublicKey: fixture.configuration.curve!.publicKey, keyPair: keys),
                logger: recorder.logger(label: "servant"))
            let task = Task { try await agent.run() }
            defer { agent.stop(deregister: false) }
            _ = try await agent.waitUntilRegistered(timeout: .seconds(30))
            _ = try await fixture.curveClient(hubKeys).revoke(name: "servant")
            let said = { recorder.messages.filter { $0.hasPrefix("the hub no longer allows this servant's key") } }
            #expect(await eventually { !said().isEmpty }, "\(recorder.messages)")
            // A dozen heartbeats more, each refused.
            try await Task.sleep(for: .milliseconds(1_200))
            agent.stop(deregister: false)
            try await task.value
            #expect(said().count == 1, "\(recorder.messages)")
            #expect(
                said().first?.contains("brokers no longer use this servant; allow its key again (mserve hub allow NAME FILE.pub --role servant), or stop this servant") == true,
                "\(recorder.messages)")
            #expect(!recorder.messages.contains { $0.hasPrefix("the hub refused a message") }, "\(recorder.messages)")
        }
    }

    @Test func noKeyMayTakeTheNameOfTheHubsOwnKey() async throws {
        try await HubFixture.withSecuredHub { fixture, hubKeys in
            let impostor = try ZMQCurveKeyPair.generate()
            let refusal = await #expect(throws: HubError.self) {
                try await fixture.curveClient(hubKeys).allow(name: "hub-admin", key: impostor.publicKey, role: .any)
            }
            #expect(refusal?.message.contains("names the hub's own key") == true, "\(String(describing: refusal))")
            // Not admitted at all, let alone with the hub key's right to edit the list.
            await #expect(throws: HubError.self) {
                try await fixture.curveClient(impostor, timeout: HubFixture.noAnswerTimeout).allowedKeys()
            }
        }
        // Written straight into the tables, the name is refused too.
        try withTemporaryDirectory("mserve-hub") { temporary in
            let directory = temporary + "/hub"
            let database = try HubDatabase(directory: directory)
            #expect(throws: HubError.self) {
                try database.allow(name: "hub-admin", key: String(repeating: "a", count: 40), at: 0)
            }
        }
    }

    /// With keys, a session belongs to the key that registered it: another allowed key that
    /// learned the session (it is in the spoke's routing id, `spoke-<session>`) can neither take
    /// its row over, nor, connecting with that routing id (the hub hands a routing id over to
    /// its newest connection), put the spoke in `down` or beat for it. The owner registers it
    /// again.
    @Test func anotherKeyCannotTakeOverARegisteredSession() async throws {
        try await HubFixture.withSecuredHub(liveness: .seconds(60)) { fixture, hubKeys in
            let servant = try await fixture.allowedKey("servant", role: .servant, by: hubKeys)
            let client = try await fixture.allowedKey("client", role: .client, by: hubKeys)
            func registration(role: String) -> HubMessage {
                var registration = SpokeRegistration.current(
                    port: 41_701, threads: 1, service: "owned", role: role, endpoint: "tcp://*:41701")
                registration.session = "s9"
                return HubMessage(.register, registration.entries)
            }
            /// A connection with the spoke's routing id, speaking with `keys`.
            func spokeSocket(_ keys: ZMQCurveKeyPair) throws -> HubPeerSocket {
                let curve = ZMQCurveClientKeys(serverPublicKey: fixture.configuration.curve!.publicKey, keyPair: keys)
                return try HubPeerSocket(
                    endpoint: fixture.endpoint, routingID: Array("spoke-s9".utf8), queueUntilConnected: true, curve: curve)
            }
            func exchange(_ socket: HubPeerSocket, _ message: HubMessage) async -> HubMessage? {
                guard socket.send(message) else { return nil }
                return await socket.receive(within: .seconds(30))
            }

            let owner = try spokeSocket(servant)
            let registered = await exchange(owner, registration(role: SpokeRole.servant))
            #expect(registered?.command == .registered)
            owner.close()

            do {
                _ = try await fixture.curveClient(client).request(registration(role: SpokeRole.client))
                Issue.record("another key took the session over")
            } catch let error as HubError {
                #expect(error.message.contains("registered with another key"), "\(error)")
            }

            let impostor = try spokeSocket(client)
            let refused = await exchange(impostor, HubMessage(.deregister, [("reason", .string("evil"))]))
            #expect(refused?.command == .error, "\(String(describing: refused?.command))")
            #expect(refused?.text("message") == "this spoke was registered with another key")
            #expect(await exchange(impostor, HubMessage(.heartbeat, []))?.command == .unknown)
            impostor.close()
            #expect(try await fixture.curveClient(servant).table("down").rowCount == 0)
            #expect(try await fixture.curveClient(servant).resolve("owned").count == 1)

            let returning = try spokeSocket(servant)
            defer { returning.close() }
            let again = await exchange(returning, registration(role: SpokeRole.servant))
            #expect(again?.command == .registered && again?.integer("id") == registered?.integer("id"))
        }
    }

    @Test func aServantMayRegisterOnlyTheKeyItConnectedWith() async throws {
        // Its spokes register once and send no heartbeat: a busy machine must not see them
        // leave before they are resolved.
        try await HubFixture.withSecuredHub(liveness: .seconds(60)) { fixture, hubKeys in
            let servant = try await fixture.allowedKey("servant", role: .servant, by: hubKeys)
            let other = try await fixture.allowedKey("other", role: .servant, by: hubKeys)
            func registration(port: Int32, key: String?) -> HubMessage {
                var registration = SpokeRegistration.current(
                    port: port, threads: 1, service: "keyed", role: SpokeRole.servant, endpoint: "tcp://*:\(port)")
                registration.curveKey = key
                return HubMessage(.register, registration.entries)
            }

            // Another allowed key, or one not allowed at all: refused, and not announced.
            do {
                _ = try await fixture.curveClient(servant).request(registration(port: 41_601, key: other.publicKey))
                Issue.record("a servant registered another servant's key")
            } catch let error as HubError {
                #expect(error.message.contains("the key this connection authenticated with"))
            }
            let stranger = try ZMQCurveKeyPair.generate()
            await #expect(throws: HubError.self) {
                try await fixture.curveClient(servant).request(registration(port: 41_602, key: stranger.publicKey))
            }
            #expect(try await fixture.curveClient(servant).resolve("keyed").isEmpty)

            // Its own key, or none: registered.
            _ = try await fixture.curveClient(servant).request(registration(port: 41_603, key: servant.publicKey))
            _ = try await fixture.curveClient(other).request(registration(port: 41_604, key: nil))
            let resolved = try await fixture.curveClient(servant).resolve("keyed")
            #expect(Set(resolved.map(\.curveKey)) == [servant.publicKey, nil])
        }
    }
}
