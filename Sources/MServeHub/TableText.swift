public import QData

/// Renders hub tables as text, like q's console shows a table (QData's rendering).
public enum TableText {
    /// The table as aligned text: a header, a rule of dashes, one line per row. `columns`
    /// picks and orders columns (unknown names are skipped); nil shows all.
    public static func render(_ table: QTable, columns: [String]? = nil) -> String {
        table.rendered(columns: columns)
    }

    /// One atom as a q table cell shows it.
    public static func text(_ atom: QAtom) -> String {
        atom.cellText
    }
}
