import Foundation

// Renders values the way a q console shows them: `IBM, 42i, 2024.01.02, "abc", tables with
// a header and dashes, dictionaries as `key| value` lines. Unlike q, a control or format
// character in a string, a symbol or an error's text is shown escaped (`\n`, `\033`): what a
// peer sent cannot start a line of its own nor send escape sequences to a terminal.

extension QValue: CustomStringConvertible {
    /// The value as a q console shows it.
    public var description: String { QConsole.render(self) }
}

extension QAtom: CustomStringConvertible {
    /// The value as a q console shows it.
    public var description: String { QConsole.atom(self, suffix: true) }
}

extension QAtom {
    /// The atom as a cell of a q table shows it: no type suffix, nulls blank.
    public var cellText: String { isNull ? "" : QConsole.atom(in: self) }
}

extension QTable {
    /// The table as the q console shows it, with only `columns` (in that order; unknown
    /// names are skipped), like `select pid,port from spoke`.
    public func rendered(columns: [String]? = nil) -> String {
        let names = (columns ?? self.columns).filter { self.columns.contains($0) }
        guard !names.isEmpty else { return "" }
        return QConsole.table(QTable(columns: names, values: names.compactMap { column(named: $0) }))
    }
}

extension QVector: CustomStringConvertible {
    /// The value as a q console shows it.
    public var description: String { QConsole.vector(self) }
}

extension QValue {
    /// `text` as the console shows a symbol or an error's text: each control or format
    /// character (a newline, an escape, a bidirectional override, a line separator) written
    /// as it is written in a string, `\n`, `\t`, `\r`, else the octal of its UTF-8 bytes
    /// (`\033`); everything else as it is. For a text that came from a peer and is printed
    /// where the console's own lines are.
    public static func consoleText(_ text: String) -> String { QConsole.symbol(text) }
}

/// The q console renderer.
enum QConsole {
    static func render(_ value: QValue) -> String {
        switch value {
        case .atom(let atom): atom.description
        case .vector(let vector, let attribute): prefix(attribute) + vector.description
        case .list(let items, _):
            items.isEmpty ? "()" : items.count == 1 ? "," + inline(items[0]) : "(" + items.map(inline).joined(separator: ";") + ")"
        case .dictionary(let keys, let values, _):
            if case .table(let keyTable, _) = keys, case .table(let valueTable, _) = values {
                keyedTable(keyTable, valueTable)
            } else {
                dictionary(keys, values)
            }
        case .table(let table, _): self.table(table)
        case .error(let text): "'" + symbol(text)
        case .identity: "::"
        }
    }

    /// A value inside a list or a cell: on one line.
    static func inline(_ value: QValue) -> String {
        switch value {
        case .table: "+" + render(.dictionary(keys: .identity, values: .identity))
        case .dictionary(let keys, let values, _): inline(keys) + "!" + inline(values)
        default: render(value)
        }
    }

    static func prefix(_ attribute: QAttribute) -> String {
        switch attribute {
        case .none: ""
        case .sorted: "`s#"
        case .unique: "`u#"
        case .parted: "`p#"
        case .grouped: "`g#"
        }
    }

    // MARK: atoms

    static func suffixLetter(_ type: QTypeCode) -> String {
        switch type {
        case .short: "h"
        case .int: "i"
        case .long: "j"
        case .real: "e"
        case .float: "f"
        case .timestamp: "p"
        case .month: "m"
        case .date: "d"
        case .datetime: "z"
        case .timespan: "n"
        case .minute: "u"
        case .second: "v"
        case .time: "t"
        case .guid: "g"
        default: ""
        }
    }

    /// One atom; `suffix` adds the type letter where q needs one to tell the type.
    static func atom(_ atom: QAtom, suffix: Bool) -> String {
        let type = atom.typeCode
        if atom.isNull {
            switch atom {
            case .symbol: return "`"
            case .char: return "\" \""
            case .guid: return "00000000-0000-0000-0000-000000000000"
            case .float: return "0n"
            default: return "0N" + (type == .long ? "" : suffixLetter(type))
            }
        }
        if let infinity = infinityText(atom) { return infinity }
        switch atom {
        case .boolean(let v): return (v ? "1" : "0") + (suffix ? "b" : "")
        case .guid(let v): return v.uuidString.lowercased()
        case .byte(let v): return (suffix ? "0x" : "") + hex(v)
        case .short(let v): return "\(v)" + (suffix ? "h" : "")
        case .int(let v): return "\(v)" + (suffix ? "i" : "")
        case .long(let v): return "\(v)"
        case .real(let v): return number(Double(v), precision: 7) + (suffix ? "e" : "")
        case .float(let v):
            let text = number(v, precision: 7)
            return text + (suffix && !text.contains(".") && !text.contains("e") ? "f" : "")
        case .char(let v): return suffix ? "\"" + escape([v]) + "\"" : escape([v])
        case .symbol(let v): return (suffix ? "`" : "") + symbol(v)
        case .timestamp(let v): return timestamp(v)
        case .month(let v): return month(v) + (suffix ? "m" : "")
        case .date(let v): return date(v)
        case .datetime(let v): return datetime(v)
        case .timespan(let v): return timespan(v)
        case .minute(let v): return clock(Int64(v) * 60, fraction: nil, digits: 0, showSeconds: false)
        case .second(let v): return clock(Int64(v), fraction: nil, digits: 0, showSeconds: true)
        case .time(let v): return time(v)
        }
    }

    static func infinityText(_ atom: QAtom) -> String? {
        let type = atom.typeCode
        let letter = type == .long ? "" : suffixLetter(type)
        switch atom {
        case .short(let v) where v == .max || v == -.max: return (v < 0 ? "-" : "") + "0W" + letter
        case .int(let v) where v == .max || v == -.max: return (v < 0 ? "-" : "") + "0W" + letter
        case .long(let v) where v == .max || v == -.max: return (v < 0 ? "-" : "") + "0W"
        case .real(let v) where v.isInfinite: return (v < 0 ? "-" : "") + "0we"
        case .float(let v) where v.isInfinite: return (v < 0 ? "-" : "") + "0w"
        case .timestamp(let v) where v == .max || v == -.max: return (v < 0 ? "-" : "") + "0Wp"
        case .timespan(let v) where v == .max || v == -.max: return (v < 0 ? "-" : "") + "0Wn"
        case .month(let v) where v == .max || v == -.max, .date(let v) where v == .max || v == -.max,
            .minute(let v) where v == .max || v == -.max, .second(let v) where v == .max || v == -.max,
            .time(let v) where v == .max || v == -.max:
            return (v < 0 ? "-" : "") + "0W" + letter
        case .datetime(let v) where v.isInfinite: return (v < 0 ? "-" : "") + "0wz"
        default: return nil
        }
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }

    /// A number as q shows it at its default display precision (`\P 7`): C's `%.7g`, so
    /// `1.234568e+08` for 123456789f and `1e-05`, as q prints them.
    static func number(_ value: Double, precision: Int) -> String {
        String(format: "%.\(precision)g", value)
    }

    /// A string's bytes as the console shows them between quotes: `"` and `\` escaped, a
    /// newline, tab and carriage return as `\n`, `\t`, `\r`, any other control byte and any
    /// byte that is not UTF-8 text in octal (`\033`); valid multi-byte UTF-8 text whole, but
    /// its control and format characters (`U+009B`, a bidirectional override) in the octal of
    /// their bytes too.
    static func escape(_ bytes: [UInt8]) -> String {
        // Multi-byte UTF-8 text reads better whole.
        if bytes.contains(where: { $0 >= 0x80 }), let whole = String(validating: bytes, as: UTF8.self) {
            var text = ""
            for scalar in whole.unicodeScalars {
                switch scalar {
                case "\"": text += "\\\""
                case "\\": text += "\\\\"
                default: text += shown(scalar)
                }
            }
            return text
        }
        var text = ""
        for byte in bytes {
            switch byte {
            case 0x22: text += "\\\""
            case 0x5c: text += "\\\\"
            case 0x0a: text += "\\n"
            case 0x09: text += "\\t"
            case 0x0d: text += "\\r"
            case 0x20..<0x7f: text.unicodeScalars.append(UnicodeScalar(byte))
            default:
                if byte >= 0x80 {
                    text += String(decoding: [byte], as: UTF8.self) == "\u{FFFD}" ? octal(byte) : String(decoding: [byte], as: UTF8.self)
                } else {
                    text += octal(byte)
                }
            }
        }
        return text
    }

    /// A symbol's text (or an error's) as the console shows it: its control and format
    /// characters escaped as in a string (``shown(_:)``), the rest as it is.
    static func symbol(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControlOrFormat) else { return text }
        var shownText = ""
        for scalar in text.unicodeScalars { shownText += shown(scalar) }
        return shownText
    }

    /// One character of a text: a newline, tab or carriage return as `\n`, `\t`, `\r`, any
    /// other control or format character as the octal of its UTF-8 bytes; the rest as it is.
    static func shown(_ scalar: Unicode.Scalar) -> String {
        guard isControlOrFormat(scalar) else { return String(scalar) }
        switch scalar {
        case "\n": return "\\n"
        case "\t": return "\\t"
        case "\r": return "\\r"
        default: return String(scalar).utf8.map(octal).joined()
        }
    }

    /// Whether `scalar` is a control character (C0, DEL, C1), a format character (a
    /// bidirectional override, a zero-width joiner) or a line or paragraph separator: what a
    /// terminal may act on rather than show.
    static func isControlOrFormat(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }

    static func octal(_ byte: UInt8) -> String {
        "\\" + String(byte, radix: 8).leftPad(3, with: "0")
    }

    // MARK: temporal

    /// Days since 2000.01.01 → (year, month, day), proleptic Gregorian.
    static func civil(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 10_957 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func two(_ value: Int64) -> String { String(value).leftPad(2, with: "0") }

    static func date(_ days: Int32) -> String {
        let (y, m, d) = civil(Int64(days))
        return "\(String(y).leftPad(4, with: "0")).\(two(m)).\(two(d))"
    }

    static func month(_ months: Int32) -> String {
        let total = Int64(months) + 24_000
        let year = total >= 0 ? total / 12 : (total - 11) / 12
        return "\(String(year).leftPad(4, with: "0")).\(two(total - year * 12 + 1))"
    }

    static func clock(_ seconds: Int64, fraction: Int64?, digits: Int, showSeconds: Bool) -> String {
        var text = two(seconds / 3600) + ":" + two(seconds / 60 % 60)
        if showSeconds { text += ":" + two(seconds % 60) }
        if let fraction { text += "." + String(fraction).leftPad(digits, with: "0") }
        return text
    }

    static func time(_ milliseconds: Int32) -> String {
        let value = Int64(milliseconds)
        let sign = value < 0 ? "-" : ""
        let magnitude = abs(value)
        return sign + clock(magnitude / 1000, fraction: magnitude % 1000, digits: 3, showSeconds: true)
    }

    static func timestamp(_ nanoseconds: Int64) -> String {
        let day: Int64 = 86_400_000_000_000
        // Floor division that cannot overflow, down to the smallest timestamp.
        var (days, rest) = nanoseconds.quotientAndRemainder(dividingBy: day)
        if rest < 0 {
            days -= 1
            rest += day
        }
        return date(Int32(truncatingIfNeeded: days)) + "D"
            + clock(rest / 1_000_000_000, fraction: rest % 1_000_000_000, digits: 9, showSeconds: true)
    }

    static func timespan(_ nanoseconds: Int64) -> String {
        let sign = nanoseconds < 0 ? "-" : ""
        let magnitude = nanoseconds.magnitude
        let day: UInt64 = 86_400_000_000_000
        let rest = Int64(magnitude % day)
        return sign + "\(magnitude / day)D"
            + clock(rest / 1_000_000_000, fraction: rest % 1_000_000_000, digits: 9, showSeconds: true)
    }

    static func datetime(_ days: Double) -> String {
        // Past what a long counts in milliseconds (some 292 million years): the day count.
        guard let milliseconds = Int64(exactly: (days * 86_400_000).rounded()) else { return "\(days)z" }
        let day: Int64 = 86_400_000
        let whole = milliseconds >= 0 ? milliseconds / day : (milliseconds - day + 1) / day
        let rest = milliseconds - whole * day
        return date(Int32(truncatingIfNeeded: whole)) + "T" + clock(rest / 1000, fraction: rest % 1000, digits: 3, showSeconds: true)
    }

    // MARK: vectors

    static func vector(_ vector: QVector) -> String {
        let count = vector.count
        if count == 0 {
            switch vector {
            case .char: return "\"\""
            case .symbol: return "0#`"
            default: return "`\(typeName(vector.typeCode))$()"
            }
        }
        let enlist = count == 1 ? "," : ""
        switch vector {
        case .char(let bytes): return enlist + "\"" + escape(bytes) + "\""
        case .symbol(let symbols): return enlist + symbols.map { "`" + symbol($0) }.joined()
        case .boolean(let values): return enlist + values.map { $0 ? "1" : "0" }.joined() + "b"
        case .byte(let values): return enlist + "0x" + values.map(hex).joined()
        default:
            let atoms = vector.atoms
            let cells = atoms.map { atom(in: $0) }
            var text = enlist + cells.joined(separator: " ")
            let type = vector.typeCode
            let anyNonNull = atoms.contains { !$0.isNull && infinityText($0) == nil }
            switch type {
            case .short, .int, .real, .month: text += suffixLetter(type)
            // Not when a cell already says float: a point, an exponent, `0n` or `0w`.
            case .float where anyNonNull && !cells.contains(where: { $0.contains(where: { ".enw".contains($0) }) }):
                text += "f"
            case .long where !anyNonNull: break
            default:
                if !anyNonNull && type != .long && type != .float { text += "" }
            }
            return text
        }
    }

    /// An atom inside a vector: no suffix (the vector carries one), nulls shortened.
    static func atom(in value: QAtom) -> String {
        if value.isNull {
            switch value {
            case .real, .float, .datetime: return "0n"
            case .guid: return "00000000-0000-0000-0000-000000000000"
            default: return "0N"
            }
        }
        if let infinity = infinityText(value) {
            return infinity.hasSuffix("0w") || infinity.hasSuffix("0W") ? infinity : String(infinity.dropLast())
        }
        return atom(value, suffix: false)
    }

    static func typeName(_ type: QTypeCode) -> String {
        switch type {
        case .boolean: "boolean"
        case .guid: "guid"
        case .byte: "byte"
        case .short: "short"
        case .int: "int"
        case .long: "long"
        case .real: "real"
        case .float: "float"
        case .char: "char"
        case .symbol: "symbol"
        case .timestamp: "timestamp"
        case .month: "month"
        case .date: "date"
        case .datetime: "datetime"
        case .timespan: "timespan"
        case .minute: "minute"
        case .second: "second"
        case .time: "time"
        default: ""
        }
    }

    // MARK: collections

    /// The cells of a column (or of dictionary keys/values) as text, one per row.
    static func cells(_ value: QValue) -> [String] {
        switch value {
        case .vector(let vector, _):
            switch vector {
            case .char(let bytes): return bytes.map { escape([$0]) }
            case .symbol(let symbols): return symbols.map(symbol)
            case .boolean(let values): return values.map { $0 ? "1" : "0" }
            case .byte(let values): return values.map(hex)
            default: return vector.atoms.map(\.cellText)
            }
        case .list(let items, _): return items.map(cell)
        default: return [inline(value)]
        }
    }

    static func cell(_ value: QValue) -> String {
        switch value {
        case .atom(.symbol(let text)): symbol(text)
        case .atom(let atom): atom.cellText
        case .vector(.char(let bytes), _): escape(bytes)
        default: inline(value)
        }
    }

    static func table(_ table: QTable) -> String {
        let names = table.columns.map(symbol)
        let columns = table.values.map(cells)
        let rows = columns.map(\.count).max() ?? 0
        var widths = names.map(\.count)
        for (index, column) in columns.enumerated() {
            widths[index] = max(widths[index], column.map(\.count).max() ?? 0)
        }
        var lines: [String] = []
        lines.append(zip(names, widths).map { $0.rightPad($1) }.joined(separator: " "))
        lines.append(String(repeating: "-", count: widths.reduce(0, +) + max(0, widths.count - 1)))
        for row in 0..<rows {
            lines.append(
                columns.enumerated().map { index, column in
                    (row < column.count ? column[row] : "").rightPad(widths[index])
                }.joined(separator: " "))
        }
        return lines.map { $0.trailingSpacesRemoved }.joined(separator: "\n")
    }

    static func keyedTable(_ keys: QTable, _ values: QTable) -> String {
        let keyLines = table(keys).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let valueLines = table(values).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let width = keyLines.map(\.count).max() ?? 0
        return zip(keyLines, valueLines).enumerated().map { index, pair in
            let separator = index == 1 ? "| " : "| "
            return pair.0.rightPad(width) + (index == 1 ? "|-" : separator) + pair.1
        }.map { $0.trailingSpacesRemoved }.joined(separator: "\n")
    }

    static func dictionary(_ keys: QValue, _ values: QValue) -> String {
        let keyCells = cells(keys)
        let valueCells: [String] =
            if case .list(let items, _) = values { items.map(inline) } else { cells(values).map { $0 } }
        let width = keyCells.map(\.count).max() ?? 0
        return zip(keyCells, valueCells).map { $0.rightPad(width) + "| " + $1 }.joined(separator: "\n")
    }
}

extension String {
    func leftPad(_ width: Int, with pad: Character) -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }

    func rightPad(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    var trailingSpacesRemoved: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
