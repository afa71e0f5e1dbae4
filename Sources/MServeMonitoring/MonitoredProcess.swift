import Foundation
import MServeHub
import Prometheus

/// A process the HTTP side shows: a broker (``BrokerMonitor``) or a hub (``HubMonitor``).
public protocol MonitoredProcess: Sendable {
    /// Brings the registry's gauges up to date from the process's state, and returns that
    /// state for the status page and the health checks.
    func refresh() async -> MonitoredState
    /// Brings the registry up to date from the process's state and returns everything
    /// `/metrics` shows, in the Prometheus text format.
    func metrics() async -> [UInt8]
    /// Called every sampling interval: what the status page's charts show over time.
    func sample() async
}

/// Brings registry counters up to totals a loop counted: at each publication a counter gains
/// what its total gained since the last one. A total lower than the one published (a stale
/// snapshot answered out of order, a stopped process's empty one) changes nothing.
struct CounterMirror {
    private var published: [String: UInt64] = [:]

    /// Makes `counter`, known as `key` (its name and labels), show `total`.
    mutating func publish(_ total: UInt64, to counter: Counter, key: String) {
        let last = published[key] ?? 0
        guard total > last else { return }
        counter.increment(by: Int64(clamping: total - last))
        published[key] = total
    }

    /// Forgets what was published: the next totals are counted from zero (a new process behind
    /// the same counters, such as a hub won again in auto mode).
    mutating func restart() { published = [:] }
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
