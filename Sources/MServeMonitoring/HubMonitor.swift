import Foundation
public import MServeHub
public import Prometheus
import Synchronization

/// Shows a ``Hub`` over HTTP: its spokes by role and state, its crash reports, and what its
/// loop counted, published from its snapshot at each scrape.
public final class HubMonitor: MonitoredProcess {
    private let currentHub: @Sendable () -> Hub?
    /// The registry `/metrics` emits.
    public let registry: PrometheusCollectorRegistry
    private let state = Mutex(State())

    private struct State {
        /// The (role, state) series set so far: every documented pair from the start, at zero
        /// until a spoke is in it, and any other seen since; one that empties is set to zero,
        /// not left stale.
        var series: Set<[String]> = HubMonitor.documentedSpokeSeries
        /// The hub whose counters were last published (held, so that a new one is never taken
        /// for it), and what they were.
        var hub: Hub?
        var counters = CounterMirror()
    }

    /// The states a spoke may be in, each a `state` of `mserve_hub_spokes`.
    static let spokeStates = ["up", "unconfirmed"]
    /// Every (role, state) pair of `mserve_hub_spokes` that is exported from the start: an alert
    /// on a pair at zero (no servant up) then fires on a hub that has never seen such a spoke.
    static let documentedSpokeSeries = Set(SpokeRole.all.flatMap { role in spokeStates.map { [role, $0] } })

    /// Shows `hub`, publishing into `registry`.
    public convenience init(hub: Hub, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.init(registry: registry) { hub }
    }

    /// Shows the hub `currentHub` returns at each look, none while it returns nil (a process in
    /// `--hub auto` mode serves the hub only while it holds the hub's port; each term is a new
    /// ``Hub``, whose counters start again from zero and add to the published ones).
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), currentHub: @escaping @Sendable () -> Hub?) {
        self.currentHub = currentHub
        self.registry = registry
    }

    public func sample() async {}

    public func refresh() async -> MonitoredState {
        let snapshot = await self.snapshot()
        publish(snapshot)
        return state(of: snapshot)
    }

    public func metrics() async -> [UInt8] {
        publish(await snapshot())
        return registry.emitToBuffer()
    }

    /// The current hub's snapshot, with the hub it came from; ``HubSnapshot/stopped`` when none.
    func snapshot() async -> (hub: Hub?, snapshot: HubSnapshot) {
        guard let hub = currentHub() else { return (nil, .stopped) }
        return (hub, await hub.snapshot())
    }

    /// The health checks' and status page's view of a hub's snapshot.
    func state(of taken: (hub: Hub?, snapshot: HubSnapshot)) -> MonitoredState {
        let snapshot = taken.snapshot
        let live = !snapshot.endpoint.isEmpty
        let readiness =
            !live
            ? "the hub is not running"
            : snapshot.databaseOpen
                ? "the hub's database is open" : snapshot.databaseProblem ?? "the hub's database cannot be read"
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

    /// Publishes a hub's snapshot to the registry: its gauges and what its loop counted.
    func publish(_ taken: (hub: Hub?, snapshot: HubSnapshot)) {
        let snapshot = taken.snapshot
        var counts: [[String]: Int] = [:]
        for spoke in snapshot.spokes { counts[[spoke.role, spoke.state], default: 0] += 1 }
        let counted = snapshot.metrics
        var totals: [(name: String, labels: [(String, String)], help: String, value: UInt64)] =
            HubMetrics.Refusal.allCases.map {
                ("mserve_hub_refused_total", [("reason", $0.rawValue)], "Peer messages refused, by reason.",
                 counted.refusals($0))
            }
        totals += [
            ("mserve_hub_crash_reports_total", [], "Spokes moved to down since the hub started.", counted.crashReports),
            ("mserve_hub_registrations_total", [], "Registrations accepted.", counted.registrations),
        ]
        state.withLock { state in
            state.series.formUnion(counts.keys)
            for key in state.series {
                registry.gauge("mserve_hub_spokes", [("role", key[0]), ("state", key[1])], "Spokes by role and state.")
                    .set(Double(counts[key] ?? 0))
            }
            if let hub = taken.hub {
                if hub !== state.hub {
                    state.hub = hub
                    state.counters.restart()
                }
                for total in totals {
                    let key = total.name + total.labels.map { ",\($0.0)=\($0.1)" }.joined()
                    state.counters.publish(total.value, to: registry.counter(total.name, total.labels, total.help), key: key)
                }
            }
        }
        registry.gauge("mserve_hub_crash_reports", [], "Crash reports the down table holds.").set(Double(snapshot.crashReportsHeld))
        registry.gauge("mserve_hub_database_open", [], "1 while the hub's database answers.").set(snapshot.databaseOpen ? 1.0 : 0.0)
        ProcessMetrics.update(in: registry)
    }
}
