import Foundation
import MServeHub
import Prometheus

/// A process the HTTP side shows: a broker (``BrokerMonitor``) or a hub (``HubMonitor``).
public protocol MonitoredProcess: Sendable {
    /// Brings the registry's gauges up to date from the process's state, and returns that
    /// state for the status page and the health checks.
    func refresh() async -> MonitoredState
    /// Called every sampling interval: what the status page's charts show over time.
    func sample() async
}

/// What the health checks and the status page see of a process.
public struct MonitoredState: Sendable {
    /// Whether the process runs (its loop answered): `/healthz`.
    public var live: Bool
    /// Whether it can do its work (a broker: a servant is ready; a hub: its database is open): `/readyz`.
    public var ready: Bool
    /// Why it is or is not ready, one line.
    public var readiness: String
    /// The status page's JSON (`/status.json`).
    public var json: [UInt8]

    /// Creates a state.
    public init(live: Bool, ready: Bool, readiness: String, json: [UInt8]) {
        self.live = live
        self.ready = ready
        self.readiness = readiness
        self.json = json
    }
}

/// Process-wide metrics: the resident set size, `process_resident_memory_bytes`.
enum ProcessMetrics {
    static func update(in registry: PrometheusCollectorRegistry) {
        registry.gauge("process_resident_memory_bytes", [], "Resident memory size in bytes.")
            .set(Double(MemoryStats.current().rss))
    }
}

/// Encodes a status for the page: keys sorted, so that tests and diffs read it easily.
enum StatusJSON {
    static func encode<Value: Encodable>(_ value: Value) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(value))) ?? Array("{}".utf8)
    }

    /// A q timestamp (nanoseconds since 2000.01.01) as Unix seconds.
    static func unixSeconds(qTimestamp: Int64) -> Double {
        Double(qTimestamp) / 1e9 + 946_684_800
    }
}

extension PrometheusCollectorRegistry {
    /// The gauge `name` with `labels` (made on first use), described by `help`.
    func gauge(_ name: String, _ labels: [(String, String)], _ help: String) -> Gauge {
        makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    /// The counter `name` with `labels` (made on first use), described by `help`.
    func counter(_ name: String, _ labels: [(String, String)], _ help: String) -> Counter {
        makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }
}
