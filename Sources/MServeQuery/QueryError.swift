/// An error from parsing, routing or checking a query.
///
/// Every error names what was wrong and, for a query given as text, where: `column` is the
/// 1-based position in the query text, counted in UTF-8 bytes (the same as characters for ASCII).
public struct QueryError: Error, CustomStringConvertible, Sendable {
    /// The kind of a ``QueryError``; extensible with further static constants.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        private init(_ name: String) {
            self.name = name
        }

        /// The text is not valid q: an unknown literal form, an unbalanced bracket, a bad escape.
        public static let syntax = Code("syntax error")
        /// The query is q, but not a function application with literal arguments: a built-in such
        /// as `value` or `system`, an assignment, a lambda, an operator, a nested call, a system
        /// command, a second statement or a comment.
        public static let refused = Code("refused")
        /// The function is not in the configured ``FunctionAllowlist``.
        public static let notAllowed = Code("not allowed")
        /// The query is empty (or only whitespace).
        public static let emptyQuery = Code("empty query")
        /// The query is harmless but not in a form MServe routes: a bare name, a projection,
        /// a q value of a type that is not a query.
        public static let unsupportedForm = Code("unsupported form")
        /// A routing spec (`MSERVE_ROUTING`) is malformed.
        public static let routing = Code("routing spec error")
        /// Query text longer than ``QueryParser/longestQueryText``: large arguments travel as a
        /// parse form, which is read without parsing text.
        public static let tooLong = Code("query too long")

        /// The name of the code, e.g. `syntax error`.
        public var description: String { name }
    }

    /// What kind of error this is.
    public var code: Code
    /// What went wrong, naming the offending part of the query.
    public var message: String
    /// The 1-based column (UTF-8 byte) in the query text, when the query came as text.
    public var column: Int?
    /// The source file that raised the error.
    public var file: String
    /// The source line that raised the error.
    public var line: Int

    /// Creates an error; `file` and `line` default to the caller's location.
    public init(
        _ code: Code,
        _ message: String,
        column: Int? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.column = column
        self.file = file
        self.line = line
    }

    /// `code at column N: message`, or `code: message` without a column.
    public var description: String {
        if let column {
            return "\(code) at column \(column): \(message)"
        }
        return "\(code): \(message)"
    }
}
