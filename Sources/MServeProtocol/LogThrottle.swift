// Log lines a peer can cause at any rate (a client sending garbage, a client that stopped
// reading, a refused peer retrying its handshake) are let through at most once a second each,
// with a count of those held back.

/// Lets one kind of log line through at most once per interval and counts the ones it holds
/// back, so a peer that repeats a mistake thousands of times a second costs a line a second.
public struct LogThrottle: Sendable {
    private let intervalNanoseconds: UInt64
    private var nextAllowed: UInt64 = 0
    private var heldBack = 0

    /// A throttle letting a line through at most once per `interval`.
    public init(interval: Duration = .seconds(1)) {
        intervalNanoseconds = interval.nanoseconds
    }

    /// Whether a line may be logged at `now` (monotonic nanoseconds): nil when it is held
    /// back, otherwise how many were held back since the last one let through.
    public mutating func admit(now: UInt64 = QueryClock.monotonicNanoseconds()) -> Int? {
        guard now >= nextAllowed else {
            heldBack += 1
            return nil
        }
        nextAllowed = now &+ intervalNanoseconds
        defer { heldBack = 0 }
        return heldBack
    }

    /// `message`, with the count of lines held back before it, if any.
    public static func line(_ message: String, heldBack: Int) -> String {
        heldBack == 0 ? message : "\(message) (and \(heldBack) more like it since the last such line, not logged)"
    }
}

/// One ``LogThrottle`` for each kind of line: a peer's mistakes of one kind never hold back a
/// line of another kind, nor count in its "more like it".
public struct LogThrottles<Kind: Hashable & Sendable>: Sendable {
    private let interval: Duration
    private var throttles: [Kind: LogThrottle] = [:]

    /// Throttles letting a line of each kind through at most once per `interval`.
    public init(interval: Duration = .seconds(1)) {
        self.interval = interval
    }

    /// Whether a line of `kind` may be logged at `now` (monotonic nanoseconds): nil when it is
    /// held back, otherwise how many lines of that kind were held back since the last one.
    public mutating func admit(_ kind: Kind, now: UInt64 = QueryClock.monotonicNanoseconds()) -> Int? {
        throttles[kind, default: LogThrottle(interval: interval)].admit(now: now)
    }
}
