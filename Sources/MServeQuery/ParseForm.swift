public import QData

/// Checks on queries sent as q parse forms (general lists), which q evaluates with `eval`.
enum ParseForm {
    /// The deepest nesting of general lists checked in a parse form's arguments.
    static let maximumDepth = 64

    /// Why an argument of a parse form is not a plain literal, or `nil` when it is.
    ///
    /// q's `eval` evaluates every general list inside a parse form; one headed by a symbol is
    /// a call to the function the symbol names, so it is refused at any depth.
    static func nestedCall(in value: QValue, depth: Int = 0) -> String? {
        guard case .list(let items, _) = value else { return nil }
        guard depth < maximumDepth else {
            return "general lists nested deeper than \(maximumDepth) levels"
        }
        if case .atom(.symbol(let name))? = items.first {
            return "the list (`\(name);...) would be evaluated as a call to `\(name)`;"
                + " nested function calls are refused"
        }
        for item in items {
            if let reason = nestedCall(in: item, depth: depth + 1) {
                return reason
            }
        }
        return nil
    }
}

extension ParsedQuery {
    /// The query as a parse tree for q's `eval` (what a q servant's `value` does with a
    /// general list): the function's name, then each argument quoted, so that q calls the
    /// function on the very literals the broker checked and evaluates nothing else.
    ///
    /// In a parse tree a symbol names a variable and a list is an application; a one-item
    /// list is a constant. So a symbol is sent as a one-item symbol vector and any list
    /// (a symbol vector, a general list, a dictionary or a table) inside a one-item general
    /// list, as `parse` writes them; other atoms and simple vectors are constants as they
    /// are. A call without arguments, `f[]`, is `(`f; ::)`.
    public var qParseTree: QValue {
        let arguments = self.arguments.isEmpty ? [QValue.identity] : self.arguments.map(Self.quoted)
        return .list([.atom(.symbol(function))] + arguments)
    }

    static func quoted(_ argument: QValue) -> QValue {
        switch argument {
        case .atom(.symbol(let name)): .vector(.symbol([name]))
        case .vector(.symbol, _), .list, .dictionary, .table: .list([argument])
        default: argument
        }
    }
}
