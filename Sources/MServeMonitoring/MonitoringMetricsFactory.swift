public import CoreMetrics
public import Prometheus

/// The metrics factory of a process serving `--http`: every metric goes to a Prometheus
/// registry (what `/metrics` shows), and the broker's elapsed-time histogram also to a
/// ``LatencyWindow`` (the status page's latency percentiles).
public struct MonitoringMetricsFactory: MetricsFactory, Sendable {
    /// The registry `/metrics` emits.
    public let registry: PrometheusCollectorRegistry
    /// The elapsed times of the broker's queries, for the status page.
    public let latencies: LatencyWindow
    private let prometheus: PrometheusMetricsFactory

    /// The label of the timer whose times also go to ``latencies``.
    public static let latencyTimerLabel = "mserve_broker_query_elapsed_seconds"

    /// The histogram buckets of every time: from 50 µs (a broker answers in well under a
    /// millisecond) to a minute (the default query deadline).
    public static let durationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .microseconds(2_500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2_500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    /// A factory over a new registry.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), latencies: LatencyWindow = LatencyWindow()) {
        self.registry = registry
        self.latencies = latencies
        var prometheus = PrometheusMetricsFactory(registry: registry)
        prometheus.defaultDurationHistogramBuckets = Self.durationBuckets
        self.prometheus = prometheus
    }

    /// A counter in the registry.
    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        prometheus.makeCounter(label: label, dimensions: dimensions)
    }

    /// A floating-point counter in the registry.
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        prometheus.makeFloatingPointCounter(label: label, dimensions: dimensions)
    }

    /// A gauge or value histogram in the registry.
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        prometheus.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
    }

    /// A gauge in the registry.
    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        prometheus.makeMeter(label: label, dimensions: dimensions)
    }

    /// A duration histogram in the registry; the broker's elapsed time also counts in ``latencies``.
    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let histogram = prometheus.makeTimer(label: label, dimensions: dimensions)
        guard label == Self.latencyTimerLabel else { return histogram }
        return TeeTimer(histogram: histogram, window: latencies)
    }

    /// Removes a counter from the registry.
    public func destroyCounter(_ handler: any CounterHandler) { prometheus.destroyCounter(handler) }
    /// Removes a floating-point counter from the registry.
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        prometheus.destroyFloatingPointCounter(handler)
    }
    /// Removes a recorder from the registry.
    public func destroyRecorder(_ handler: any RecorderHandler) { prometheus.destroyRecorder(handler) }
    /// Removes a meter from the registry.
    public func destroyMeter(_ handler: any MeterHandler) { prometheus.destroyMeter(handler) }
    /// Removes a timer from the registry.
    public func destroyTimer(_ handler: any TimerHandler) {
        prometheus.destroyTimer((handler as? TeeTimer)?.histogram ?? handler)
    }
}

/// A timer recording into a Prometheus histogram and a latency window.
private final class TeeTimer: TimerHandler, Sendable {
    let histogram: any TimerHandler
    let window: LatencyWindow

    init(histogram: any TimerHandler, window: LatencyWindow) {
        self.histogram = histogram
        self.window = window
    }

    func recordNanoseconds(_ duration: Int64) {
        histogram.recordNanoseconds(duration)
        window.record(nanoseconds: duration)
    }
}
