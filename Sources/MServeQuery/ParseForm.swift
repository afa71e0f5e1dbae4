import QData

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
            return "the list (`\(name);…) would be evaluated as a call to `\(name)`;"
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
