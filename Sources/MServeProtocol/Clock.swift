import Foundation
import QData

/// The clocks MServe times queries with.
public enum QueryClock {
    /// Seconds between the Unix epoch and q's epoch, 2000.01.01.
    public static let qEpochOffsetSeconds: Int64 = 946_684_800

    /// Monotonic nanoseconds, for durations (`CLOCK_MONOTONIC`, read directly: through
    /// `DispatchTime` each read also cost a call into libdispatch, and the broker reads the
    /// clock three times a query).
    @inline(__always)
    public static func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    /// Wall-clock time as a q timestamp: nanoseconds since 2000.01.01D00:00.
    public static func qTimestampNow() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return (Int64(spec.tv_sec) - qEpochOffsetSeconds) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}

extension Duration {
    /// The duration in whole nanoseconds, for the monotonic clock's arithmetic: 0 when
    /// negative, and at most `Int64.max` (292 years), so that a monotonic reading plus it
    /// cannot overflow.
    public var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let limit = UInt64(Int64.max)
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, whole < limit else { return limit }
        return min(limit, whole + UInt64(max(0, attoseconds) / 1_000_000_000))
    }
}
