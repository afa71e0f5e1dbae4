// The shapes no q process can hold — a table with no columns, or whose columns differ in
// length, name a column twice or are not lists, a dictionary whose keys and values differ in
// count — refused by the decoder (QIPCReader, QIPCInPlace) and found in values built in Swift
// (`shapeProblem`), in the same words.

/// The words of a shape refusal, shared by the decoder, the in-place check and
/// ``QValue/shapeProblem``.
enum QShape {
    /// A table naming `name` a second time.
    static func repeatedColumn(_ name: String) -> String {
        "column `\(name)` appears twice"
    }

    /// A table whose column `name` is a value of type `type`, not a vector or a general list.
    static func columnNotAList(_ name: String, type: Int) -> String {
        "column `\(name)` is not a list (type \(type))"
    }

    /// A table whose columns `first` and `other` have `firstCount` and `otherCount` items.
    static func raggedColumns(first: String, firstCount: Int, other: String, otherCount: Int) -> String {
        "its columns differ in length (`\(first)` has \(firstCount) items, `\(other)` \(otherCount))"
    }

    /// A table whose column dictionary is empty (`flip (0#`)!()`): q makes none, and pykx
    /// reads one as a `rank` error.
    static let noColumns = "it has no columns"

    /// A table of `names` column names and `columns` columns.
    static func columnCount(names: Int, columns: Int) -> String {
        "it has \(names) column names and \(columns) columns"
    }

    /// A dictionary of `keys` keys and `values` values.
    static func dictionaryCounts(keys: Int, values: Int) -> String {
        "its keys and values differ in count (\(keys) and \(values))"
    }

    /// Why the table of `columns` named columns (each a name, its wire type and its count, nil
    /// for a value that is no list) is one q cannot hold, or nil.
    static func tableProblem(columns: some Sequence<(name: String, type: Int, count: Int?)>) -> String? {
        var seen: Set<String> = []
        var first: (name: String, count: Int)?
        var any = false
        for column in columns {
            any = true
            guard seen.insert(column.name).inserted else { return repeatedColumn(column.name) }
            guard (0...19).contains(column.type), let count = column.count else {
                return columnNotAList(column.name, type: column.type)
            }
            if let first, first.count != count {
                return raggedColumns(first: first.name, firstCount: first.count, other: column.name, otherCount: count)
            }
            if first == nil { first = (column.name, count) }
        }
        return any ? nil : noColumns
    }

    /// Why a dictionary whose keys and values count `keys` and `values` items (nil for a value
    /// that is no list, a table or a vector: an atom, say) is one q cannot hold, or nil.
    static func dictionaryProblem(keys: Int?, values: Int?) -> String? {
        guard let keys, let values, keys != values else { return nil }
        return dictionaryCounts(keys: keys, values: values)
    }
}

extension QValue {
    /// The items a list, a vector or a table (its rows) counts, for the shape checks; nil for
    /// any other value.
    var shapeCount: Int? {
        switch self {
        case .vector(let vector, _): vector.count
        case .list(let items, _): items.count
        case .table(let table, _): table.values.first.flatMap(\.shapeCount) ?? 0
        default: nil
        }
    }

    /// Why no q process could hold this value, or nil when one could: a table (here or
    /// anywhere inside) with no columns, whose columns differ in length, that names a column twice, whose
    /// column is not a list (an atom, say), or whose names and columns differ in number; a
    /// dictionary whose keys and values differ in count. The kdb+ IPC decoder refuses such
    /// values as malformed, in the same words; `QValue` and `QTable` let them be built.
    public var shapeProblem: String? {
        switch self {
        case .atom, .vector, .error, .identity:
            return nil
        case .list(let items, _):
            for item in items { if let problem = item.shapeProblem { return problem } }
            return nil
        case .dictionary(let keys, let values, _):
            if let problem = keys.shapeProblem ?? values.shapeProblem { return problem }
            return QShape.dictionaryProblem(keys: keys.shapeCount, values: values.shapeCount).map { "a dictionary: \($0)" }
        case .table(let table, _):
            guard table.columns.count == table.values.count else {
                return "a table: " + QShape.columnCount(names: table.columns.count, columns: table.values.count)
            }
            let columns = zip(table.columns, table.values).lazy.map { (name: $0, type: $1.type, count: $1.shapeCount) }
            if let problem = QShape.tableProblem(columns: columns) { return "a table: \(problem)" }
            for column in table.values { if let problem = column.shapeProblem { return problem } }
            return nil
        }
    }
}
