// MServeTestRandom: the seeded source of random values (and q vectors) the property tests
// share, so that a seed alone reproduces a generated value in every test target.

public import Foundation
public import QData

/// A deterministic source of random values (SplitMix64), seeded from the property checker's
/// generator so that its seed alone reproduces a value.
public struct SplitMix: Sendable {
    /// The generator's state.
    public var state: UInt64

    /// A source starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number from 0 to `bound` - 1.
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// True `percent` times in a hundred.
    public mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    /// One of `items`.
    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// Usually small numbers, sometimes the extremes of the type (q's nulls and infinities).
    public mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T {
        switch below(6) {
        case 0: return [T.min, T.max, T.min + 1, 0][below(4)]
        case 1: return T(truncatingIfNeeded: next())
        default: return T(truncatingIfNeeded: Int64(below(2_001)) - 1_000)
        }
    }

    /// Usually a small fraction, sometimes NaN, an infinity, -0 or any bit pattern.
    public mutating func double() -> Double {
        switch below(6) {
        case 0: return [Double.nan, .infinity, -.infinity, -0.0, .greatestFiniteMagnitude][below(5)]
        case 1: return Double(bitPattern: next())  // any bit pattern, NaN payloads included
        default: return Double(Int64(below(200_001)) - 100_000) / 64
        }
    }

    /// Random bytes, one time in eight q's null guid.
    public mutating func guid() -> UUID {
        let bytes: [UInt8] = below(8) == 0 ? Array(repeating: 0, count: 16) : (0..<16).map { _ in UInt8(truncatingIfNeeded: next()) }
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
            bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    /// A vector of `count` items of a random type, its symbols from `symbol`.
    public mutating func vector(count: Int, symbol: (inout SplitMix) -> String) -> QVector {
        func items<T>(_ make: (inout SplitMix) -> T) -> [T] {
            var result: [T] = []
            result.reserveCapacity(count)
            for _ in 0..<count { result.append(make(&self)) }
            return result
        }
        switch below(19) {
        case 0: return .boolean(items { $0.chance(50) })
        case 1: return .guid(items { $0.guid() })
        case 2: return .byte(items { $0.integer(UInt8.self) })
        case 3: return .short(items { $0.integer(Int16.self) })
        case 4: return .int(items { $0.integer(Int32.self) })
        case 5: return .long(items { $0.integer(Int64.self) })
        case 6: return .real(items { Float($0.double()) })
        case 7: return .float(items { $0.double() })
        case 8: return .char(items { $0.integer(UInt8.self) })
        case 9, 10: return .symbol(items(symbol))
        case 11: return .timestamp(items { $0.integer(Int64.self) })
        case 12: return .month(items { $0.integer(Int32.self) })
        case 13: return .date(items { $0.integer(Int32.self) })
        case 14: return .datetime(items { $0.double() })
        case 15: return .timespan(items { $0.integer(Int64.self) })
        case 16: return .minute(items { $0.integer(Int32.self) })
        case 17: return .second(items { $0.integer(Int32.self) })
        default: return .time(items { $0.integer(Int32.self) })
        }
    }
}
