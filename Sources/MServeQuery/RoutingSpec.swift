import QData

/// The string a dispatch algorithm sees for a query, e.g. `IBM` for ``proc1 `IBM``.
public struct RoutingString: Hashable, Sendable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The routing text.
    public var value: String

    /// Wraps a routing text.
    public init(_ value: String) {
        self.value = value
    }

    /// Creates a routing string from a literal.
    public init(stringLiteral value: String) {
        self.value = value
    }

    /// The routing text.
    public var description: String { value }
}

/// How a query's routing string is derived (`MSERVE_ROUTING`).
///
/// Spec syntax, comma-separated parts, whitespace ignored:
/// - `arg:N`: the N-th argument (1-based), rendered by ``QData/QValue/routingText``;
///   `arg` alone is `arg:1`. When the query has fewer than N arguments, the part is the
///   function name.
/// - `function`: the function name.
/// - Several parts join their texts with `|` (``RoutingSpec/separator``):
///   `function,arg:1` gives `proc1|IBM`.
/// - `plugin:NAME[:config]`, alone: a routing plugin chooses; the broker resolves
///   ``pluginName`` (with the configuration for the plugin's `create`, any text, commas
///   included) and ``routingString(for:)`` gives the default routing (the first argument)
///   meanwhile.
///
/// The empty spec is the default, `arg:1`. A query without arguments routes to its function
/// name under `arg:1`.
public struct RoutingSpec: Sendable, Hashable, CustomStringConvertible {
    /// One part of a spec.
    public enum Part: Sendable, Hashable, CustomStringConvertible {
        /// The function name.
        case function
        /// The argument at a 1-based position.
        case argument(Int)

        /// The part as written in a spec: `function` or `arg:N`.
        public var description: String {
            switch self {
            case .function: return "function"
            case .argument(let position): return "arg:\(position)"
            }
        }
    }

    /// The text between the parts of a joined routing string.
    public static let separator = "|"
    /// The largest argument position a spec may name.
    public static let maximumArgumentPosition = 1024

    /// The first argument: `arg:1`.
    public static let `default` = RoutingSpec(parts: [.argument(1)])

    /// The parts whose texts make the routing string (`[.argument(1)]` for a plugin spec).
    public private(set) var parts: [Part]
    /// The routing plugin of `plugin:NAME[:config]`, for the broker to load: `NAME` or
    /// `NAME:config`, as an algorithm is named (`MSERVE_ALGO`); otherwise `nil`.
    public private(set) var pluginName: String?

    /// Creates a spec from its parts (at least one).
    public init(parts: [Part]) {
        precondition(!parts.isEmpty, "a routing spec needs at least one part")
        self.parts = parts
        self.pluginName = nil
    }

    /// Parses a spec such as `arg:1`, `function`, `function,arg:2` or `plugin:NAME`;
    /// errors carry code ``QueryError/Code-swift.struct/routing`` and the 1-based column.
    public init(parsing spec: String) throws(QueryError) {
        var parts: [Part] = []
        var column = 1
        let pieces = spec.split(separator: ",", omittingEmptySubsequences: false)
        let isBlank = spec.allSatisfy(\.isWhitespace)
        if isBlank {
            self = .default
            return
        }
        let leadingBlanks = spec.prefix(while: \.isWhitespace)
        if spec.dropFirst(leadingBlanks.count).hasPrefix("plugin:") {
            // The plugin's configuration is the plugin's to read: not split at commas.
            let rest = spec.dropFirst(leadingBlanks.count + 7)
            let name = rest.prefix { $0 != ":" }.trimmingWhitespace()
            let configuration = rest.drop { $0 != ":" }
            let column = leadingBlanks.utf8.count + 1
            guard !name.contains(",") else {
                throw QueryError(.routing, "'plugin:NAME' cannot be joined with other parts", column: column)
            }
            guard !name.isEmpty,
                name.utf8.allSatisfy({
                    ASCII.isLetter($0) || ASCII.isDigit($0) || $0 == ASCII.underscore
                        || $0 == ASCII.minus || $0 == ASCII.dot
                })
            else {
                throw QueryError(
                    .routing, "'plugin:\(name)': a plugin name is letters, digits, '_', '-' or '.'",
                    column: column)
            }
            self.parts = [.argument(1)]
            self.pluginName = configuration.isEmpty ? name : name + String(configuration)
            return
        }
        for piece in pieces {
            let leading = piece.prefix(while: \.isWhitespace).utf8.count
            let text = piece.trimmingWhitespace()
            let partColumn = column + leading
            defer { column += piece.utf8.count + 1 }
            if text == "function" {
                parts.append(.function)
            } else if text == "arg" {
                parts.append(.argument(1))
            } else if text.hasPrefix("arg:") {
                let number = text.dropFirst(4)
                guard let position = Int(number), position >= 1,
                    position <= Self.maximumArgumentPosition
                else {
                    throw QueryError(
                        .routing,
                        "'\(text)': the argument position must be a number from 1 to"
                            + " \(Self.maximumArgumentPosition)",
                        column: partColumn)
                }
                parts.append(.argument(position))
            } else if text.hasPrefix("plugin:") {
                throw QueryError(.routing, "'plugin:NAME' cannot be joined with other parts", column: partColumn)
            } else if text.isEmpty {
                throw QueryError(.routing, "an empty part in the routing spec", column: partColumn)
            } else {
                throw QueryError(
                    .routing,
                    "unknown routing part '\(text)'; expected arg:N, function or plugin:NAME[:config]",
                    column: partColumn)
            }
        }
        self.parts = parts
        self.pluginName = nil
    }

    /// The spec in canonical form: `arg:1`, `function,arg:2`, `plugin:NAME[:config]`.
    public var description: String {
        if let pluginName { return "plugin:" + pluginName }
        return parts.map(\.description).joined(separator: ",")
    }

    /// The routing string of a query under this spec.
    ///
    /// Each part gives the function name or an argument's ``QData/QValue/routingText``
    /// (the function name when that argument is missing); several parts are joined with `|`.
    /// A text over ``longestRoutingString`` bytes is shortened (``bounded(_:)``).
    public func routingString(for query: ParsedQuery) -> RoutingString {
        if parts.count == 1 {
            return RoutingString(Self.bounded(text(of: parts[0], query)))
        }
        return RoutingString(Self.bounded(parts.map { text(of: $0, query) }.joined(separator: Self.separator)))
    }

    /// The most bytes a routing string keeps whole. The broker and dispatch algorithms keep
    /// routing strings (a servant's last one, an algorithm's recent ones): an argument of
    /// megabytes, a large vector, must not be kept that many times over.
    public static let longestRoutingString = 1_024

    /// `text` itself when it has at most ``longestRoutingString`` bytes; otherwise its first
    /// bytes, `…#` and 16 hex digits of a hash (FNV-1a) of all of it, ``longestRoutingString``
    /// bytes at most in all: equal texts still give equal routing strings, and texts that
    /// differ anywhere almost surely different ones.
    public static func bounded(_ text: String) -> String {
        guard text.utf8.count > longestRoutingString else { return text }
        return shortened(text, hash: BoundedRoutingText.hash(of: text.utf8))
    }

    /// The first bytes of `text` (a text of more than ``longestRoutingString`` bytes, or at
    /// least its first 2 × ``longestRoutingString`` bytes), `…#` and the hash of all of it.
    static func shortened(_ text: String, hash: UInt64) -> String {
        let utf8 = text.utf8
        let digits = String(hash, radix: 16)
        let suffix = "…#" + String(repeating: "0", count: 16 - digits.count) + digits
        // Cut on a character boundary so the prefix stays valid UTF-8.
        var end = utf8.index(utf8.startIndex, offsetBy: longestRoutingString - suffix.utf8.count)
        while end > utf8.startIndex, String.Index(end, within: text) == nil { end = utf8.index(before: end) }
        return String(text[..<end]) + suffix
    }

    private func text(of part: Part, _ query: ParsedQuery) -> String {
        switch part {
        case .function:
            return query.function
        case .argument(let position):
            guard position <= query.arguments.count else { return query.function }
            return query.arguments[position - 1].routingText
        }
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map(index(after:)) ?? start
        return String(self[start..<Swift.max(start, end)])
    }
}

/// A routing text built piece by piece, kept to what ``RoutingSpec/bounded(_:)`` makes of the
/// whole: the first bytes and an FNV-1a hash of all of them. A 40 MB vector's routing text is
/// rendered a chunk at a time into one of these, never held whole.
struct BoundedRoutingText {
    /// The text's first pieces: all of it, or at least 2 × ``RoutingSpec/longestRoutingString``
    /// bytes of it (whole pieces, so always valid UTF-8, and enough to cut it on a character
    /// boundary as ``RoutingSpec/bounded(_:)`` cuts the whole text).
    private var prefix = ""
    /// The bytes appended in all.
    private(set) var byteCount = 0
    /// FNV-1a over all the bytes appended.
    private var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    /// The most message bytes decoded at once to render the pieces (``CheckedQuery/largestDecode``).
    var largestDecode = 0

    /// Appends the next piece of the text.
    mutating func append(_ piece: String) {
        let utf8 = piece.utf8
        hash = Self.hash(of: utf8, from: hash)
        byteCount += utf8.count
        if prefix.utf8.count < 2 * RoutingSpec.longestRoutingString { prefix += piece }
    }

    /// Appends the next piece of the text as its UTF-8 bytes (whole characters).
    mutating func append(utf8 piece: [UInt8]) {
        for byte in piece { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        byteCount += piece.count
        if prefix.utf8.count < 2 * RoutingSpec.longestRoutingString { prefix += String(decoding: piece, as: UTF8.self) }
    }

    /// The text, bounded as ``RoutingSpec/bounded(_:)`` bounds it.
    var text: String {
        byteCount <= RoutingSpec.longestRoutingString ? prefix : RoutingSpec.shortened(prefix, hash: hash)
    }

    /// FNV-1a of `bytes`, continuing from `hash`.
    static func hash(of bytes: String.UTF8View, from hash: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var hash = hash
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash
    }
}
