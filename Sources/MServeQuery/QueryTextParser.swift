import QData

/// The hand-written parser for query text, working on UTF-8 bytes.
///
/// Grammar (whitespace allowed between tokens, except where noted):
///
///     query       := name '[' arguments ']'      -- no space before '['
///                  | name literal                -- monadic application: ONE argument
///                  | '(' '`'name (';' literal)* ')'   -- the parse form, as text
///     arguments   := (literal (';' literal)*)?   -- `f[]` has no arguments
///     literal     := symbols | string | numbers | '(' list ')' | '::' | 'enlist' literal
///                  | 'enlist[' literal (';' literal)* ']'
///
/// Anything else is refused or a syntax error, with the column of the offending byte.
struct QueryTextParser {
    /// The deepest nesting of parentheses, brackets and `enlist` accepted.
    static let maximumDepth = 32

    /// The query's UTF-8 bytes.
    let bytes: [UInt8]
    var position = 0
    var depth = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    // MARK: Queries

    /// Parses the whole text as one query.
    mutating func parseQuery() throws(QueryError) -> (function: String, arguments: [QValue]) {
        skipWhitespace()
        guard position < bytes.count else {
            throw QueryError(.emptyQuery, "the query is empty", column: nil)
        }
        let byte = bytes[position]
        if byte == ASCII.openParenthesis {
            return try parseListForm()
        }
        if isNameStart(position) {
            return try parseApplication()
        }
        if byte == ASCII.backslash {
            throw QueryError(
                .refused, "a system command ('\\') is not a function application",
                column: position + 1)
        }
        if isLiteralStart(position) {
            let start = position
            _ = try parseLiteral()
            skipWhitespace()
            if position == bytes.count {
                throw QueryError(
                    .unsupportedForm,
                    "a literal alone is not a function application; write name[arguments]",
                    column: start + 1)
            }
        }
        throw unexpected(at: position)
    }

    /// `name[args]` or `name literal`.
    private mutating func parseApplication() throws(QueryError) -> (
        function: String, arguments: [QValue]
    ) {
        let nameStart = position
        let name = try readName()
        if let reason = QueryNames.refusalReason(forFunction: name, isIdentifier: true) {
            throw QueryError(.refused, reason, column: nameStart + 1)
        }
        if position < bytes.count && bytes[position] == ASCII.openBracket {
            let arguments = try parseBracketItems(allowsEmpty: true)
            try expectEnd()
            return (name, arguments)
        }
        let afterName = position
        skipWhitespace()
        guard position < bytes.count else {
            throw QueryError(
                .unsupportedForm,
                "`\(name)` alone is a variable reference, not a call; write \(name)[] to call it",
                column: nameStart + 1)
        }
        let next = bytes[position]
        if (position > afterName || delimitsItself(position)) && next != ASCII.colon
            && (isLiteralStart(position) || isNameStart(position))
            || position > afterName && isGenericNullAlone(at: position)
        {
            let argument = try parseLiteral()
            try expectEnd()
            return (name, [argument])
        }
        throw unexpected(at: position)
    }

    /// `` (`name;arg;…) `` given as text: the function name then its arguments.
    private mutating func parseListForm() throws(QueryError) -> (
        function: String, arguments: [QValue]
    ) {
        let open = position
        let (items, isList) = try parseParenthesizedItems()
        try expectEnd()
        guard isList, case .atom(.symbol(let name))? = items.first else {
            throw QueryError(
                .unsupportedForm,
                "a parenthesized query must be a list starting with the function name as a symbol,"
                    + " e.g. (`proc1;`IBM)",
                column: open + 1)
        }
        if let reason = QueryNames.refusalReason(forFunction: name) {
            var head = open + 1
            while head < bytes.count && ASCII.isWhitespace(bytes[head]) { head += 1 }
            throw QueryError(.refused, reason, column: head + 1)
        }
        return (name, Array(items.dropFirst()))
    }

    /// After a complete query only whitespace may follow.
    private mutating func expectEnd() throws(QueryError) {
        skipWhitespace()
        if position < bytes.count {
            throw unexpected(at: position)
        }
    }

    // MARK: Literals

    /// One literal argument: an atom, a vector, a list, `::` or `enlist`.
    mutating func parseLiteral() throws(QueryError) -> QValue {
        guard position < bytes.count else {
            throw QueryError(
                .syntax, "expected an argument, found the end of the query",
                column: bytes.count + 1)
        }
        let byte = bytes[position]
        switch byte {
        case ASCII.backtick:
            return parseSymbols()
        case ASCII.quote:
            return try parseString()
        case ASCII.openParenthesis:
            let (items, isList) = try parseParenthesizedItems()
            if !isList, let item = items.first {
                return item
            }
            return items.isEmpty ? .list([]) : QLiteralTypes.collapse(items)
        case ASCII.colon where byteAt(position + 1) == ASCII.colon:
            position += 2
            return .identity
        default:
            if isNumberStart(position) {
                return try parseNumbers()
            }
            if isNameStart(position) {
                let start = position
                let name = try readName()
                if name == "enlist" {
                    return try parseEnlist(at: start)
                }
                throw QueryError(
                    .refused,
                    "`\(name)` is a name, not a literal: variable references and nested function"
                        + " calls are refused",
                    column: start + 1)
            }
            throw unexpected(at: position)
        }
    }

    /// `enlist x` (a one-item list) or `enlist[a;b;…]`. As in q, a symbol, string or
    /// parenthesized argument may follow the name without a space (`` enlist`a ``,
    /// `enlist"ab"`, `enlist(1;2)`), as it may follow a function's name.
    private mutating func parseEnlist(at start: Int) throws(QueryError) -> QValue {
        try enter(at: start)
        defer { depth -= 1 }
        if position < bytes.count && bytes[position] == ASCII.openBracket {
            let items = try parseBracketItems(allowsEmpty: false)
            return QLiteralTypes.collapse(items)
        }
        let afterName = position
        skipWhitespace()
        guard position < bytes.count, position > afterName || delimitsItself(position),
            isLiteralStart(position) || isNameStart(position)
        else {
            throw QueryError(
                .syntax, "`enlist` needs a literal argument", column: start + 1)
        }
        let item = try parseLiteral()
        return QLiteralTypes.collapse([item])
    }

    /// `[a;b;…]`, positioned at '['. Returns the items; `[]` gives none when `allowsEmpty`.
    private mutating func parseBracketItems(allowsEmpty: Bool) throws(QueryError) -> [QValue] {
        let open = position
        try enter(at: open)
        defer { depth -= 1 }
        position += 1
        var items: [QValue] = []
        items.reserveCapacity(8)
        var slotCount = 0
        var emptySlotColumn: Int?
        while true {
            skipWhitespace()
            guard position < bytes.count else { throw missingClose("]", openedAt: open) }
            slotCount += 1
            let byte = bytes[position]
            if byte == ASCII.semicolon || byte == ASCII.closeBracket {
                if emptySlotColumn == nil { emptySlotColumn = position + 1 }
            } else {
                items.append(try parseLiteral())
                skipWhitespace()
                guard position < bytes.count else { throw missingClose("]", openedAt: open) }
            }
            let separator = bytes[position]
            if separator == ASCII.semicolon {
                position += 1
            } else if separator == ASCII.closeBracket {
                position += 1
                break
            } else {
                throw unexpected(at: position)
            }
        }
        if let emptySlotColumn {
            if slotCount == 1 && allowsEmpty {
                return []
            }
            throw QueryError(
                .unsupportedForm,
                "an empty argument makes a projection, not a call", column: emptySlotColumn)
        }
        return items
    }

    /// `(…)`, positioned at '('. Returns the items and whether they form a list (`()` or a
    /// `;`-separated list) rather than one parenthesized literal.
    private mutating func parseParenthesizedItems() throws(QueryError) -> (
        items: [QValue], isList: Bool
    ) {
        let open = position
        try enter(at: open)
        defer { depth -= 1 }
        position += 1
        skipWhitespace()
        if position < bytes.count && bytes[position] == ASCII.closeParenthesis {
            position += 1
            return ([], true)
        }
        var items: [QValue] = []
        while true {
            skipWhitespace()
            guard position < bytes.count else { throw missingClose(")", openedAt: open) }
            let byte = bytes[position]
            if byte == ASCII.semicolon || byte == ASCII.closeParenthesis {
                throw QueryError(
                    .unsupportedForm, "an empty list item makes a projection, not a list",
                    column: position + 1)
            }
            items.append(try parseLiteral())
            skipWhitespace()
            guard position < bytes.count else { throw missingClose(")", openedAt: open) }
            let separator = bytes[position]
            if separator == ASCII.semicolon {
                position += 1
            } else if separator == ASCII.closeParenthesis {
                position += 1
                break
            } else {
                throw unexpected(at: position)
            }
        }
        return (items, items.count != 1)
    }

    /// `` `a `` (an atom) or `` `a`b`c `` (a vector); positioned at '`'.
    private mutating func parseSymbols() -> QValue {
        let first = readSymbol()
        guard position < bytes.count && bytes[position] == ASCII.backtick else {
            return .atom(.symbol(first))
        }
        var symbols = [first]
        while position < bytes.count && bytes[position] == ASCII.backtick {
            symbols.append(readSymbol())
        }
        return .vector(.symbol(symbols))
    }

    /// One symbol after its backtick: letters, digits, `.`, `_`, `:`, UTF-8 bytes, and `/` in
    /// file handles (`` `:dir/file ``).
    private mutating func readSymbol() -> String {
        position += 1
        let start = position
        let isHandle = position < bytes.count && bytes[position] == ASCII.colon
        while position < bytes.count {
            let byte = bytes[position]
            if ASCII.isLetter(byte) || ASCII.isDigit(byte) || byte == ASCII.dot
                || byte == ASCII.underscore || byte == ASCII.colon || byte >= 0x80
                || (isHandle && byte == ASCII.slash)
            {
                position += 1
            } else {
                break
            }
        }
        return text(start, position)
    }

    /// `"a"` (a char atom) or `"text"` (a char vector), with escapes `\" \\ \n \t \r \NNN`.
    private mutating func parseString() throws(QueryError) -> QValue {
        let open = position
        position += 1
        var characters: [UInt8] = []
        while true {
            guard position < bytes.count else {
                throw QueryError(.syntax, "unterminated string", column: open + 1)
            }
            let byte = bytes[position]
            if byte == ASCII.quote {
                position += 1
                break
            }
            if byte != ASCII.backslash {
                characters.append(byte)
                position += 1
                continue
            }
            guard let escaped = byteAt(position + 1) else {
                throw QueryError(.syntax, "unterminated string", column: open + 1)
            }
            switch escaped {
            case ASCII.quote, ASCII.backslash:
                characters.append(escaped)
                position += 2
            case UInt8(ascii: "n"):
                characters.append(ASCII.newline)
                position += 2
            case UInt8(ascii: "t"):
                characters.append(ASCII.tab)
                position += 2
            case UInt8(ascii: "r"):
                characters.append(ASCII.carriageReturn)
                position += 2
            case ASCII.zero...UInt8(ascii: "7"):
                var value = 0
                for offset in 1...3 {
                    guard let digit = byteAt(position + offset),
                        digit >= ASCII.zero && digit <= UInt8(ascii: "7")
                    else {
                        throw QueryError(
                            .syntax, "an octal escape needs three digits (\\NNN)",
                            column: position + 1)
                    }
                    value = value * 8 + Int(digit - ASCII.zero)
                }
                guard value <= 255 else {
                    throw QueryError(
                        .syntax, "octal escape beyond \\377", column: position + 1)
                }
                characters.append(UInt8(value))
                position += 4
            default:
                throw QueryError(
                    .syntax, "unknown escape '\\\(describe(escaped))' in a string",
                    column: position + 1)
            }
        }
        if characters.count == 1 {
            return .atom(.char(characters[0]))
        }
        return .vector(.char(characters))
    }

    /// A number or temporal literal, or a space-separated vector of them (`1 2 3h`).
    private mutating func parseNumbers() throws(QueryError) -> QValue {
        let first = try parseNumericToken()
        guard advanceToNextNumber() else {
            return try first.token.value(column: first.column)
        }
        var tokens = [first]
        repeat {
            tokens.append(try parseNumericToken())
        } while advanceToNextNumber()
        return try NumericToken.vector(of: tokens)
    }

    /// Moves past spaces to the next element of a vector, if one follows.
    private mutating func advanceToNextNumber() -> Bool {
        var index = position
        while index < bytes.count && (bytes[index] == ASCII.space || bytes[index] == ASCII.tab) {
            index += 1
        }
        guard index > position, isNumberStart(index) else { return false }
        position = index
        return true
    }

    private mutating func parseNumericToken() throws(QueryError) -> (
        token: NumericToken, column: Int
    ) {
        let start = position
        let negative = bytes[position] == ASCII.minus
        if negative { position += 1 }
        let bodyStart = position
        let isHex =
            byteAt(bodyStart) == ASCII.zero && byteAt(bodyStart + 1) == UInt8(ascii: "x")
        while position < bytes.count {
            let byte = bytes[position]
            if ASCII.isLetter(byte) || ASCII.isDigit(byte) || byte == ASCII.dot
                || byte == ASCII.colon
            {
                position += 1
            } else if (byte == ASCII.minus || byte == ASCII.plus) && !isHex
                && position > bodyStart && (bytes[position - 1] | 0x20) == UInt8(ascii: "e")
                && byteAt(position + 1).map(ASCII.isDigit) == true
            {
                position += 1
            } else {
                break
            }
        }
        let body = TokenBytes(bytes, start: bodyStart, count: position - bodyStart)
        let token = try NumericToken.classify(body, negative: negative, column: start + 1)
        return (token, start + 1)
    }

    // MARK: Names and bytes

    /// A q name (possibly dotted), positioned at its first byte.
    private mutating func readName() throws(QueryError) -> String {
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            if ASCII.isLetter(byte) || ASCII.isDigit(byte) || byte == ASCII.dot
                || byte == ASCII.underscore
            {
                position += 1
            } else {
                break
            }
        }
        let name = TokenBytes(bytes, start: start, count: position - start)
        guard QueryNames.isIdentifier(name) else {
            throw QueryError(
                .syntax, "`\(text(start, position))` is not a valid name", column: start + 1)
        }
        return text(start, position)
    }

    private func text(_ start: Int, _ end: Int) -> String {
        String(decoding: bytes[start..<end], as: UTF8.self)
    }

    private func byteAt(_ index: Int) -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func skipWhitespace() {
        while position < bytes.count && ASCII.isWhitespace(bytes[position]) {
            position += 1
        }
    }

    private func isNameStart(_ index: Int) -> Bool {
        guard let byte = byteAt(index) else { return false }
        if ASCII.isLetter(byte) { return true }
        return byte == ASCII.dot && byteAt(index + 1).map(ASCII.isLetter) == true
    }

    private func isNumberStart(_ index: Int) -> Bool {
        guard let byte = byteAt(index) else { return false }
        if ASCII.isDigit(byte) { return true }
        if byte == ASCII.dot { return byteAt(index + 1).map(ASCII.isDigit) == true }
        if byte == ASCII.minus {
            guard let next = byteAt(index + 1) else { return false }
            if ASCII.isDigit(next) { return true }
            return next == ASCII.dot && byteAt(index + 2).map(ASCII.isDigit) == true
        }
        return false
    }

    /// Whether the literal at `index` can follow a name with no space between (a symbol, a
    /// string, a parenthesized list): a number or a name there would be read with the name.
    private func delimitsItself(_ index: Int) -> Bool {
        guard let byte = byteAt(index) else { return false }
        return byte == ASCII.backtick || byte == ASCII.quote || byte == ASCII.openParenthesis
    }

    /// Whether `::` stands at `index` with nothing but blanks after it: `f ::` applies `f` to
    /// the generic null, as `f[::]` does. Anything after it (`f :: 3`) makes it an assignment,
    /// and `f::` without a space one too.
    private func isGenericNullAlone(at index: Int) -> Bool {
        guard byteAt(index) == ASCII.colon, byteAt(index + 1) == ASCII.colon else { return false }
        return bytes[(index + 2)...].allSatisfy(ASCII.isWhitespace)
    }

    private func isLiteralStart(_ index: Int) -> Bool {
        guard let byte = byteAt(index) else { return false }
        return byte == ASCII.backtick || byte == ASCII.quote || byte == ASCII.openParenthesis
            || (byte == ASCII.colon && byteAt(index + 1) == ASCII.colon)
            || isNumberStart(index)
    }

    private mutating func enter(at index: Int) throws(QueryError) {
        depth += 1
        if depth > Self.maximumDepth {
            throw QueryError(
                .syntax, "nesting deeper than \(Self.maximumDepth) levels", column: index + 1)
        }
    }

    // MARK: Errors

    private func missingClose(_ close: String, openedAt open: Int) -> QueryError {
        QueryError(
            .syntax,
            "missing '\(close)' to close the '\(describe(bytes[open]))' at column \(open + 1)",
            column: bytes.count + 1)
    }

    private func describe(_ byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F {
            return String(UnicodeScalar(byte))
        }
        return "\\x" + String(byte, radix: 16)
    }

    /// The whole UTF-8 character starting at `index`, or nil when the bytes there are not one.
    private func character(at index: Int) -> String? {
        let lead = bytes[index]
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        guard length > 1, index + length <= bytes.count else { return nil }
        return String(validating: bytes[index..<index + length], as: UTF8.self)
    }

    /// Names what is at `index` when it cannot continue the query, as a refusal or syntax error.
    private func unexpected(at index: Int) -> QueryError {
        let column = index + 1
        guard let byte = byteAt(index) else {
            return QueryError(.syntax, "unexpected end of the query", column: column)
        }
        let previous = index > 0 ? bytes[index - 1] : nil
        let afterSpace = previous.map(ASCII.isWhitespace) ?? true
        switch byte {
        case ASCII.semicolon:
            return QueryError(
                .refused,
                "a second statement after ';': only one function application is accepted",
                column: column)
        case ASCII.colon:
            return QueryError(.refused, "assignment (':') is not a function application",
                column: column)
        case ASCII.openBrace:
            return QueryError(.refused, "lambdas ('{...}') are refused", column: column)
        case ASCII.closeBrace, ASCII.closeParenthesis, ASCII.closeBracket:
            return QueryError(.syntax, "unbalanced '\(describe(byte))'", column: column)
        case ASCII.openBracket:
            return QueryError(
                .refused,
                afterSpace
                    ? "'[' must follow the function name directly"
                    : "'[' here applies or indexes the value before it; only name[arguments]"
                        + " is accepted",
                column: column)
        case ASCII.backslash:
            return QueryError(
                .refused,
                afterSpace
                    ? "a system command ('\\') is refused"
                    : "the adverb '\\' (scan) is refused",
                column: column)
        case ASCII.slash:
            return QueryError(
                .refused,
                afterSpace ? "comments ('/') are refused" : "the adverb '/' (over) is refused",
                column: column)
        case ASCII.apostrophe:
            return QueryError(
                .refused, "''' (each, or a signal) is refused", column: column)
        case ASCII.backtick, ASCII.quote, ASCII.openParenthesis, ASCII.zero...ASCII.nine:
            return QueryError(
                .refused,
                "a value after an argument: q would apply one to the other, which is not a"
                    + " literal",
                column: column)
        case _ where isNameStart(index):
            var end = index
            while end < bytes.count
                && (ASCII.isLetter(bytes[end]) || ASCII.isDigit(bytes[end])
                    || bytes[end] == ASCII.dot || bytes[end] == ASCII.underscore)
            {
                end += 1
            }
            return QueryError(
                .refused,
                "`\(text(index, end))` is a name, not a literal: variable references and nested"
                    + " function calls are refused",
                column: column)
        default:
            if "+-*%!&|<>=~,^#_$?@.".utf8.contains(byte) {
                return QueryError(
                    .refused, "the operator '\(describe(byte))' is refused", column: column)
            }
            if byte >= 0x80, let character = character(at: index) {
                return QueryError(
                    .syntax, "unexpected character '\(character)': outside strings a query is ASCII",
                    column: column)
            }
            return QueryError(
                .syntax, "unexpected character '\(describe(byte))'", column: column)
        }
    }
}
