import Foundation
// The metrics benchmark: what counting one query's three times costs the broker's loop, with
// the loop's own fixed-bucket histograms against swift-prometheus's (docs/OPERATIONS.md,
// "Monitoring"; bench/README.md, "`--http` and the loop").
import MServeBroker
import Prometheus

/// Measures the three time records the broker's loop makes for each answered query (queued,
/// execution, elapsed), one core: into ``TimeHistogram`` (what the loop does) and into
/// swift-prometheus `DurationHistogram`s with the same buckets (a lock and a bucket search each).
enum MetricsCostBenchmark {
    /// Runs each way for about a second per round, best of three, and prints its ns per query
    /// as soon as that is measured (``BenchChildren/printNow(_:)``).
    static func run(iterations: Int) {
        BenchChildren.printNow("metrics: the loop's three time records per answered query, one core, best of 3")
        let ours = best(iterations: iterations) { count in
            var queued = TimeHistogram(), execution = TimeHistogram(), elapsed = TimeHistogram()
            for index in 0..<count {
                let time = UInt64(60_000 + (index & 1023) * 300)
                queued.record(nanoseconds: time / 4)
                execution.record(nanoseconds: time / 2)
                elapsed.record(nanoseconds: time)
            }
            return queued.count &+ execution.count &+ elapsed.count
        }
        BenchChildren.printNow("  TimeHistogram (the loop's)            \(format(ours)) ns/query")
        let registry = PrometheusCollectorRegistry()
        let buckets = TimeHistogram.boundsNanoseconds.map { Duration.nanoseconds(Int64($0)) }
        let histograms = ["queued", "execution", "elapsed"].map {
            registry.makeDurationHistogram(
                descriptor: MetricNameDescriptor(
                    namespace: "mserve_bench", metricName: $0, unitName: "seconds", helpText: "The \($0) time of a query."),
                labels: [("service", "bench")], buckets: buckets)
        }
        let prometheus = best(iterations: iterations) { count in
            for index in 0..<count {
                let time = Int64(60_000 + (index & 1023) * 300)
                histograms[0].record(.nanoseconds(time / 4))
                histograms[1].record(.nanoseconds(time / 2))
                histograms[2].record(.nanoseconds(time))
            }
            return UInt64(count) * 3
        }
        BenchChildren.printNow("  swift-prometheus DurationHistogram    \(format(prometheus)) ns/query")
    }

    /// The best of three rounds of `body(iterations)`, in ns per iteration.
    private static func best(iterations: Int, _ body: (Int) -> UInt64) -> Double {
        var fastest = Double.infinity
        let clock = ContinuousClock()
        _ = body(iterations / 10)
        for _ in 0..<3 {
            let start = clock.now
            let checksum = body(iterations)
            let elapsed = clock.now - start
            precondition(checksum > 0)
            let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
            fastest = min(fastest, nanoseconds / Double(iterations))
        }
        return fastest
    }

    private static func format(_ nanoseconds: Double) -> String {
        String(format: "%7.1f", nanoseconds)
    }
}
