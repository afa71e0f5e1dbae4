import QData

/// The functions clients may call; all others are refused with
/// ``QueryError/Code-swift.struct/notAllowed``.
public struct FunctionAllowlist: Sendable {
    /// The allowed names; `nil` allows any function.
    private let names: Set<String>?

    /// Allows exactly `names` (an empty list allows nothing).
    public init(_ names: [String]) {
        self.names = Set(names)
    }

    private init(allowingAnyFunction: Void) {
        self.names = nil
    }

    /// Allows every function (still subject to ``SecureInvocation``'s own checks).
    public static let any = FunctionAllowlist(allowingAnyFunction: ())

    /// Whether every function is allowed.
    public var allowsAnyFunction: Bool { names == nil }

    /// Whether `function` may be called.
    public func allows(_ function: String) -> Bool {
        names?.contains(function) ?? true
    }

    /// Throws ``QueryError/Code-swift.struct/notAllowed`` when the query's function is not
    /// allowed.
    public func check(_ query: ParsedQuery) throws(QueryError) {
        try check(function: query.function, text: query.text)
    }

    /// Throws ``QueryError/Code-swift.struct/notAllowed`` when `function` is not allowed
    /// (`text`, the query's text if it came as text, places the error's column).
    public func check(function: String, text: String? = nil) throws(QueryError) {
        guard allows(function) else {
            throw QueryError(
                .notAllowed, "`\(function)` is not in the list of allowed functions",
                column: SecureInvocation.functionColumn(in: text))
        }
    }
}

/// The last check before a query is run: function application with literal arguments only.
public enum SecureInvocation {
    /// Why a query calling `function` is refused whatever its arguments — the name is not a
    /// plain (dotted) q identifier, is a q built-in (`value`, `sum`, …) or lies in one of q's
    /// reserved namespaces (`.z`, `.Q`, …) — or nil when such a query may be run.
    public static func refusalReason(forFunction function: String) -> String? {
        QueryNames.refusalReason(forFunction: function)
    }

    /// Validates a parsed query, whatever built it:
    /// - the function name is a plain (dotted) q identifier, neither a q built-in (`value`,
    ///   `system`, `exit`, …) nor in a reserved namespace (`.z`, `.Q`, …): otherwise
    ///   ``QueryError/Code-swift.struct/refused``;
    /// - with query text, the text parses to the same function and argument count (so the text
    ///   that is run is the query that was checked);
    /// - without text (a parse form), no argument holds a general list headed by a symbol,
    ///   which q's `eval` would run as a call;
    /// - the allowlist allows the function (``QueryError/Code-swift.struct/notAllowed``).
    ///
    /// A query ``QueryParser`` made from text, whose text, function and argument count are
    /// still the ones it read, passed the first two checks as it was parsed: it is not parsed
    /// again. Change any of them and the text is parsed again.
    public static func validate(
        _ query: ParsedQuery, allowlist: FunctionAllowlist = .any
    ) throws(QueryError) {
        // The parser refused what these checks refuse, on the very text the servant gets.
        if query.isAsParsedFromText { return try allowlist.check(query) }
        if let reason = QueryNames.refusalReason(forFunction: query.function) {
            throw QueryError(.refused, reason, column: functionColumn(in: query.text))
        }
        if let text = query.text {
            let parsed = try QueryParser.parse(text)
            guard parsed.function == query.function,
                parsed.arguments.count == query.arguments.count
            else {
                throw QueryError(
                    .refused,
                    "the query text calls `\(parsed.function)` with \(parsed.arguments.count)"
                        + " arguments, not `\(query.function)` with \(query.arguments.count)",
                    column: functionColumn(in: text))
            }
        } else {
            for (index, argument) in query.arguments.enumerated() {
                if let reason = ParseForm.nestedCall(in: argument) {
                    throw QueryError(.refused, "argument \(index + 1): \(reason)")
                }
            }
        }
        try allowlist.check(query)
    }

    /// The 1-based column of the function name in query text: after leading whitespace, and at
    /// the backtick in the parse form written as text (`` (`proc1;…) ``).
    static func functionColumn(in text: String?) -> Int? {
        guard let text else { return nil }
        var column = 1
        var sawParenthesis = false
        for byte in text.utf8 {
            if ASCII.isWhitespace(byte) || (byte == ASCII.openParenthesis && !sawParenthesis) {
                sawParenthesis = sawParenthesis || byte == ASCII.openParenthesis
                column += 1
                continue
            }
            break
        }
        return column
    }
}
