import Foundation
import Logging
import MServeHub
import MServeTesting
import MServeTestSupport
import ServiceLifecycle
import Testing

@Suite("HubAutoMode", .serialized)
struct HubAutoModeTests {
    @Test("a hub endpoint for every interface is reached on this host's loopback", arguments: [
        ("tcp://*:5560", "tcp://127.0.0.1:5560"), ("tcp://0.0.0.0:5560", "tcp://127.0.0.1:5560"),
        ("tcp://[::]:5560", "tcp://[::1]:5560"), ("tcp://10.1.2.7:5560", "tcp://10.1.2.7:5560"),
    ])
    func everyInterfaceIsReachedOnLoopback(bound: String, reached: String) {
        #expect(HubAutoMode.connectableEndpoint(bound) == reached)
    }

    @Test("the first process serves; when it stops the other takes over and the tables survive")
    func failover() async throws {
        try await HubFixture.with { fixture in
            let first = try HubAutoMode(
                configuration: fixture.configuration,
                registration: .current(port: 41_401, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:41401"),
                logger: quietLogger)
            let firstTask = Task { try await first.run() }
            fixture.stopBeforeRemoving {
                first.stop()
                _ = await firstTask.result
            }
            _ = try await first.spoke.waitUntilRegistered(timeout: .seconds(15))
            #expect(first.isServingHub)

            let second = try HubAutoMode(
                configuration: fixture.configuration,
                registration: .current(port: 41_402, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:41402"),
                logger: quietLogger)
            let secondTask = Task { try await second.run() }
            fixture.stopBeforeRemoving {
                second.stop()
                _ = await secondTask.result
            }
            let secondID = try await second.spoke.waitUntilRegistered(timeout: .seconds(15))
            #expect(!second.isServingHub)
            #expect(try await fixture.client.table("spoke").rowCount == 2)

            first.stop()
            try await firstTask.value
            let tookOver = await eventually(timeout: .seconds(60)) { second.isServingHub }
            #expect(tookOver)
            _ = try await second.spoke.waitUntilRegistered(count: 2, timeout: .seconds(15))
            let spokes = try await fixture.client.table("spoke")
            #expect(spokes.longs("id") == [secondID])
            #expect(try await fixture.client.table("down").rowCount == 0)

            second.stop()
            try await secondTask.value
        }
    }

    @Test("a graceful shutdown of the serving process deregisters it before its hub stops")
    func gracefulShutdownDeregisters() async throws {
        try await HubFixture.with { fixture in
            let member = try HubAutoMode(
                configuration: fixture.configuration,
                registration: .current(port: 41_403, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:41403"),
                logger: quietLogger)
            let group = ServiceGroup(services: [member], logger: quietLogger)
            let running = Task { try await group.run() }
            fixture.stopBeforeRemoving {
                await group.triggerGracefulShutdown()
                _ = await running.result
            }
            _ = try await member.spoke.waitUntilRegistered(timeout: .seconds(15))
            #expect(member.isServingHub)
            await group.triggerGracefulShutdown()
            try await running.value

            // The next hub over the same tables finds no spoke left, and no crash report.
            let (hub, hubTask) = try await fixture.startHub()
            #expect(try await fixture.client.table("spoke").rowCount == 0)
            #expect(try await fixture.client.table("down").rowCount == 0)
            hub.stop()
            try await hubTask.value
        }
    }

    @Test("a process that cannot serve the hub says so, stays a spoke, and serves once it can")
    func aHeldDirectoryIsReportedAndWaitedFor() async throws {
        try await HubFixture.with { holder in
            // A hub on another port holds the directory.
            let (hub, hubTask) = try await holder.startHub()
            let fixture = holder.sharingDirectory()
            let log = LogRecorder()
            let member = try HubAutoMode(
                configuration: fixture.configuration,
                registration: .current(port: 41_404, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:41404"),
                logger: log.logger(label: "mserve.hub-auto", level: .info))
            let memberTask = Task { try await member.run() }
            fixture.stopBeforeRemoving {
                member.stop()
                _ = await memberTask.result
            }
            #expect(await eventually { log.messages.contains { $0.hasPrefix("cannot serve the hub") && $0.contains("in use by another hub") } })
            #expect(!member.isServingHub)

            hub.stop()
            try await hubTask.value
            #expect(await eventually(timeout: .seconds(60)) { member.isServingHub })
            _ = try await member.spoke.waitUntilRegistered(timeout: .seconds(15))
            #expect(log.messages.filter { $0.hasPrefix("cannot serve the hub") }.count == 1, "said once")
            member.stop()
            try await memberTask.value
        }
    }
}
