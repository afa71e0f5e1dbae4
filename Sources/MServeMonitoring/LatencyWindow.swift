import MServeBroker

/// Reads latency percentiles off two readings of an elapsed-time histogram: the queries answered
/// between them are the difference of the two bucket counts.
public enum LatencyWindow {
    /// The `fraction` percentile (0.5, 0.99) of the times counted between `earlier` and `later`
    /// (two ``TimeHistogram/bucketCounts``), as the upper bound of its bucket, in seconds (twice
    /// the last bound for the `+Inf` bucket); nil when none came.
    public static func percentile(_ fraction: Double, from earlier: [UInt64], to later: [UInt64]) -> Double? {
        let deltas = zip(later, earlier).map { $0 &- $1 }
        let total = deltas.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = max(UInt64((Double(total) * fraction).rounded(.up)), 1)
        let bounds = TimeHistogram.boundsNanoseconds
        var seen: UInt64 = 0
        for (index, count) in deltas.enumerated() {
            seen += count
            if seen >= rank {
                let bound = index < bounds.count ? bounds[index] : bounds[bounds.count - 1] * 2
                return Double(bound) / 1e9
            }
        }
        return nil
    }
}
