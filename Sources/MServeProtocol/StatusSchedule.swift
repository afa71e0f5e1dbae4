/// When a long-running process's periodic status line is due, and how much a count (queries
/// answered) grew since the last one: the broker's and the servant's `--status-every`.
package struct StatusSchedule: Sendable {
    /// The period in nanoseconds; nil: no status lines.
    private let period: UInt64?
    /// When the next line is due (monotonic nanoseconds).
    private var next: UInt64
    /// The count at the last line.
    private var countAtLast: UInt64 = 0

    /// A line every `interval` (nil: never), the first one `interval` after `now`.
    package init(every interval: Duration?, now: UInt64) {
        period = interval.map { max(1, $0.nanoseconds) }
        next = now + (period ?? 0)
    }

    /// When the next line is due (monotonic nanoseconds), for a loop's poll to wake then; nil
    /// when there are no status lines.
    package var nextDue: UInt64? { period == nil ? nil : next }

    /// When a line is due at `now`: how much `count` grew since the last line, and that growth
    /// per second of the period; nil when none is due. The next line is then due a period on.
    package mutating func due(now: UInt64, count: UInt64) -> (growth: UInt64, perSecond: Int)? {
        guard let period, now >= next else { return nil }
        next = now + period
        let growth = count - countAtLast
        countAtLast = count
        return (growth, Int((Double(growth) * 1e9 / Double(period)).rounded()))
    }
}
