public import Foundation

// Conversions between q values and Swift values: integers, floats, text, UUIDs, Date and Duration.

extension QValue {
    /// Seconds between the Unix epoch and q's epoch, 2000.01.01.
    static let qEpochOffset: Double = 946_684_800

    /// A long atom.
    public init(_ value: Int) { self = .atom(.long(Int64(value))) }
    /// A long atom.
    public init(_ value: Int64) { self = .atom(.long(value)) }
    /// An int atom.
    public init(_ value: Int32) { self = .atom(.int(value)) }
    /// A float atom.
    public init(_ value: Double) { self = .atom(.float(value)) }
    /// A boolean atom.
    public init(_ value: Bool) { self = .atom(.boolean(value)) }
    /// A symbol atom (use ``string(_:)`` for a q string).
    public init(_ value: String) { self = .atom(.symbol(value)) }
    /// A guid atom.
    public init(_ value: UUID) { self = .atom(.guid(value)) }
    /// A timestamp atom (nanoseconds since 2000.01.01, rounded to the microsecond Date keeps).
    public init(_ value: Date) {
        let nanoseconds = ((value.timeIntervalSince1970 - Self.qEpochOffset) * 1e6).rounded() * 1_000
        self = .atom(.timestamp(Int64(nanoseconds)))
    }
    /// A timespan atom.
    public init(_ value: Duration) {
        let (seconds, attoseconds) = value.components
        self = .atom(.timespan(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }
    /// A long vector.
    public init(_ values: [Int64]) { self = .vector(.long(values)) }
    /// A float vector.
    public init(_ values: [Double]) { self = .vector(.float(values)) }
    /// A symbol vector.
    public init(_ values: [String]) { self = .vector(.symbol(values)) }

    /// The value as an Int, for integer atoms that fit.
    public var int: Int? { int64.flatMap { Int(exactly: $0) } }

    /// The value as a UUID, for guid atoms.
    public var uuid: UUID? {
        if case .atom(.guid(let value)) = self { return value }
        return nil
    }

    /// The value as a Date, for timestamp, datetime and date atoms (nil for nulls).
    public var date: Date? {
        guard case .atom(let atom) = self, !atom.isNull else { return nil }
        switch atom {
        case .timestamp(let nanoseconds):
            return Date(timeIntervalSince1970: Self.qEpochOffset + Double(nanoseconds) / 1e9)
        case .datetime(let days): return Date(timeIntervalSince1970: Self.qEpochOffset + days * 86_400)
        case .date(let days): return Date(timeIntervalSince1970: Self.qEpochOffset + Double(days) * 86_400)
        default: return nil
        }
    }

    /// The value as a Duration, for timespan, time, second and minute atoms (nil for nulls).
    public var duration: Duration? {
        guard case .atom(let atom) = self, !atom.isNull else { return nil }
        switch atom {
        case .timespan(let nanoseconds): return .nanoseconds(nanoseconds)
        case .time(let milliseconds): return .milliseconds(milliseconds)
        case .second(let seconds): return .seconds(seconds)
        case .minute(let minutes): return .seconds(Int64(minutes) * 60)
        default: return nil
        }
    }

    /// The elements of a symbol vector.
    public var symbols: [String]? {
        if case .vector(.symbol(let values), _) = self { return values }
        return nil
    }

    /// The elements of a long, int, short or byte vector as Int64.
    public var int64s: [Int64]? {
        guard case .vector(let vector, _) = self else { return nil }
        switch vector {
        case .long(let values): return values
        case .int(let values): return values.map(Int64.init)
        case .short(let values): return values.map(Int64.init)
        case .byte(let values): return values.map(Int64.init)
        default: return nil
        }
    }

    /// The elements of a float or real vector as Double.
    public var doubles: [Double]? {
        guard case .vector(let vector, _) = self else { return nil }
        switch vector {
        case .float(let values): return values
        case .real(let values): return values.map(Double.init)
        default: return nil
        }
    }
}
