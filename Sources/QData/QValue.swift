// QData owns the q data model (QValue and its parts) and the kdb+ IPC codec.
// It depends on nothing but Foundation; every other MServe target builds on it.

public import Foundation

/// The type number q gives each kind of value (`type x` in q).
///
/// Atoms have the negative of their vector's number; general lists are 0.
public enum QTypeCode: Int8, Sendable, CaseIterable {
    case list = 0
    case boolean = 1
    case guid = 2
    case byte = 4
    case short = 5
    case int = 6
    case long = 7
    case real = 8
    case float = 9
    case char = 10
    case symbol = 11
    case timestamp = 12
    case month = 13
    case date = 14
    case datetime = 15
    case timespan = 16
    case minute = 17
    case second = 18
    case time = 19
    case table = 98
    case dictionary = 99
    case sortedDictionary = 127
    case unaryPrimitive = 101
    case error = -128
}

/// A vector's attribute (`` `s# ``, `` `u# ``, `` `p# ``, `` `g# ``).
public enum QAttribute: UInt8, Sendable, Hashable, CaseIterable {
    case none = 0
    case sorted = 1
    case unique = 2
    case parted = 3
    case grouped = 4
}

/// A q atom: one value of a simple type.
///
/// Temporal atoms keep q's own representation (offsets from 2000.01.01), so
/// nulls and infinities survive a round trip unchanged.
public enum QAtom: Sendable {
    case boolean(Bool)
    case guid(UUID)
    case byte(UInt8)
    case short(Int16)
    case int(Int32)
    case long(Int64)
    case real(Float)
    case float(Double)
    /// One byte of a q char (q chars are bytes, not Unicode scalars).
    case char(UInt8)
    case symbol(String)
    /// Nanoseconds since 2000.01.01D00:00.
    case timestamp(Int64)
    /// Months since 2000.01.
    case month(Int32)
    /// Days since 2000.01.01.
    case date(Int32)
    /// Days (with fraction) since 2000.01.01.
    case datetime(Double)
    /// Nanoseconds.
    case timespan(Int64)
    /// Minutes.
    case minute(Int32)
    /// Seconds.
    case second(Int32)
    /// Milliseconds.
    case time(Int32)
}

/// A q simple (typed) vector. Elements use the same representation as ``QAtom``.
public enum QVector: Sendable {
    case boolean([Bool])
    case guid([UUID])
    case byte([UInt8])
    case short([Int16])
    case int([Int32])
    case long([Int64])
    case real([Float])
    case float([Double])
    /// A q string: a char vector, kept as bytes.
    case char([UInt8])
    case symbol([String])
    case timestamp([Int64])
    case month([Int32])
    case date([Int32])
    case datetime([Double])
    case timespan([Int64])
    case minute([Int32])
    case second([Int32])
    case time([Int32])
}

/// A q table: named columns of equal length (`flip` of a column dictionary).
public struct QTable: Sendable, Hashable {
    /// Column names, in order.
    public var columns: [String]
    /// One value per column, each a vector or general list of the table's row count.
    public var values: [QValue]

    /// Creates a table from column names and column values.
    public init(columns: [String], values: [QValue]) {
        self.columns = columns
        self.values = values
    }
}

/// Any q object MServe sends or receives.
///
/// Only the dictionary case, which holds two values, is stored out of line: an atom, a vector
/// or a list is built without a heap box of its own (a list's items already live in its array).
public enum QValue: Sendable, Hashable {
    /// An atom, e.g. `` `IBM `` or `42j`.
    case atom(QAtom)
    /// A simple vector, e.g. `` `IBM`MSFT `` or `"proc1"`.
    case vector(QVector, attribute: QAttribute = .none)
    /// A general list (type 0), e.g. `(1234; "proc1 `IBM")`.
    case list([QValue], attribute: QAttribute = .none)
    /// A dictionary. A keyed table is a dictionary from a table to a table.
    indirect case dictionary(keys: QValue, values: QValue, sorted: Bool = false)
    /// A table.
    case table(QTable, attribute: QAttribute = .none)
    /// A q error (`'text`), type -128.
    case error(String)
    /// The generic null `::` (type 101, unary primitive 0).
    case identity
}
