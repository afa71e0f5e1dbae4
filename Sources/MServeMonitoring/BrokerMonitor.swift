import Foundation
public import MServeBroker
public import Prometheus
import Synchronization

/// Shows a ``Broker`` over HTTP: what its loop counted and its gauges (queue, in flight, per
/// servant), published from its snapshot at each scrape; its status and a few minutes of
/// throughput and latency. The loop only counts: everything here runs on the HTTP side.
public final class BrokerMonitor: MonitoredProcess {
    private let broker: Broker
    /// The registry `/metrics` emits (the loop's histograms follow it).
    public let registry: PrometheusCollectorRegistry
    private let service: String
    private let state = Mutex(State())
    /// How many samples the history keeps.
    public let historyLength: Int

    private struct State {
        var history: [HistoryPoint] = []
        var lastSample: (time: Double, answered: UInt64, counts: [UInt64])?
        /// The loop's counters as last published to the registry.
        var counters = CounterMirror()
        /// Per servant, by endpoint: its name, and its served and lost counts as last published.
        var servantTotals: [String: (name: String, served: UInt64, lost: UInt64)] = [:]
        /// The servant names (the `servant` label) with series in the registry.
        var servantNames: Set<String> = []
    }

    /// One point of the status page's charts.
    struct HistoryPoint: Codable, Sendable {
        var time: Double
        var perSecond: Double
        var p50Milliseconds: Double?
        var p90Milliseconds: Double?
        var p99Milliseconds: Double?
        var queued: Int
    }

    /// Shows `broker` under the service name `service`, publishing into `registry`; keeps
    /// `historyLength` samples for the charts.
    public init(
        broker: Broker, service: String, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        historyLength: Int = 300
    ) {
        self.broker = broker
        self.registry = registry
        self.service = service
        self.historyLength = historyLength
    }

    /// The dimensions every broker metric carries.
    public static func dimensions(service: String) -> [(String, String)] { [("service", service)] }

    public func sample() async {
        let snapshot = await broker.snapshot()
        // A stopped broker's snapshot is empty: nothing to chart.
        guard !snapshot.clientEndpoint.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        let counts = snapshot.metrics.elapsed.bucketCounts
        state.withLock { state in
            defer { state.lastSample = (now, snapshot.answered, counts) }
            guard let last = state.lastSample, now > last.time else { return }
            func milliseconds(_ fraction: Double) -> Double? {
                LatencyWindow.percentile(fraction, from: last.counts, to: counts).map { $0 * 1_000 }
            }
            state.history.append(
                HistoryPoint(
                    time: now, perSecond: Double(snapshot.answered &- last.answered) / (now - last.time),
                    p50Milliseconds: milliseconds(0.5), p90Milliseconds: milliseconds(0.9),
                    p99Milliseconds: milliseconds(0.99), queued: snapshot.queued))
            if state.history.count > historyLength { state.history.removeFirst(state.history.count - historyLength) }
        }
    }

    public func refresh() async -> MonitoredState {
        let snapshot = await broker.snapshot()
        publish(snapshot)
        return state(of: snapshot)
    }

    public func metrics() async -> [UInt8] {
        let snapshot = await broker.snapshot()
        publish(snapshot)
        var text = registry.emitToBuffer()
        // The algorithm, without its configuration: the label a comparison of algorithms
        // (a benchmark, a canary broker) groups by.
        let algorithm = snapshot.algorithm.split(separator: ":", maxSplits: 1).first.map(String.init) ?? snapshot.algorithm
        let labels = Self.dimensions(service: service) + [("algorithm", algorithm)]
        let counted = snapshot.metrics
        HistogramExposition.append(
            counted.elapsed, name: "mserve_broker_query_elapsed_seconds",
            help: "Arrival to answer, of the queries a servant answered.", labels: labels, into: &text)
        HistogramExposition.append(
            counted.queued, name: "mserve_broker_query_queued_seconds",
            help: "Arrival to dispatch, of the queries a servant answered.", labels: labels, into: &text)
        HistogramExposition.append(
            counted.execution, name: "mserve_broker_query_execution_seconds",
            help: "Execution at the servant, of the queries a servant answered.", labels: labels, into: &text)
        return text
    }

    /// The health checks' and status page's view of `snapshot`.
    func state(of snapshot: BrokerSnapshot) -> MonitoredState {
        // A stopping broker (draining after SIGTERM) is not live any more: `/healthz` says
        // `stopped` and `/readyz` not ready, so that load balancers send it nothing new.
        let live = !snapshot.clientEndpoint.isEmpty && !snapshot.stopping
        let readyCount = live ? snapshot.servants.filter { $0.state == "ready" }.count : 0
        let readiness =
            snapshot.stopping
            ? "the broker is stopping"
            : !live
                ? "the broker is not running" : readyCount > 0 ? "\(readyCount) servant(s) ready" : "no servant is ready"
        let status = Status(
            role: "broker", service: service, endpoint: snapshot.clientEndpoint, algorithm: snapshot.algorithm,
            uptimeSeconds: Double(snapshot.uptime.components.seconds)
                + Double(snapshot.uptime.components.attoseconds) / 1e18,
            live: live, ready: readyCount > 0, readiness: readiness, queued: snapshot.queued,
            inFlight: snapshot.inFlight, answered: snapshot.answered,
            servants: snapshot.servants.map {
                Status.Servant(
                    name: $0.name, endpoint: $0.endpoint, state: $0.state, inFlight: $0.inFlight,
                    capacity: $0.capacity, served: $0.served, lost: $0.lost,
                    meanExecutionMilliseconds: Double($0.meanExecution.components.attoseconds) / 1e15
                        + Double($0.meanExecution.components.seconds) * 1_000,
                    lastRouting: $0.lastRouting)
            },
            history: state.withLock { $0.history })
        return MonitoredState(live: live, ready: readyCount > 0, readiness: readiness, json: StatusJSON.encode(status))
    }

    /// The broker's status page JSON.
    struct Status: Codable {
        struct Servant: Codable {
            var name, endpoint, state: String
            var inFlight, capacity: Int
            var served, lost: UInt64
            var meanExecutionMilliseconds: Double
            var lastRouting: String
        }
        var role, service, endpoint, algorithm: String
        var uptimeSeconds: Double
        var live, ready: Bool
        var readiness: String
        var queued, inFlight: Int
        var answered: UInt64
        var servants: [Servant]
        var history: [HistoryPoint]
    }

    static let servantInFlightHelp = "Queries running on the servant (on all the servants of this name)."
    static let servantStateHelp = "Servants of this name in the state: 1 for the servant's state, 0 for the others."
    static let servantServedHelp = "Queries whose answer from the servant the broker passed on to their client."
    static let servantLostHelp = "Times the servant was lost while ready or draining."

    /// The states a servant may be in, each a series of `mserve_broker_servant_state`.
    static let servantStates = ["connecting", "ready", "draining", "left", "lost"]

    /// Publishes `snapshot` to the registry: the loop's counters, the gauges, the servants.
    func publish(_ snapshot: BrokerSnapshot) {
        let base = Self.dimensions(service: service)
        let counted = snapshot.metrics
        var totals: [(name: String, labels: [(String, String)], help: String, value: UInt64)] =
            BrokerMetrics.Outcome.allCases.map {
                ("mserve_broker_queries_total", base + [("outcome", $0.rawValue)], "Queries ended, by outcome.",
                 counted.queries($0))
            }
        // Every reason from the start, 0 until a loss: an alert or a rate needs no series to
        // appear first. Not the per-servant series: kept when the servant is removed.
        totals += BrokerMetrics.ServantLossReason.allCases.map {
            ("mserve_broker_servants_lost_total", base + [("reason", $0.rawValue)],
             "Servants lost while ready or draining, by reason; kept when the servant is removed.",
             counted.servantsLost($0))
        }
        totals += [
            ("mserve_broker_queries_redispatched_total", base,
             "Queries sent again because the servant running them was lost or left, counted as each is sent.",
             counted.redispatched),
            ("mserve_broker_dispatch_plugin_slow_calls_total", base,
             "Calls into the dispatch plugin that took 100 ms or more, holding up the broker.", counted.slowPluginCalls),
            ("mserve_broker_client_messages_total", base + [("direction", "received")],
             "Messages from and to clients.", counted.messagesReceived),
            ("mserve_broker_client_messages_total", base + [("direction", "sent")],
             "Messages from and to clients.", counted.messagesSent),
            ("mserve_broker_client_messages_total", base + [("direction", "dropped")],
             "Messages from and to clients.", counted.messagesDropped),
            ("mserve_broker_client_bytes_total", base + [("direction", "received")],
             "Bytes of the messages from and to clients.", counted.bytesReceived),
            ("mserve_broker_client_bytes_total", base + [("direction", "sent")],
             "Bytes of the messages from and to clients.", counted.bytesSent),
            ("mserve_broker_client_bytes_total", base + [("direction", "dropped")],
             "Bytes of the messages from and to clients.", counted.bytesDropped),
            ("mserve_broker_kdb_connections_total", base + [("result", "accepted")],
             "kdb+ door connections, accepted or refused.", counted.door.connectionsAccepted),
            ("mserve_broker_kdb_connections_total", base + [("result", "refused")],
             "kdb+ door connections, accepted or refused.", counted.door.connectionsRefused),
            ("mserve_broker_kdb_logins_refused_total", base, "kdb+ door logins refused.", counted.door.loginsRefused),
            ("mserve_broker_refused_peers_total", base + [("reason", "key")],
             "Peers the client door refused (--keys), by reason.", counted.refusedPeerKeys),
            ("mserve_broker_refused_peers_total", base + [("reason", "handshake")],
             "Peers the client door refused (--keys), by reason.", counted.refusedPeerHandshakes),
        ]
        state.withLock { state in
            for total in totals {
                let key = total.name + total.labels.map { ",\($0.0)=\($0.1)" }.joined()
                state.counters.publish(total.value, to: registry.counter(total.name, total.labels, total.help), key: key)
            }
        }
        registry.gauge("mserve_broker_queue_length", base, "Queries waiting for a free servant.").set(Double(snapshot.queued))
        registry.gauge("mserve_broker_queue_bytes", base, "Bytes of the queries waiting for a free servant.")
            .set(Double(snapshot.queuedBytes))
        registry.gauge("mserve_broker_queries_in_flight", base, "Queries dispatched and not yet answered.").set(Double(snapshot.inFlight))
        for servantState in Self.servantStates {
            registry.gauge("mserve_broker_servants", base + [("state", servantState)], "Servants by state.")
                .set(Double(snapshot.servants.filter { $0.state == servantState }.count))
        }
        ProcessMetrics.update(in: registry)
        state.withLock { state in
            // Servants that share a name (two `--name db1`) share its series: each gauge adds
            // them up, and each counter gains what every one of them gained since the last
            // scrape, each servant known by its endpoint (unique in the broker).
            var byName: [String: [ServantStatus]] = [:]
            for servant in snapshot.servants { byName[servant.name, default: []].append(servant) }
            var published: [String: (name: String, served: UInt64, lost: UInt64)] = [:]
            for (name, servants) in byName {
                let labels = base + [("servant", name)]
                registry.gauge("mserve_broker_servant_in_flight", labels, Self.servantInFlightHelp)
                    .set(Double(servants.reduce(0) { $0 + $1.inFlight }))
                for servantState in Self.servantStates {
                    registry.gauge("mserve_broker_servant_state", labels + [("state", servantState)], Self.servantStateHelp)
                        .set(Double(servants.filter { $0.state == servantState }.count))
                }
                var gained: (served: UInt64, lost: UInt64) = (0, 0)
                for servant in servants {
                    // A servant new under this name, or removed and added again under its
                    // endpoint since the last scrape (its counts lower), counts from zero.
                    let last = state.servantTotals[servant.endpoint].flatMap { $0.name == name ? $0 : nil }
                    gained.served &+= Self.gain(from: last?.served ?? 0, to: servant.served)
                    gained.lost &+= Self.gain(from: last?.lost ?? 0, to: servant.lost)
                    published[servant.endpoint] = (name, servant.served, servant.lost)
                }
                registry.counter("mserve_broker_servant_served_total", labels, Self.servantServedHelp)
                    .increment(by: Int64(clamping: gained.served))
                registry.counter("mserve_broker_servant_lost_total", labels, Self.servantLostHelp)
                    .increment(by: Int64(clamping: gained.lost))
            }
            // A name no servant has any more (removed by `removeServant`, gone from the hub)
            // leaves the metrics.
            for name in state.servantNames where byName[name] == nil {
                let labels = base + [("servant", name)]
                registry.unregisterGauge(registry.gauge("mserve_broker_servant_in_flight", labels, Self.servantInFlightHelp))
                for servantState in Self.servantStates {
                    registry.unregisterGauge(
                        registry.gauge("mserve_broker_servant_state", labels + [("state", servantState)], Self.servantStateHelp))
                }
                registry.unregisterCounter(registry.counter("mserve_broker_servant_served_total", labels, Self.servantServedHelp))
                registry.unregisterCounter(registry.counter("mserve_broker_servant_lost_total", labels, Self.servantLostHelp))
            }
            state.servantNames = Set(byName.keys)
            state.servantTotals = published
        }
    }

    /// What a servant's count gained from `last` (published) to `now`: all of `now` when it is
    /// lower (the servant was counted again from zero).
    static func gain(from last: UInt64, to now: UInt64) -> UInt64 {
        now >= last ? now - last : now
    }
}
