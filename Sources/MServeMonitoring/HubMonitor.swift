import Foundation
public import MServeHub
import Prometheus
import Synchronization

/// Shows a ``Hub`` over HTTP: its spokes by role and state, its crash reports.
public final class HubMonitor: MonitoredProcess {
    private let hub: Hub
    private let registry: PrometheusCollectorRegistry
    /// The (role, state) series set so far: one that empties is set to zero, not left stale.
    private let series = Mutex<Set<[String]>>([])

    /// Shows `hub`, whose metrics were made by `factory`.
    public init(hub: Hub, factory: MonitoringMetricsFactory) {
        self.hub = hub
        self.registry = factory.registry
    }

    public func sample() async {}

    public func refresh() async -> MonitoredState {
        let snapshot = await hub.snapshot()
        let live = !snapshot.endpoint.isEmpty
        updateGauges(snapshot)
        let readiness =
            !live ? "the hub is not running" : snapshot.databaseOpen ? "the hub's database is open" : "the hub's database cannot be read"
        let status = Status(
            role: "hub", endpoint: snapshot.endpoint, live: live, ready: live && snapshot.databaseOpen,
            readiness: readiness, databaseOpen: snapshot.databaseOpen,
            spokes: snapshot.spokes.map {
                Status.Spoke(
                    id: $0.id, service: $0.service, role: $0.role, endpoint: $0.endpoint, host: $0.host, pid: $0.pid,
                    state: $0.state)
            },
            crashes: snapshot.crashes.map {
                Status.Crash(
                    spoke: $0.spoke, service: $0.service, role: $0.role, endpoint: $0.endpoint, host: $0.host,
                    pid: $0.pid, time: StatusJSON.unixSeconds(qTimestamp: $0.crash), reason: $0.reason)
            },
            crashReportsHeld: snapshot.crashReportsHeld)
        return MonitoredState(
            live: live, ready: live && snapshot.databaseOpen, readiness: readiness, json: StatusJSON.encode(status))
    }

    /// The hub's status page JSON.
    struct Status: Codable {
        struct Spoke: Codable {
            var id: Int64
            var service, role, endpoint, host: String
            var pid: Int64
            var state: String
        }
        struct Crash: Codable {
            var spoke: Int64
            var service, role, endpoint, host: String
            var pid: Int64
            var time: Double
            var reason: String
        }
        var role, endpoint: String
        var live, ready: Bool
        var readiness: String
        var databaseOpen: Bool
        var spokes: [Spoke]
        var crashes: [Crash]
        var crashReportsHeld: Int
    }

    private func updateGauges(_ snapshot: HubSnapshot) {
        var counts: [[String]: Int] = [:]
        for spoke in snapshot.spokes { counts[[spoke.role, spoke.state], default: 0] += 1 }
        series.withLock { series in
            series.formUnion(counts.keys)
            for key in series {
                registry.gauge("mserve_hub_spokes", [("role", key[0]), ("state", key[1])], "Spokes by role and state.")
                    .set(Double(counts[key] ?? 0))
            }
        }
        registry.gauge("mserve_hub_crash_reports", [], "Crash reports the down table holds.").set(Double(snapshot.crashReportsHeld))
        registry.gauge("mserve_hub_database_open", [], "1 while the hub's database answers.").set(snapshot.databaseOpen ? 1.0 : 0.0)
        ProcessMetrics.update(in: registry)
    }
}
