import Foundation
import MServeHub
import MServeTestSupport
import Testing

@Suite("HubAutoMode", .serialized)
struct HubAutoModeTests {
    @Test("the first process serves; when it stops the other takes over and the tables survive")
    func failover() async throws {
        let fixture = HubFixture()
        let first = try HubAutoMode(
            configuration: fixture.configuration,
            registration: .current(port: 41_401, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:41401"),
            logger: quietLogger)
        let firstTask = Task { try await first.run() }
        _ = try await first.spoke.waitUntilRegistered(timeout: .seconds(15))
        #expect(first.isServingHub)

        let second = try HubAutoMode(
            configuration: fixture.configuration,
            registration: .current(port: 41_402, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:41402"),
            logger: quietLogger)
        let secondTask = Task { try await second.run() }
        let secondID = try await second.spoke.waitUntilRegistered(timeout: .seconds(15))
        #expect(!second.isServingHub)
        #expect(try await fixture.client.table("spoke").rowCount == 2)

        first.stop()
        try await firstTask.value
        let tookOver = await eventually(timeout: .seconds(8)) { second.isServingHub }
        #expect(tookOver)
        _ = try await second.spoke.waitUntilRegistered(count: 2, timeout: .seconds(15))
        let spokes = try await fixture.client.table("spoke")
        #expect(spokes.longs("id") == [secondID])
        #expect(try await fixture.client.table("down").rowCount == 0)

        second.stop()
        try await secondTask.value
    }
}
