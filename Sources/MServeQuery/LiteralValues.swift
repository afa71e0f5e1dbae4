import Foundation
import QData

/// Calendar arithmetic on q's epoch, 2000.01.01 (proleptic Gregorian calendar).
enum QCalendar {
    /// Days from 1970.01.01 to 2000.01.01.
    static let epochOffsetDays: Int64 = 10_957
    static let nanosecondsPerDay: Int64 = 86_400_000_000_000
    static let millisecondsPerDay: Int64 = 86_400_000

    static func isLeapYear(_ year: Int64) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 2000.01.01 of a calendar date.
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468 - epochOffsetDays
    }

    /// The calendar date of a day count since 2000.01.01.
    static func date(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + epochOffsetDays + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra =
            (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Per-type facts about q atoms the parser and renderer need: suffix letters,
/// nulls and infinities, and building typed vectors from atoms.
enum QLiteralTypes {
    /// The type a suffix letter names in `0Nx` / `0Wx` and number literals.
    static func type(forSuffix letter: UInt8) -> QTypeCode? {
        switch letter {
        case UInt8(ascii: "b"): return .boolean
        case UInt8(ascii: "g"): return .guid
        case UInt8(ascii: "h"): return .short
        case UInt8(ascii: "i"): return .int
        case UInt8(ascii: "j"): return .long
        case UInt8(ascii: "e"): return .real
        case UInt8(ascii: "f"): return .float
        case UInt8(ascii: "c"): return .char
        case UInt8(ascii: "s"): return .symbol
        case UInt8(ascii: "p"): return .timestamp
        case UInt8(ascii: "m"): return .month
        case UInt8(ascii: "d"): return .date
        case UInt8(ascii: "z"): return .datetime
        case UInt8(ascii: "n"): return .timespan
        case UInt8(ascii: "u"): return .minute
        case UInt8(ascii: "v"): return .second
        case UInt8(ascii: "t"): return .time
        default: return nil
        }
    }

    /// The suffix letter of a type, as in `0Nd`.
    static func suffix(for type: QTypeCode) -> String {
        switch type {
        case .boolean: return "b"
        case .guid: return "g"
        case .byte: return "x"
        case .short: return "h"
        case .int: return "i"
        case .long: return "j"
        case .real: return "e"
        case .float: return "f"
        case .char: return "c"
        case .symbol: return "s"
        case .timestamp: return "p"
        case .month: return "m"
        case .date: return "d"
        case .datetime: return "z"
        case .timespan: return "n"
        case .minute: return "u"
        case .second: return "v"
        case .time: return "t"
        default: return ""
        }
    }

    /// The null of a type (`0Nh`, `0Nd`, `0Ng`, …), or `nil` for types without one.
    static func null(of type: QTypeCode) -> QAtom? {
        switch type {
        case .guid: return .guid(UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        case .short: return .short(.min)
        case .int: return .int(.min)
        case .long: return .long(.min)
        case .real: return .real(.nan)
        case .float: return .float(.nan)
        case .timestamp: return .timestamp(.min)
        case .month: return .month(.min)
        case .date: return .date(.min)
        case .datetime: return .datetime(.nan)
        case .timespan: return .timespan(.min)
        case .minute: return .minute(.min)
        case .second: return .second(.min)
        case .time: return .time(.min)
        default: return nil
        }
    }

    /// The (negative) infinity of a type (`0Wh`, `-0Wd`, …), or `nil` for types without one.
    static func infinity(of type: QTypeCode, negative: Bool) -> QAtom? {
        switch type {
        case .short: return .short(negative ? -.max : .max)
        case .int: return .int(negative ? -.max : .max)
        case .long: return .long(negative ? -.max : .max)
        case .real: return .real(negative ? -.infinity : .infinity)
        case .float: return .float(negative ? -.infinity : .infinity)
        case .timestamp: return .timestamp(negative ? -.max : .max)
        case .month: return .month(negative ? -.max : .max)
        case .date: return .date(negative ? -.max : .max)
        case .datetime: return .datetime(negative ? -.infinity : .infinity)
        case .timespan: return .timespan(negative ? -.max : .max)
        case .minute: return .minute(negative ? -.max : .max)
        case .second: return .second(negative ? -.max : .max)
        case .time: return .time(negative ? -.max : .max)
        default: return nil
        }
    }

    /// A typed vector of atoms that all have type `type`.
    static func vector(of atoms: [QAtom], type: QTypeCode) -> QVector? {
        func collect<Element>(_ extract: (QAtom) -> Element?) -> [Element]? {
            var elements: [Element] = []
            elements.reserveCapacity(atoms.count)
            for atom in atoms {
                guard let element = extract(atom) else { return nil }
                elements.append(element)
            }
            return elements
        }
        switch type {
        case .boolean:
            return collect { if case .boolean(let v) = $0 { v } else { nil } }.map(QVector.boolean)
        case .guid:
            return collect { if case .guid(let v) = $0 { v } else { nil } }.map(QVector.guid)
        case .byte:
            return collect { if case .byte(let v) = $0 { v } else { nil } }.map(QVector.byte)
        case .short:
            return collect { if case .short(let v) = $0 { v } else { nil } }.map(QVector.short)
        case .int:
            return collect { if case .int(let v) = $0 { v } else { nil } }.map(QVector.int)
        case .long:
            return collect { if case .long(let v) = $0 { v } else { nil } }.map(QVector.long)
        case .real:
            return collect { if case .real(let v) = $0 { v } else { nil } }.map(QVector.real)
        case .float:
            return collect { if case .float(let v) = $0 { v } else { nil } }.map(QVector.float)
        case .char:
            return collect { if case .char(let v) = $0 { v } else { nil } }.map(QVector.char)
        case .symbol:
            return collect { if case .symbol(let v) = $0 { v } else { nil } }.map(QVector.symbol)
        case .timestamp:
            return collect { if case .timestamp(let v) = $0 { v } else { nil } }
                .map(QVector.timestamp)
        case .month:
            return collect { if case .month(let v) = $0 { v } else { nil } }.map(QVector.month)
        case .date:
            return collect { if case .date(let v) = $0 { v } else { nil } }.map(QVector.date)
        case .datetime:
            return collect { if case .datetime(let v) = $0 { v } else { nil } }
                .map(QVector.datetime)
        case .timespan:
            return collect { if case .timespan(let v) = $0 { v } else { nil } }
                .map(QVector.timespan)
        case .minute:
            return collect { if case .minute(let v) = $0 { v } else { nil } }.map(QVector.minute)
        case .second:
            return collect { if case .second(let v) = $0 { v } else { nil } }.map(QVector.second)
        case .time:
            return collect { if case .time(let v) = $0 { v } else { nil } }.map(QVector.time)
        default:
            return nil
        }
    }

    /// q's list literal rule: a list of atoms all of one type is a simple vector
    /// (`(1;2)` is `1 2`, `` (`a;`b) `` is `` `a`b ``); anything else stays a general list.
    static func collapse(_ items: [QValue]) -> QValue {
        guard case .atom(let first)? = items.first else { return .list(items) }
        let type = first.typeCode
        var atoms: [QAtom] = []
        atoms.reserveCapacity(items.count)
        for item in items {
            guard case .atom(let atom) = item, atom.typeCode == type else {
                return .list(items)
            }
            atoms.append(atom)
        }
        if let vector = vector(of: atoms, type: type) {
            return .vector(vector)
        }
        return .list(items)
    }
}
