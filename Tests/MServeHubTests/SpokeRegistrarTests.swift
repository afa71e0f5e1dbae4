import Foundation
import MServeHub
import MServeTesting
import MServeTestSupport
import ServiceLifecycle
import Synchronization
import Testing

/// A process written with the library registers with the hub once it has bound its endpoint,
/// under the address it binds, and leaves the hub when it stops.
struct SpokeRegistrarTests {
    @Test(arguments: [
        ("tcp://127.0.0.1:5701", Int32(5701), "127.0.0.1" as String?),
        ("tcp://10.1.2.3:41000", 41000, "10.1.2.3"),
        ("tcp://*:5701", 5701, nil),
        ("tcp://0.0.0.0:5701", 5701, nil),
    ])
    func aRegistrationAdvertisesTheHostItBindsUnlessEveryInterface(endpoint: String, port: Int32, advertised: String?) {
        let registration = SpokeRegistration.current(boundAt: endpoint, threads: 3, service: "lib", role: SpokeRole.servant)
        #expect(registration.endpoint == endpoint)
        #expect(registration.port == port)
        #expect(registration.advertisedHost == advertised)
        #expect(registration.threads == 3)
        #expect(registration.service == "lib")
        #expect(registration.role == SpokeRole.servant)
    }

    @Test func aProcessIsRegisteredOnceBoundAndLeavesTheHubWhenItStops() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            // The endpoint is known only after a while, as a servant's is once it has bound.
            let bound = Mutex<String?>(nil)
            let registrar = SpokeRegistrar(hub: fixture.endpoint, service: "lib", role: SpokeRole.servant, logger: quietLogger) {
                while true {
                    if let endpoint = bound.withLock({ $0 }) { return endpoint }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            let group = ServiceGroup(services: [registrar], logger: quietLogger)
            let running = Task { try await group.run() }
            #expect(try await Hub.resolve("lib", hub: fixture.endpoint).isEmpty)
            bound.withLock { $0 = "tcp://127.0.0.1:41777" }
            let registered = await eventually { (try? await Hub.resolve("lib", hub: fixture.endpoint))?.map(\.endpoint) == ["tcp://127.0.0.1:41777"] }
            #expect(registered)

            await group.triggerGracefulShutdown()
            try await running.value
            let left = await eventually { (try? await Hub.resolve("lib", hub: fixture.endpoint))?.isEmpty == true }
            #expect(left)
            hub.stop()
            try await hubTask.value
        }
    }

    /// Cancelled before its process has bound, it ends without registering anything.
    @Test func cancelledWhileWaitingForTheEndpointItEnds() async throws {
        let registrar = SpokeRegistrar(hub: "tcp://127.0.0.1:9", service: "lib", role: SpokeRole.servant, logger: quietLogger) {
            try await Task.sleep(for: .seconds(3_600))
            return "tcp://127.0.0.1:41778"
        }
        let running = Task { try await registrar.run() }
        running.cancel()
        try await running.value
    }
}
