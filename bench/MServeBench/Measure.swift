import Foundation

/// Timing helpers for the micro-benchmarks: best of several runs, each long enough to
/// swamp the clock's resolution, on a monotonic clock.
enum Measure {
    /// Runs `body` `iterations` times per round for `rounds` rounds; returns the best
    /// round's seconds per iteration.
    static func bestSecondsPerIteration(rounds: Int = 5, iterations: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<rounds {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<iterations { body() }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = min(best, elapsed / Double(iterations))
        }
        return best
    }

    /// A value the optimizer cannot see through.
    @inline(never)
    static func consume<T>(_ value: T) {
        withExtendedLifetime(value) {}
    }

    /// Formats a rate with a unit.
    /// A target's verdict, as every suite prints it.
    static func verdict(_ met: Bool) -> String { met ? "met" : "NOT met" }

    static func rate(_ perSecond: Double, unit: String) -> String {
        if perSecond >= 1e9 { return String(format: "%.2f G%@/s", perSecond / 1e9, unit) }
        if perSecond >= 1e6 { return String(format: "%.2f M%@/s", perSecond / 1e6, unit) }
        if perSecond >= 1e3 { return String(format: "%.1f k%@/s", perSecond / 1e3, unit) }
        return String(format: "%.1f %@/s", perSecond, unit)
    }
}
