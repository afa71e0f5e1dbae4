public import QData

/// Parses the queries clients send into a ``ParsedQuery``.
///
/// A query is accepted only as a function application with literal arguments:
///
/// - `proc1[`IBM;2024.01.02;10]`: bracket application, one argument per `;` item
///   (`proc1[]` has none; an empty item such as `proc1[;1]` is a projection: refused);
/// - ``proc1 `IBM``, `proc2 `IBM`MSFT`, `proc1 (`IBM;10)`: monadic application, always ONE
///   argument (the last two are a symbol vector and a general list);
/// - `` (`proc1;`IBM) ``: the parse form, as text or as a q general list.
///
/// Arguments are q literals of every type: symbols and symbol vectors, numbers with suffixes,
/// booleans, bytes, chars and strings, every temporal type, nulls and infinities, vectors,
/// general lists, `::`, and `enlist` of literals (`enlist `IBM` is a one-item symbol vector).
/// Lists of atoms of one type collapse to vectors as in q (`(1;2)` is `1 2`).
///
/// Anything else is refused (``QueryError/Code-swift.struct/refused``) with the column of the
/// offending part: q built-ins such as `value`, `system` or `exit`, names in q's reserved
/// namespaces (`.z`, `.Q`, …), assignments, lambdas, operators, adverbs, nested calls,
/// variable references, system commands, comments, and second statements. Malformed text is a
/// ``QueryError/Code-swift.struct/syntax`` error. Nesting is limited to 32 levels.
public enum QueryParser {
    /// The most UTF-8 bytes query text may have: 1 MiB. Parsing text costs tens of bytes of
    /// memory per byte and holds the broker's loop; large arguments travel as a parse form,
    /// `` (`echo; 1 2 3) ``, whose values are read as they are (docs/PROTOCOL.md).
    public static let longestQueryText = 1 << 20

    /// Refuses text over ``longestQueryText`` bytes.
    static func checkLength(_ count: Int) throws(QueryError) {
        guard count <= longestQueryText else {
            throw QueryError(
                .tooLong,
                "the query text is \(count) bytes, over the \(longestQueryText) query text may have; "
                    + "send large arguments as a parse form, e.g. (`echo; data), which is not parsed as text")
        }
    }

    /// Parses query text, e.g. ``proc1 `IBM`` or `proc1[`IBM;10]`. The parser reads a copy of
    /// the text's UTF-8 bytes.
    public static func parse(_ text: String) throws(QueryError) -> ParsedQuery {
        try checkLength(text.utf8.count)
        var parser = QueryTextParser(bytes: Array(text.utf8))
        let (function, arguments) = try parser.parseQuery()
        return fromText(function: function, arguments: arguments, text: text)
    }

    /// Parses query text given as UTF-8 bytes (a q char vector's contents). The parser reads
    /// `bytes` itself, without a copy.
    public static func parse(utf8 bytes: [UInt8]) throws(QueryError) -> ParsedQuery {
        try checkLength(bytes.count)
        var parser = QueryTextParser(bytes: bytes)
        let (function, arguments) = try parser.parseQuery()
        return fromText(function: function, arguments: arguments, text: String(decoding: bytes, as: UTF8.self))
    }

    private static func fromText(function: String, arguments: [QValue], text: String) -> ParsedQuery {
        ParsedQuery(parsedFrom: text, function: function, arguments: arguments)
    }

    /// Parses a query sent as a q value:
    /// - a char vector (or char atom): query text;
    /// - a symbol atom `` `proc1 ``: a call without arguments;
    /// - a general list `` (`proc1;`IBM;10) ``: the parse form; the items after the function
    ///   name are the arguments, taken as values (a symbol is a symbol, not a variable).
    ///   An argument holding a general list headed by a symbol is refused, since q would
    ///   evaluate it as a nested call.
    public static func parse(_ value: QValue) throws(QueryError) -> ParsedQuery {
        switch value {
        case .vector(.char(let bytes), _):
            return try parse(utf8: bytes)
        case .atom(.char(let byte)):
            return try parse(utf8: [byte])
        case .atom(.symbol(let name)):
            try checkFunction(name, position: 0)
            return ParsedQuery(function: name, arguments: [], text: nil)
        case .list(let items, _):
            guard let head = items.first else {
                throw QueryError(.emptyQuery, "the query is an empty list")
            }
            guard case .atom(.symbol(let name)) = head else {
                throw QueryError(
                    .unsupportedForm,
                    "a list query must start with the function name as a symbol, e.g."
                        + " (`proc1;`IBM); item 0 is \(kindName(of: head))")
            }
            try checkFunction(name, position: 0)
            let arguments = Array(items.dropFirst())
            for (index, argument) in arguments.enumerated() {
                if let reason = ParseForm.nestedCall(in: argument) {
                    throw QueryError(.refused, "item \(index + 1): \(reason)")
                }
                if argument.holdsError { throw errorArgumentRefusal(item: index + 1) }
            }
            return ParsedQuery(function: name, arguments: arguments, text: nil)
        case .vector(.symbol(let names), _) where !names.isEmpty:
            // What q makes of (`proc1;`IBM). The kdb+ door reads it as that call; here the
            // message goes to the servant as it came, and servants read the forms above.
            throw QueryError(
                .unsupportedForm,
                "a query must be a string, a symbol or a general list; got a symbol vector, which is what q makes of "
                    + "(`\(names[0]);`...): send the query as text (\"\(names[0]) `...\") or as a general list"
            )
        default:
            throw QueryError(
                .unsupportedForm,
                "a query must be a string, a symbol or a general list; got \(kindName(of: value))"
            )
        }
    }

    /// Why an argument that is or holds a q error (type -128) is refused: a function that
    /// echoes it would put it inside the reply list, where no kdb+ client reads one.
    static func errorArgumentRefusal(item: Int) -> QueryError {
        QueryError(
            .unsupportedForm,
            "item \(item): a q error (type -128) as an argument, or inside one; it would come back inside the reply, where no q client reads one")
    }

    static func checkFunction(_ name: String, position: Int) throws(QueryError) {
        if name.isEmpty {
            throw QueryError(.unsupportedForm, "item \(position): the function name is empty")
        }
        if let reason = QueryNames.refusalReason(forFunction: name) {
            throw QueryError(.refused, reason)
        }
    }

    static func kindName(of value: QValue) -> String {
        switch value {
        case .atom(let atom): return "a \(atom.typeCode) atom"
        case .vector(let vector, _): return "a \(vector.typeCode) vector"
        case .list: return "a general list"
        case .dictionary: return "a dictionary"
        case .table: return "a table"
        case .error: return "an error"
        case .identity: return "::"
        }
    }
}
