// BenchCSV: the CSV files of the suites' --csv, each row with the settings of the run.

import Foundation

/// A CSV file a suite writes (`--csv`): its own columns, then the run's settings (the options
/// it ran with: servants, clients, algorithm, duration…) as columns of their own, the same on
/// every row. A file then says how it was made, and the rows of several runs put side by side
/// can be grouped by their settings. The settings come last, so that a reader of the suite's
/// own columns by position (the gnuplot sources in img/) reads them as before.
struct BenchCSV: Sendable {
    /// One setting: its column's name (the option's, in snake case: `in_flight`) and value.
    struct Setting: Sendable {
        var name: String
        var value: String

        init(_ name: String, _ value: some CustomStringConvertible) {
            self.name = name
            self.value = value.description
        }

        /// An optional option: empty when not given.
        init(_ name: String, _ value: (some CustomStringConvertible)?) {
            self.init(name, value.map(\.description) ?? "")
        }
    }

    /// The suite's own columns.
    let columns: [String]
    /// The run's settings, after the columns on every row.
    let settings: [Setting]
    /// The rows, each a field per column.
    private(set) var rows: [[String]] = []

    init(columns: [String], settings: [Setting]) {
        let names = columns + settings.map(\.name)
        precondition(Set(names).count == names.count, "a CSV column named twice: \(names)")
        self.columns = columns
        self.settings = settings
    }

    /// Adds a row: a field for each of the suite's columns.
    mutating func append(_ fields: [String]) {
        precondition(fields.count == columns.count, "\(fields.count) fields for \(columns.count) columns")
        rows.append(fields)
    }

    /// The file: the header, then every row, each followed by the settings.
    var text: String {
        let header = columns + settings.map(\.name)
        let settingFields = settings.map(\.value)
        return ([header] + rows.map { $0 + settingFields })
            .map { $0.map(Self.field).joined(separator: ",") + "\n" }.joined()
    }

    /// Writes the file at `path`, making its directory if it is missing.
    func write(to path: String) throws {
        BenchChildren.flushOutput()
        try BenchChecks.makeParentDirectory(of: path)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// A field as it is, or in double quotes (its quotes doubled) when it holds a comma, a
    /// quote or a line break (RFC 4180): an algorithm list or a target's name stays one field.
    static func field(_ value: String) -> String {
        guard value.unicodeScalars.contains(where: { ",\"\n\r".unicodeScalars.contains($0) }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
