public import Foundation

extension QAtom {
    /// q's type number for this atom's vector (positive; the atom's own is its negation).
    public var typeCode: QTypeCode {
        switch self {
        case .boolean: .boolean
        case .guid: .guid
        case .byte: .byte
        case .short: .short
        case .int: .int
        case .long: .long
        case .real: .real
        case .float: .float
        case .char: .char
        case .symbol: .symbol
        case .timestamp: .timestamp
        case .month: .month
        case .date: .date
        case .datetime: .datetime
        case .timespan: .timespan
        case .minute: .minute
        case .second: .second
        case .time: .time
        }
    }

    /// Whether this atom is its type's null (`0N`, `0n`, `` ` ``, `0Nd`…).
    public var isNull: Bool {
        switch self {
        case .boolean, .byte: false
        case .guid(let v): v == QAtom.nullGUID
        case .short(let v): v == .min
        case .int(let v), .month(let v), .date(let v), .minute(let v), .second(let v), .time(let v): v == .min
        case .long(let v), .timestamp(let v), .timespan(let v): v == .min
        case .real(let v): v.isNaN
        case .float(let v), .datetime(let v): v.isNaN
        case .char(let v): v == 0x20
        case .symbol(let v): v.isEmpty
        }
    }

    /// The all-zero guid, q's `0Ng`.
    public static let nullGUID = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    /// The null atom of a type (`QAtom.null(.long)` is `0Nj`); nil for types without one.
    public static func null(_ type: QTypeCode) -> QAtom? {
        switch type {
        case .guid: .guid(nullGUID)
        case .short: .short(.min)
        case .int: .int(.min)
        case .long: .long(.min)
        case .real: .real(.nan)
        case .float: .float(.nan)
        case .char: .char(0x20)
        case .symbol: .symbol("")
        case .timestamp: .timestamp(.min)
        case .month: .month(.min)
        case .date: .date(.min)
        case .datetime: .datetime(.nan)
        case .timespan: .timespan(.min)
        case .minute: .minute(.min)
        case .second: .second(.min)
        case .time: .time(.min)
        default: nil
        }
    }

    /// The positive infinity of a type (`0W`, `0w`, `0Wd`…); nil for types without one.
    public static func infinity(_ type: QTypeCode) -> QAtom? {
        switch type {
        case .short: .short(.max)
        case .int: .int(.max)
        case .long: .long(.max)
        case .real: .real(.infinity)
        case .float: .float(.infinity)
        case .timestamp: .timestamp(.max)
        case .month: .month(.max)
        case .date: .date(.max)
        case .datetime: .datetime(.infinity)
        case .timespan: .timespan(.max)
        case .minute: .minute(.max)
        case .second: .second(.max)
        case .time: .time(.max)
        default: nil
        }
    }
}

extension QVector {
    /// q's type number of the vector.
    public var typeCode: QTypeCode {
        switch self {
        case .boolean: .boolean
        case .guid: .guid
        case .byte: .byte
        case .short: .short
        case .int: .int
        case .long: .long
        case .real: .real
        case .float: .float
        case .char: .char
        case .symbol: .symbol
        case .timestamp: .timestamp
        case .month: .month
        case .date: .date
        case .datetime: .datetime
        case .timespan: .timespan
        case .minute: .minute
        case .second: .second
        case .time: .time
        }
    }

    /// Number of elements.
    public var count: Int {
        switch self {
        case .boolean(let v): v.count
        case .guid(let v): v.count
        case .byte(let v), .char(let v): v.count
        case .short(let v): v.count
        case .int(let v), .month(let v), .date(let v), .minute(let v), .second(let v), .time(let v): v.count
        case .long(let v), .timestamp(let v), .timespan(let v): v.count
        case .real(let v): v.count
        case .float(let v), .datetime(let v): v.count
        case .symbol(let v): v.count
        }
    }

    /// Element `index` as an atom.
    public subscript(index: Int) -> QAtom {
        switch self {
        case .boolean(let v): .boolean(v[index])
        case .guid(let v): .guid(v[index])
        case .byte(let v): .byte(v[index])
        case .short(let v): .short(v[index])
        case .int(let v): .int(v[index])
        case .long(let v): .long(v[index])
        case .real(let v): .real(v[index])
        case .float(let v): .float(v[index])
        case .char(let v): .char(v[index])
        case .symbol(let v): .symbol(v[index])
        case .timestamp(let v): .timestamp(v[index])
        case .month(let v): .month(v[index])
        case .date(let v): .date(v[index])
        case .datetime(let v): .datetime(v[index])
        case .timespan(let v): .timespan(v[index])
        case .minute(let v): .minute(v[index])
        case .second(let v): .second(v[index])
        case .time(let v): .time(v[index])
        }
    }

    /// The vector's elements as atoms.
    public var atoms: [QAtom] { (0..<count).map { self[$0] } }
}

extension QTable {
    /// Number of rows (the length of the first column).
    public var rowCount: Int { values.first?.count ?? 0 }

    /// The column called `name`.
    public func column(named name: String) -> QValue? {
        columns.firstIndex(of: name).map { values[$0] }
    }
}

extension QValue {
    /// q's type number (`type x`): negative for atoms, 0 for general lists, 98 tables,
    /// 99 dictionaries (127 sorted), 101 for `::`, -128 errors.
    public var type: Int {
        switch self {
        case .atom(let atom): -Int(atom.typeCode.rawValue)
        case .vector(let vector, _): Int(vector.typeCode.rawValue)
        case .list: 0
        case .table: 98
        case .dictionary(_, _, let sorted): sorted ? 127 : 99
        case .identity: 101
        case .error: -128
        }
    }

    /// q's `count`: 1 for atoms, elements for lists, rows for tables, entries for dictionaries.
    public var count: Int {
        switch self {
        case .atom, .identity, .error: 1
        case .vector(let vector, _): vector.count
        case .list(let items, _): items.count
        case .table(let table, _): table.rowCount
        case .dictionary(let keys, _, _): keys.count
        }
    }

    /// The items of a list or vector as q values; nil for other values.
    public var items: [QValue]? {
        switch self {
        case .list(let items, _): items
        case .vector(let vector, _): vector.atoms.map(QValue.atom)
        default: nil
        }
    }

    /// A symbol-keyed dictionary with a general list of values.
    public static func dictionary(_ pairs: KeyValuePairs<String, QValue>) -> QValue {
        .dictionary(keys: .vector(.symbol(pairs.map(\.key))), values: .list(pairs.map(\.value)))
    }

    /// The entries of a symbol-keyed dictionary, in order; nil for anything else.
    public var symbolKeyedPairs: [(String, QValue)]? {
        guard case .dictionary(.vector(.symbol(let keys), _), let values, _) = self,
            let items = values.items, items.count == keys.count
        else { return nil }
        return Array(zip(keys, items))
    }

    /// A dictionary's value for a symbol key.
    public subscript(key: String) -> QValue? {
        symbolKeyedPairs?.first { $0.0 == key }?.1
    }

    /// A q string (char vector) from Swift text.
    public static func string(_ text: String) -> QValue {
        .vector(.char(Array(text.utf8)))
    }

    /// The text of a symbol atom.
    public var symbol: String? {
        if case .atom(.symbol(let text)) = self { return text }
        return nil
    }

    /// The text of a q string (char vector), or of a char atom.
    public var string: String? {
        switch self {
        case .vector(.char(let bytes), _): String(decoding: bytes, as: UTF8.self)
        case .atom(.char(let byte)): String(decoding: [byte], as: UTF8.self)
        default: nil
        }
    }

    /// The value as a 64-bit integer, for integer atoms of any width.
    public var int64: Int64? {
        guard case .atom(let atom) = self else { return nil }
        switch atom {
        case .byte(let v): return Int64(v)
        case .short(let v): return Int64(v)
        case .int(let v): return Int64(v)
        case .long(let v): return v
        case .boolean(let v): return v ? 1 : 0
        default: return nil
        }
    }

    /// The value as a Double, for numeric atoms.
    public var double: Double? {
        guard case .atom(let atom) = self else { return nil }
        switch atom {
        case .real(let v): return Double(v)
        case .float(let v): return v
        default: return int64.map(Double.init)
        }
    }

    /// The value as a Bool, for boolean atoms.
    public var bool: Bool? {
        if case .atom(.boolean(let v)) = self { return v }
        return nil
    }
}

extension QValue: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral
{
    /// An integer literal is a long atom.
    public init(integerLiteral value: Int64) { self = .atom(.long(value)) }
    /// A float literal is a float atom.
    public init(floatLiteral value: Double) { self = .atom(.float(value)) }
    /// A string literal is a **symbol** (`` `IBM ``); use ``QValue/string(_:)`` for q strings.
    public init(stringLiteral value: String) { self = .atom(.symbol(value)) }
    /// A boolean literal is a boolean atom.
    public init(booleanLiteral value: Bool) { self = .atom(.boolean(value)) }
    /// An array literal is a general list.
    public init(arrayLiteral elements: QValue...) { self = .list(elements) }
}

extension QValue {
    /// Whether the value is or holds a q error (type -128) anywhere: in a general list, a
    /// dictionary or a table. No kdb+ client library reads such a value inside a list, where
    /// an id or an argument echoed in a reply would put it.
    public var holdsError: Bool {
        switch self {
        case .error: true
        case .list(let items, _): items.contains { $0.holdsError }
        case .dictionary(let keys, let values, _): keys.holdsError || values.holdsError
        case .table(let table, _): table.values.contains { $0.holdsError }
        case .atom, .vector, .identity: false
        }
    }
}
