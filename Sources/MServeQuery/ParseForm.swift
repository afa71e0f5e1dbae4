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

    /// The q type of a vector.
    static func typeCode(of vector: QVector) -> QTypeCode {
        switch vector {
        case .boolean: return .boolean
        case .guid: return .guid
        case .byte: return .byte
        case .short: return .short
        case .int: return .int
        case .long: return .long
        case .real: return .real
        case .float: return .float
        case .char: return .char
        case .symbol: return .symbol
        case .timestamp: return .timestamp
        case .month: return .month
        case .date: return .date
        case .datetime: return .datetime
        case .timespan: return .timespan
        case .minute: return .minute
        case .second: return .second
        case .time: return .time
        }
    }
}
