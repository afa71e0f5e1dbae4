import Synchronization

/// Counts query times in fixed buckets (1, 2, 5 × 10ⁿ from 10 µs to 100 s), so that the
/// percentiles of the queries answered between two samples can be read off the difference of
/// two counts. Thread-safe: the broker's loop records, the status sampler reads.
public final class LatencyWindow: Sendable {
    /// The upper bounds of the buckets, in nanoseconds; a last bucket holds everything above.
    public static let bounds: [UInt64] = {
        var bounds: [UInt64] = []
        var decade: UInt64 = 10_000
        while decade <= 100_000_000_000 {
            for step: UInt64 in [1, 2, 5] where decade * step <= 100_000_000_000 { bounds.append(decade * step) }
            decade *= 10
        }
        return bounds
    }()

    private let buckets = Mutex([UInt64](repeating: 0, count: LatencyWindow.bounds.count + 1))

    /// An empty window.
    public init() {}

    /// Counts one time of `nanoseconds`.
    public func record(nanoseconds: Int64) {
        let value = UInt64(max(0, nanoseconds))
        var low = 0, high = Self.bounds.count
        while low < high {
            let middle = (low + high) / 2
            if Self.bounds[middle] < value { low = middle + 1 } else { high = middle }
        }
        buckets.withLock { $0[low] &+= 1 }
    }

    /// The counts so far, per bucket.
    public func counts() -> [UInt64] { buckets.withLock { $0 } }

    /// The `fraction` percentile (0.5, 0.99) of the times counted between `earlier` and `later`
    /// (two ``counts()``), as the upper bound of its bucket, in seconds; nil when none came.
    public static func percentile(_ fraction: Double, from earlier: [UInt64], to later: [UInt64]) -> Double? {
        let deltas = zip(later, earlier).map { $0 &- $1 }
        let total = deltas.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = UInt64((Double(total) * fraction).rounded(.up))
        var seen: UInt64 = 0
        for (index, count) in deltas.enumerated() {
            seen += count
            if seen >= max(rank, 1) {
                let bound = index < bounds.count ? bounds[index] : bounds[bounds.count - 1] * 2
                return Double(bound) / 1e9
            }
        }
        return nil
    }
}
