import Foundation
import QData

/// The clocks MServe times queries with.
public enum QueryClock {
    /// Seconds between the Unix epoch and q's epoch, 2000.01.01.
    public static let qEpochOffsetSeconds: Int64 = 946_684_800

    /// Monotonic nanoseconds, for durations.
    @inline(__always)
    public static func monotonicNanoseconds() -> UInt64 {
        DispatchTime.now().uptimeNanoseconds
    }

    /// Wall-clock time as a q timestamp: nanoseconds since 2000.01.01D00:00.
    public static func qTimestampNow() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return (Int64(spec.tv_sec) - qEpochOffsetSeconds) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
