import QData

/// A query reduced to what MServe routes and runs: a function name and its literal arguments.
public struct ParsedQuery: Sendable {
    /// The function applied, e.g. `proc1` or `.api.trades`.
    public var function: String
    /// The literal arguments, in order, as q values (empty for `proc1[]`).
    public var arguments: [QValue]
    /// The original query text, when the query came as text (a q string); `nil` for a parse
    /// form (a general list or a symbol) or a query built in code.
    public var text: String?

    /// Creates a parsed query.
    public init(function: String, arguments: [QValue] = [], text: String? = nil) {
        self.function = function
        self.arguments = arguments
        self.text = text
    }
}
