import Foundation
public import QData

extension QValue {
    /// The value rendered as a routing string.
    ///
    /// - A symbol is its text (`` `IBM `` → `IBM`); a char or a string is its text (bytes
    ///   decoded as UTF-8).
    /// - Numbers and temporal values use q's literal syntax without a type suffix, as q's
    ///   `string` does: `42`, `1.5`, `0x2a` → `2a`, `1b` → `1`, `2024.01.02`, `2024.01m`,
    ///   `12:30:00.000`, `12:30`, `12:30:00`, `2024.01.02D12:30:00.000000000`,
    ///   `0D00:00:01.000000000`, `2024.01.02T12:30:00.000`; floats in their shortest decimal
    ///   form without a trailing `.0`; guids in lowercase 8-4-4-4-12 form.
    /// - Nulls and infinities are their q literals: `0N`, `0Nh`, `0n`, `0Nd`, `0W`, `-0W`,
    ///   `0w`, `0Wd`, ….
    /// - A vector or general list joins its items with `,` (`` `IBM`MSFT `` → `IBM,MSFT`,
    ///   `1 2 3` → `1,2,3`, `(1;`a;"xy")` → `1,a,xy`); a list or non-string vector nested in a
    ///   list is wrapped in parentheses (`(1;2 3)` → `1,(2,3)`).
    /// - A dictionary is `keys!values`, a table `+keys!values`, `::` is `::`, an error `'text`.
    public var routingText: String {
        switch self {
        case .atom(.symbol(let symbol)):
            return symbol
        case .atom(let atom):
            return RoutingRenderer.render(atom)
        case .vector(let vector, _):
            return RoutingRenderer.render(vector)
        case .list(let items, _):
            return items.map(RoutingRenderer.renderNested).joined(separator: ",")
        case .dictionary(let keys, let values, _):
            return RoutingRenderer.renderNested(keys) + "!" + RoutingRenderer.renderNested(values)
        case .table(let table, _):
            let columns = QValue.vector(.symbol(table.columns))
            return "+" + RoutingRenderer.renderNested(columns) + "!"
                + RoutingRenderer.renderNested(.list(table.values))
        case .error(let text):
            return "'" + text
        case .identity:
            return "::"
        }
    }
}

/// Renders atoms and vectors for ``QValue/routingText``.
enum RoutingRenderer {
    static func renderNested(_ value: QValue) -> String {
        switch value {
        case .vector(.char, _), .atom, .identity, .error:
            return value.routingText
        default:
            return "(" + value.routingText + ")"
        }
    }

    static func render(_ vector: QVector) -> String {
        switch vector {
        case .char(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .symbol(let symbols): return symbols.joined(separator: ",")
        case .boolean(let values): return join(values) { .boolean($0) }
        case .guid(let values): return join(values) { .guid($0) }
        case .byte(let values): return join(values) { .byte($0) }
        case .short(let values): return join(values) { .short($0) }
        case .int(let values): return join(values) { .int($0) }
        case .long(let values): return join(values) { .long($0) }
        case .real(let values): return join(values) { .real($0) }
        case .float(let values): return join(values) { .float($0) }
        case .timestamp(let values): return join(values) { .timestamp($0) }
        case .month(let values): return join(values) { .month($0) }
        case .date(let values): return join(values) { .date($0) }
        case .datetime(let values): return join(values) { .datetime($0) }
        case .timespan(let values): return join(values) { .timespan($0) }
        case .minute(let values): return join(values) { .minute($0) }
        case .second(let values): return join(values) { .second($0) }
        case .time(let values): return join(values) { .time($0) }
        }
    }

    private static func join<Element>(_ values: [Element], _ atom: (Element) -> QAtom) -> String {
        values.map { render(atom($0)) }.joined(separator: ",")
    }

    static func render(_ atom: QAtom) -> String {
        switch atom {
        case .boolean(let value): return value ? "1" : "0"
        case .guid(let value): return value.uuidString.lowercased()
        case .byte(let value): return hex(value)
        case .short(let value):
            return special(value, null: .min, infinity: .max, suffix: "h") ?? String(value)
        case .int(let value):
            return special(value, null: .min, infinity: .max, suffix: "i") ?? String(value)
        case .long(let value):
            return special(value, null: .min, infinity: .max, suffix: "") ?? String(value)
        case .real(let value):
            if value.isNaN { return "0Ne" }
            if value.isInfinite { return value < 0 ? "-0We" : "0We" }
            return decimal(Double(value), description: value.description)
        case .float(let value):
            if value.isNaN { return "0n" }
            if value.isInfinite { return value < 0 ? "-0w" : "0w" }
            return decimal(value, description: value.description)
        case .char(let value): return String(decoding: [value], as: UTF8.self)
        case .symbol(let value): return value
        case .timestamp(let value):
            if let text = special(value, null: .min, infinity: .max, suffix: "p") { return text }
            let (days, nanoseconds) = floorDivide(value, QCalendar.nanosecondsPerDay)
            return date(days) + "D" + clock(nanoseconds: nanoseconds, fractionDigits: 9)
        case .month(let value):
            if let text = special(value, null: .min, infinity: .max, suffix: "m") { return text }
            let (years, months) = floorDivide(Int64(value), 12)
            return pad(2000 + years, 4) + "." + pad(months + 1, 2) + "m"
        case .date(let value):
            if let text = special(value, null: .min, infinity: .max, suffix: "d") { return text }
            return date(Int64(value))
        case .datetime(let value):
            if value.isNaN { return "0Nz" }
            if value.isInfinite { return value < 0 ? "-0Wz" : "0Wz" }
            // Past what a long counts in milliseconds (some 292 million years): the day count.
            guard let milliseconds = Int64(exactly: (value * Double(QCalendar.millisecondsPerDay)).rounded()) else {
                return "\(value)z"
            }
            let (days, remainder) = floorDivide(milliseconds, QCalendar.millisecondsPerDay)
            return date(days) + "T" + clock(nanoseconds: remainder * 1_000_000, fractionDigits: 3)
        case .timespan(let value):
            if let text = special(value, null: .min, infinity: .max, suffix: "n") { return text }
            let magnitude = value.magnitude
            let days = magnitude / UInt64(QCalendar.nanosecondsPerDay)
            let rest = Int64(magnitude % UInt64(QCalendar.nanosecondsPerDay))
            return (value < 0 ? "-" : "") + String(days) + "D"
                + clock(nanoseconds: rest, fractionDigits: 9)
        case .minute(let value):
            if let text = special(value, null: .min, infinity: .max, suffix: "u") { return text }
            let magnitude = Int64(value.magnitude)
            return (value < 0 ? "-" : "") + pad(magnitude / 60, 2) + ":" + pad(magnitude % 60, 2)
        case .second(let value):
            if let text = special(value, null: .min, infinity: .max, suffix: "v") { return text }
            let magnitude = Int64(value.magnitude)
            return (value < 0 ? "-" : "")
                + clock(nanoseconds: magnitude * 1_000_000_000, fractionDigits: 0)
        case .time(let value):
            if let text = special(value, null: .min, infinity: .max, suffix: "t") { return text }
            let magnitude = Int64(value.magnitude)
            return (value < 0 ? "-" : "")
                + clock(nanoseconds: magnitude * 1_000_000, fractionDigits: 3)
        }
    }

    /// `0N`/`0W`/`-0W` with the type's suffix, for a null or an infinity.
    private static func special<Value: FixedWidthInteger & SignedInteger>(
        _ value: Value, null: Value, infinity: Value, suffix: String
    ) -> String? {
        if value == null { return "0N" + suffix }
        if value == infinity { return "0W" + suffix }
        if value == -infinity { return "-0W" + suffix }
        return nil
    }

    private static func decimal(_ value: Double, description: String) -> String {
        if value == value.rounded(), abs(value) < 1e15 {
            return String(Int64(value))
        }
        return description
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let quotient = value / divisor
        let remainder = value % divisor
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    private static func date(_ days: Int64) -> String {
        let (year, month, day) = QCalendar.date(days: days)
        return pad(year, 4) + "." + pad(month, 2) + "." + pad(day, 2)
    }

    /// `hh:mm:ss` and, when `fractionDigits` > 0, `.` and that many digits.
    private static func clock(nanoseconds: Int64, fractionDigits: Int) -> String {
        let seconds = nanoseconds / 1_000_000_000
        var text = pad(seconds / 3600, 2) + ":" + pad(seconds / 60 % 60, 2) + ":"
            + pad(seconds % 60, 2)
        if fractionDigits > 0 {
            var fraction = nanoseconds % 1_000_000_000
            for _ in fractionDigits..<9 { fraction /= 10 }
            text += "." + pad(fraction, fractionDigits)
        }
        return text
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
    }
}
