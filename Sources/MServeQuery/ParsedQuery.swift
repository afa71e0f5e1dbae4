public import QData

/// A query reduced to what MServe routes and runs: a function name and its literal arguments.
public struct ParsedQuery: Sendable {
    /// The function applied, e.g. `proc1` or `.api.trades`.
    public var function: String
    /// The literal arguments, in order, as q values (empty for `proc1[]`).
    public var arguments: [QValue]
    /// The original query text, when the query came as text (a q string); `nil` for a parse
    /// form (a general list or a symbol) or a query built in code.
    public var text: String?

    /// What ``QueryParser`` read from `text`, when it made this value: validation trusts a
    /// query whose text, function and argument count are still the ones the parser read,
    /// instead of parsing the text again.
    var parserRead: ParserRead? = nil

    /// Creates a parsed query.
    public init(function: String, arguments: [QValue] = [], text: String? = nil) {
        self.function = function
        self.arguments = arguments
        self.text = text
    }

    /// Creates the query ``QueryParser`` read from `text`, remembering what it read.
    init(parsedFrom text: String, function: String, arguments: [QValue]) {
        self.function = function
        self.arguments = arguments
        self.text = text
        self.parserRead = ParserRead(
            text: text, function: function, argumentCount: arguments.count)
    }

    /// Whether the parser made this query from its text, and nothing it read has changed since.
    var isAsParsedFromText: Bool {
        guard let parserRead, let text else { return false }
        return parserRead.argumentCount == arguments.count && parserRead.function == function
            && parserRead.text == text
    }
}

/// The function and argument count ``QueryParser`` read from a query's text.
struct ParserRead: Sendable {
    var text: String
    var function: String
    var argumentCount: Int
}
