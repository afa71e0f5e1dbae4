import Foundation
import Logging
import MServeHub
@testable import MServeMonitoring
import MServeTestSupport
import POSIXSockets
import Prometheus
import ServiceLifecycle
import Testing

/// The HTTP side of a hub: its spokes, its crash reports, its readiness.
struct HubMonitorTests {
    static let quiet = Logger(label: "mserve.test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test func spokesAndCrashReportsShow() async throws {
        try await withTemporaryDirectory("mserve-hub") { temporary in
            let directory = temporary + "/hub"
            let endpoint = "tcp://127.0.0.1:\(LoopbackPort.free())"
            let configuration = HubConfiguration(
                endpoint: endpoint, directory: directory, heartbeatInterval: .milliseconds(300),
                livenessTimeout: .seconds(3), memoryStatsKept: 5)
            let hub = try Hub(configuration: configuration, logger: Self.quiet)
            let server = MonitoringServer(
                address: HTTPBindAddress(host: "127.0.0.1", port: 0), process: HubMonitor(hub: hub), logger: Self.quiet)
            let group = ServiceGroup(services: [hub, server], logger: Self.quiet)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                defer { tasks.cancelAll() }
                _ = try await hub.endpoint
                let port = try await server.port
                #expect(try await http(port: port, "/readyz").status == 200)

                let agents = try [40_001, 40_002].map { port in
                    try SpokeAgent(
                        hub: endpoint,
                        registration: .current(
                            port: Int32(port), threads: 1, service: "dev", role: SpokeRole.servant,
                            endpoint: "tcp://*:\(port)"),
                        heartbeatInterval: .milliseconds(300), livenessTimeout: .seconds(3), logger: Self.quiet)
                }
                let agentTasks = agents.map { agent in Task { try await agent.run() } }
                for agent in agents { _ = try await agent.waitUntilRegistered(timeout: .seconds(15)) }

                let metrics = try await http(port: port, "/metrics").body
                #expect(sample(metrics, "mserve_hub_spokes", ["role": "servant", "state": "up"]) == 2)
                #expect(sample(metrics, "mserve_hub_registrations_total") == 2)
                #expect(sample(metrics, "mserve_hub_database_open") == 1)

                // One goes silent: after the liveness it is a crash report.
                agents[1].stop(deregister: false)
                try await agentTasks[1].value
                let crashed = try await eventually {
                    sample(try await http(port: port, "/metrics").body, "mserve_hub_crash_reports") == 1
                }
                #expect(crashed)
                let after = try await http(port: port, "/metrics").body
                #expect(sample(after, "mserve_hub_spokes", ["role": "servant", "state": "up"]) == 1)
                #expect(sample(after, "mserve_hub_crash_reports_total") == 1)

                let status = try await http(port: port, "/status.json")
                let json = try #require(try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any])
                #expect(json["role"] as? String == "hub")
                #expect((json["spokes"] as? [[String: Any]])?.count == 1)
                let crashes = try #require(json["crashes"] as? [[String: Any]])
                #expect(crashes.count == 1)
                #expect(crashes.first?["reason"] as? String == "missed heartbeats")
                #expect(crashes.first?["service"] as? String == "dev")

                agents[0].stop()
                try await agentTasks[0].value
                await group.triggerGracefulShutdown()
            }
        }
    }

    /// A hub whose database refuses writes is live but not ready, and /readyz says why.
    @Test func aHubWhoseDatabaseRefusesWritesIsNotReadySayingWhy() {
        var snapshot = HubSnapshot(
            endpoint: "tcp://127.0.0.1:5560", databaseOpen: false, spokes: [], crashes: [], crashReportsHeld: 0)
        snapshot.databaseProblem = "the hub's database refuses writes (cannot register a spoke: SQLite error 13: database or disk is full)"
        let monitor = HubMonitor(registry: .init()) { nil }
        let state = monitor.state(of: (nil, snapshot))
        #expect(state.live)
        #expect(!state.ready)
        #expect(state.readiness == snapshot.databaseProblem)
        monitor.publish((nil, snapshot))
        #expect(sample(String(decoding: monitor.registry.emitToBuffer(), as: UTF8.self), "mserve_hub_database_open") == 0)
    }

    /// Every documented role and state of `mserve_hub_spokes` is there from the start, at zero
    /// until a spoke is in it: an alert on "no servant up" fires on a hub that never saw one.
    @Test func everySpokeRoleAndStateIsExportedFromTheStart() {
        let monitor = HubMonitor(registry: .init()) { nil }
        let snapshot = HubSnapshot(
            endpoint: "tcp://127.0.0.1:5560", databaseOpen: true, spokes: [], crashes: [], crashReportsHeld: 0)
        monitor.publish((nil, snapshot))
        let text = String(decoding: monitor.registry.emitToBuffer(), as: UTF8.self)
        for role in ["servant", "broker", "client", "hub"] {
            for state in ["up", "unconfirmed"] {
                #expect(sample(text, "mserve_hub_spokes", ["role": role, "state": state]) == 0, "\(role) \(state)")
            }
        }
    }

    @Test func aStoppedHubIsNeitherLiveNorReady() async throws {
        try await withTemporaryDirectory("mserve-hub") { temporary in
            let configuration = HubConfiguration(
                endpoint: "tcp://127.0.0.1:\(LoopbackPort.free())", directory: temporary + "/hub")
            let hub = try Hub(configuration: configuration, logger: Self.quiet)
            let running = Task { try await hub.run() }
            do {
                _ = try await hub.endpoint
            } catch {
                hub.stop()
                _ = await running.result
                throw error
            }
            #expect(await HubMonitor(hub: hub).refresh().ready)
            hub.stop()
            try await running.value
            let state = await HubMonitor(hub: hub).refresh()
            #expect(!state.live)
            #expect(!state.ready)
        }
    }
}
