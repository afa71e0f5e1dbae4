import Foundation

// Equality compares floats and reals by bit pattern, so q's nulls (NaN) equal themselves
// and a decoded message equals the value it was encoded from.

extension QAtom: Hashable {
    /// Equal when of one type and one value; floats, reals and datetimes compare by bit pattern.
    public static func == (lhs: QAtom, rhs: QAtom) -> Bool {
        switch (lhs, rhs) {
        case (.real(let a), .real(let b)): a.bitPattern == b.bitPattern
        case (.float(let a), .float(let b)): a.bitPattern == b.bitPattern
        case (.datetime(let a), .datetime(let b)): a.bitPattern == b.bitPattern
        case (.boolean(let a), .boolean(let b)): a == b
        case (.guid(let a), .guid(let b)): a == b
        case (.byte(let a), .byte(let b)): a == b
        case (.short(let a), .short(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.long(let a), .long(let b)): a == b
        case (.char(let a), .char(let b)): a == b
        case (.symbol(let a), .symbol(let b)): a == b
        case (.timestamp(let a), .timestamp(let b)): a == b
        case (.month(let a), .month(let b)): a == b
        case (.date(let a), .date(let b)): a == b
        case (.timespan(let a), .timespan(let b)): a == b
        case (.minute(let a), .minute(let b)): a == b
        case (.second(let a), .second(let b)): a == b
        case (.time(let a), .time(let b)): a == b
        default: false
        }
    }

    /// Hashes what `==` compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(typeCode.rawValue)
        switch self {
        case .real(let v): hasher.combine(v.bitPattern)
        case .float(let v), .datetime(let v): hasher.combine(v.bitPattern)
        case .boolean(let v): hasher.combine(v)
        case .guid(let v): hasher.combine(v)
        case .byte(let v), .char(let v): hasher.combine(v)
        case .short(let v): hasher.combine(v)
        case .int(let v), .month(let v), .date(let v), .minute(let v), .second(let v), .time(let v): hasher.combine(v)
        case .long(let v), .timestamp(let v), .timespan(let v): hasher.combine(v)
        case .symbol(let v): hasher.combine(v)
        }
    }
}

extension QVector: Hashable {
    /// Equal when of one type and one value; floats, reals and datetimes compare by bit pattern.
    public static func == (lhs: QVector, rhs: QVector) -> Bool {
        switch (lhs, rhs) {
        case (.real(let a), .real(let b)): a.map(\.bitPattern) == b.map(\.bitPattern)
        case (.float(let a), .float(let b)): a.map(\.bitPattern) == b.map(\.bitPattern)
        case (.datetime(let a), .datetime(let b)): a.map(\.bitPattern) == b.map(\.bitPattern)
        case (.boolean(let a), .boolean(let b)): a == b
        case (.guid(let a), .guid(let b)): a == b
        case (.byte(let a), .byte(let b)): a == b
        case (.short(let a), .short(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.long(let a), .long(let b)): a == b
        case (.char(let a), .char(let b)): a == b
        case (.symbol(let a), .symbol(let b)): a == b
        case (.timestamp(let a), .timestamp(let b)): a == b
        case (.month(let a), .month(let b)): a == b
        case (.date(let a), .date(let b)): a == b
        case (.timespan(let a), .timespan(let b)): a == b
        case (.minute(let a), .minute(let b)): a == b
        case (.second(let a), .second(let b)): a == b
        case (.time(let a), .time(let b)): a == b
        default: false
        }
    }

    /// Hashes what `==` compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(typeCode.rawValue)
        hasher.combine(count)
    }
}
