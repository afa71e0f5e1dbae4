// Per-query options: the dictionary a client may send as the third item of
// `(id; query; options)` (docs/PROTOCOL.md, "Per-query options").

public import QData

/// The options a client sets for one query, read from a q dictionary with symbol keys.
///
/// Every key must be known and every value of the right type: an option the broker cannot
/// honour is refused with an error rather than ignored, so a typo does not pass unnoticed.
public struct QueryOptions: Sendable, Equatable {
    /// The option keys the broker knows, in the order they are documented.
    public static let knownKeys = ["deadline"]

    /// How long the query may take from the broker's receipt of it to its reply, in
    /// nanoseconds (the `deadline` option, a positive timespan); nil: the broker's own.
    /// The broker caps it at its own `--deadline`.
    public var deadlineNanoseconds: Int64?

    /// Options with nothing set.
    public init() {}

    /// Options with a deadline (`deadline`, a positive duration).
    public init(deadline: Duration?) {
        // At least a nanosecond: a zero or negative deadline is one already passed.
        deadlineNanoseconds = deadline.map { Int64(max(1, $0.nanoseconds)) }
    }

    /// Reads the options dictionary: symbol keys, each known, each value of its key's type.
    /// An empty dictionary (`()!()`) sets nothing.
    public init(decoding value: QValue) throws(ProtocolError) {
        guard case .dictionary(let keys, let values, _) = value else {
            throw ProtocolError(
                .unexpectedShape,
                "the options (the third item of (id; query; options)) must be a dictionary with symbol keys, "
                    + "e.g. (enlist`deadline)!enlist 0D00:00:05; got a \(value.typeName)")
        }
        if keys.count == 0, values.count == 0 { return }
        guard case .vector(.symbol(let names), _) = keys, let items = values.items, items.count == names.count else {
            throw ProtocolError(
                .unexpectedShape, "the options dictionary must have symbol keys (e.g. `deadline), one value each")
        }
        var seen: Set<String> = []
        for (name, item) in zip(names, items) {
            guard seen.insert(name).inserted else {
                throw ProtocolError(.unexpectedShape, "the option `\(name) is given twice")
            }
            switch name {
            case "deadline":
                guard case .atom(.timespan(let nanoseconds)) = item else {
                    throw ProtocolError(
                        .unexpectedShape,
                        "the option `deadline must be a timespan, e.g. 0D00:00:05 (5 seconds); got a \(item.typeName)")
                }
                guard nanoseconds > 0, nanoseconds != Int64.min else {
                    throw ProtocolError(.unexpectedShape, "the option `deadline must be a positive timespan; got \(item)")
                }
                deadlineNanoseconds = nanoseconds
            default:
                throw ProtocolError(
                    .unexpectedShape,
                    "unknown option `\(name); the options are "
                        + Self.knownKeys.map { "`" + $0 }.joined(separator: ", "))
            }
        }
    }

    /// Whether no option is set.
    public var isEmpty: Bool { deadlineNanoseconds == nil }

    /// The options as the q dictionary a client sends, e.g. `` (enlist`deadline)!enlist 0D00:00:05 ``.
    public var qValue: QValue {
        var names: [String] = []
        var items: [QValue] = []
        if let deadlineNanoseconds {
            names.append("deadline")
            items.append(.atom(.timespan(deadlineNanoseconds)))
        }
        return .dictionary(keys: .vector(.symbol(names)), values: .list(items))
    }
}

extension QValue {
    /// q's name for the value's type, for error messages ("a long atom", "a char vector").
    public var typeName: String {
        switch self {
        case .atom(let atom): "\(Self.name(of: atom.typeCode)) atom"
        case .vector(let vector, _): "\(Self.name(of: vector.typeCode)) vector"
        case .list: "general list"
        case .dictionary: "dictionary"
        case .table: "table"
        case .error: "q error"
        case .identity: "generic null (::)"
        }
    }

    private static func name(of code: QTypeCode) -> String {
        String(describing: code)
    }
}
