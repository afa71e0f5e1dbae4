import Foundation
import MServeHub
import MServeTestSupport
import QData
import Testing

/// A servant's CURVE public key travels in REGISTER, is kept in the spoke table, and reaches
/// brokers in RESOLVED, SNAPSHOT and JOIN, so they can pin it.
@Suite struct ServantKeyTests {
    static let key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"

    func registration(key: String?) -> SpokeRegistration {
        var registration = SpokeRegistration.current(
            port: 41_500, threads: 2, service: "keyed", role: SpokeRole.servant, endpoint: "tcp://*:41500")
        registration.curveKey = key
        return registration
    }

    @Test func theKeyRoundTripsThroughRegister() throws {
        let keyed = try SpokeRegistration(message: HubMessage(.register, registration(key: Self.key).entries))
        #expect(keyed.curveKey == Self.key)
        let plain = try SpokeRegistration(message: HubMessage(.register, registration(key: nil).entries))
        #expect(plain.curveKey == nil)
    }

    @Test func theSpokeTableKeepsTheKeyAcrossReopening() throws {
        try withTemporaryDirectory("mserve-hub") { temporary in
            let directory = temporary + "/hub"
            try HubDatabase(directory: directory).register(registration(key: Self.key), endpoint: "tcp://10.0.0.1:41500", at: 1)
            let spokes = try HubDatabase(directory: directory).spokes()
            #expect(spokes.map(\.registration.curveKey) == [Self.key])
            #expect(spokes.map(\.serviceEndpoint.curveKey) == [Self.key])
        }
    }

    @Test func resolveAnswersWithTheKey() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let keyed = try SpokeAgent(
                hub: fixture.endpoint, registration: registration(key: Self.key), heartbeatInterval: HubFixture.heartbeat,
                livenessTimeout: HubFixture.liveness, logger: quietLogger)
            let keyedTask = Task { try await keyed.run() }
            _ = try await keyed.waitUntilRegistered(timeout: .seconds(15))
            let resolved = try await fixture.client.resolve("keyed")
            #expect(resolved.map(\.curveKey) == [Self.key])
            keyed.stop()
            try await keyedTask.value
            hub.stop()
            try await hubTask.value
        }
    }
}
