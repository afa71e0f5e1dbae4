import Foundation
import QData

/// Renders hub tables as text, like q's console shows a table.
public enum TableText {
    /// The table as aligned text: a header, a rule of dashes, one line per row. `columns`
    /// picks and orders columns (unknown names are skipped); nil shows all.
    public static func render(_ table: QTable, columns: [String]? = nil) -> String {
        let picked = (columns ?? table.columns).compactMap { name in
            table.columns.firstIndex(of: name).map { (name, cells(table.values[$0])) }
        }
        guard !picked.isEmpty else { return "" }
        let rowCount = picked.map(\.1.count).max() ?? 0
        let widths = picked.map { name, cells in max(name.count, cells.map(\.count).max() ?? 0) }
        func line(_ items: [String]) -> String {
            zip(items, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
                .joined(separator: " ").trimmingCharacters(in: .whitespaces)
        }
        var lines = [line(picked.map(\.0)), String(repeating: "-", count: widths.reduce(0, +) + widths.count - 1)]
        for row in 0..<rowCount {
            lines.append(line(picked.map { $0.1.indices.contains(row) ? $0.1[row] : "" }))
        }
        return lines.joined(separator: "\n")
    }

    /// One column's cells as text.
    static func cells(_ column: QValue) -> [String] {
        switch column {
        case .vector(let vector, _): return vector.atoms.map(text)
        case .list(let items, _):
            return items.map { item in
                if let text = item.textValue { return text }
                if case .atom(let atom) = item { return text(atom) }
                return "…"
            }
        default: return []
        }
    }

    /// One atom as q shows it.
    public static func text(_ atom: QAtom) -> String {
        switch atom {
        case .long(let value): return value == .min ? "" : String(value)
        case .int(let value): return value == .min ? "" : String(value)
        case .short(let value): return String(value)
        case .byte(let value): return String(value)
        case .boolean(let value): return value ? "1b" : "0b"
        case .real(let value): return String(value)
        case .float(let value): return String(value)
        case .symbol(let value): return value
        case .char(let value): return String(decoding: [value], as: UTF8.self)
        case .guid(let value): return value.uuidString.lowercased()
        case .timestamp(let value): return value == .min ? "" : timestamp(value)
        case .date(let value): return value == .min ? "" : date(Int64(value))
        case .timespan(let value): return value == .min ? "" : timespan(value)
        case .month(let value): return String(value)
        case .datetime(let value): return String(value)
        case .minute(let value): return String(value)
        case .second(let value): return String(value)
        case .time(let value): return String(value)
        }
    }

    /// `2020.01.04` for days since 2000.01.01.
    static func date(_ days: Int64) -> String {
        // Civil-from-days (proleptic Gregorian), shifted to the 1970 epoch.
        let z = days + 10_957 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return String(format: "%04lld.%02lld.%02lld", year, month, day)
    }

    /// `2020.01.04D13:12:13.689473000` for nanoseconds since 2000.01.01.
    static func timestamp(_ nanoseconds: Int64) -> String {
        let perDay: Int64 = 86_400_000_000_000
        var days = nanoseconds / perDay
        var rest = nanoseconds % perDay
        if rest < 0 {
            days -= 1
            rest += perDay
        }
        return date(days) + "D" + clock(rest)
    }

    /// `0D00:03:10.003498000` for nanoseconds.
    static func timespan(_ nanoseconds: Int64) -> String {
        let perDay: Int64 = 86_400_000_000_000
        let sign = nanoseconds < 0 ? "-" : ""
        let magnitude = nanoseconds.magnitude
        return sign + String(magnitude / UInt64(perDay)) + "D" + clock(Int64(magnitude % UInt64(perDay)))
    }

    private static func clock(_ nanoseconds: Int64) -> String {
        let seconds = nanoseconds / 1_000_000_000
        return String(
            format: "%02lld:%02lld:%02lld.%09lld", seconds / 3600, seconds / 60 % 60, seconds % 60,
            nanoseconds % 1_000_000_000)
    }
}
