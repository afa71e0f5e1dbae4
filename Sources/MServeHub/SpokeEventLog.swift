// Lines about spokes coming and going, kept to a few a second: anyone who reaches a hub
// without keys may register thousands of spokes and let them go down.

import MServeProtocol

/// Lets lines about spokes (registered, deregistered, down) through while they come at a
/// cluster's pace, `burst` a second in all; past that it counts the ones it holds back, by
/// kind, for one summary line once the second is over.
struct SpokeEventLog {
    /// What happened to a spoke.
    enum Kind: String, CaseIterable {
        case registered, deregistered, down
    }

    private let burst: Int
    private let intervalNanoseconds: UInt64
    private var windowEnd: UInt64 = 0
    private var admitted = 0
    private var heldBack: [Kind: Int] = [:]

    /// A log letting `burst` lines through per `interval`.
    init(burst: Int = 20, interval: Duration = .seconds(1)) {
        self.burst = burst
        intervalNanoseconds = interval.nanoseconds
    }

    /// Whether a line of `kind` may be logged at `now` (monotonic nanoseconds); counted as held
    /// back when not. Take ``summary(now:)`` first: a new second begins here.
    mutating func admit(_ kind: Kind, now: UInt64) -> Bool {
        if now >= windowEnd {
            windowEnd = now &+ intervalNanoseconds
            admitted = 0
        }
        guard admitted < burst else {
            heldBack[kind, default: 0] += 1
            return false
        }
        admitted += 1
        return true
    }

    /// The line saying what was held back, once the second it was held back in is over; nil
    /// when nothing was (or the second goes on).
    mutating func summary(now: UInt64) -> String? {
        guard !heldBack.isEmpty, now >= windowEnd else { return nil }
        let counts = Kind.allCases.compactMap { kind in heldBack[kind].map { "\($0) \(kind.rawValue)" } }
        heldBack = [:]
        return "spoke events not logged, over \(burst) a second: \(counts.joined(separator: ", "))"
    }
}
