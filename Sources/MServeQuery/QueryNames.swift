/// Rules for the names a query may call: plain (dotted) q identifiers that are neither q
/// built-ins nor in q's reserved single-letter namespaces (`.q`, `.Q`, `.z`, `.h`, …).
enum QueryNames {
    /// q keywords and built-in functions: never an API function. Some run arbitrary code or touch
    /// the process (`value`, `eval`, `system`, `exit`, `set`, `hopen`, …); the rest are refused
    /// as well, so that a query can only reach functions the servants define.
    static let builtins: Set<String> = [
        "abs", "acos", "aj", "aj0", "ajf", "ajf0", "all", "and", "any", "asc", "asin", "asof",
        "atan", "attr", "avg", "avgs", "bin", "binr", "by", "ceiling", "cols", "cor", "cos",
        "count", "cov", "cross", "csv", "cut", "delete", "deltas", "desc", "dev", "differ",
        "distinct", "div", "do", "dsave", "each", "ej", "ema", "enlist", "eval", "except", "exec",
        "exit", "exp", "fby", "fills", "first", "fkeys", "flip", "floor", "from", "get", "getenv",
        "group", "gtime", "hclose", "hcount", "hdel", "hopen", "hsym", "iasc", "idesc", "if",
        "ij", "ijf", "in", "insert", "inter", "inv", "key", "keys", "last", "like", "lj", "ljf",
        "load", "log", "lower", "lsq", "ltime", "ltrim", "mavg", "max", "maxs", "mcount", "md5",
        "mdev", "med", "meta", "min", "mins", "mmax", "mmin", "mmu", "mod", "msum", "neg", "next",
        "not", "null", "or", "over", "parse", "peach", "pj", "plist", "prd", "prds", "prev",
        "prior", "rand", "rank", "ratios", "raze", "read0", "read1", "reciprocal", "reval",
        "reverse", "rload", "rotate", "rsave", "rtrim", "save", "scan", "scov", "sdev", "select",
        "set", "setenv", "show", "signum", "sin", "sqrt", "ss", "ssr", "string", "sublist", "sum",
        "sums", "sv", "svar", "system", "tables", "tan", "til", "trim", "type", "uj", "ujf",
        "ungroup", "union", "update", "upper", "upsert", "value", "var", "view", "views", "vs",
        "wavg", "where", "while", "within", "wj", "wj1", "wsum", "xasc", "xbar", "xcol", "xcols",
        "xdesc", "xexp", "xgroup", "xkey", "xlog", "xprev", "xrank",
    ]

    /// The length of the longest name in ``builtins``: longer names skip the set lookup.
    static let longestBuiltin = builtins.map(\.utf8.count).max() ?? 0

    /// Whether `name` is a plain q identifier, optionally dotted: `proc1`, `.api.trades`, `a_b`.
    ///
    /// Segments are separated by single dots, each starts with an ASCII letter and continues with
    /// letters, digits or `_`; only the first segment may be empty (a leading dot).
    static func isIdentifier<Bytes: Collection<UInt8>>(_ name: Bytes) -> Bool {
        var segmentLength = 0
        var isFirstByte = true
        for byte in name {
            if byte == ASCII.dot {
                if segmentLength == 0 && !isFirstByte { return false }
                segmentLength = 0
            } else if segmentLength == 0 {
                guard ASCII.isLetter(byte) else { return false }
                segmentLength = 1
            } else {
                guard ASCII.isLetter(byte) || ASCII.isDigit(byte) || byte == ASCII.underscore else {
                    return false
                }
                segmentLength += 1
            }
            isFirstByte = false
        }
        return segmentLength > 0
    }

    /// Why a function may not be called, or `nil` when it may.
    static func refusalReason(forFunction name: String, isIdentifier known: Bool = false)
        -> String?
    {
        guard known || isIdentifier(name.utf8) else {
            return "`\(name)` is not a function name (a plain or dotted q identifier)"
        }
        if name.utf8.count <= longestBuiltin && builtins.contains(name) {
            return "`\(name)` is a q built-in, not an API function"
        }
        let bytes = name.utf8
        if bytes.count >= 2, bytes.first == ASCII.dot {
            let second = bytes.index(after: bytes.startIndex)
            let third = bytes.index(after: second)
            if third == bytes.endIndex || bytes[third] == ASCII.dot {
                let namespace = String(name[..<third])
                return "`\(name)` is in q's reserved namespace `\(namespace)`"
            }
        }
        return nil
    }
}

/// ASCII byte constants and classes used by the parser.
enum ASCII {
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let backtick = UInt8(ascii: "`")
    static let quote = UInt8(ascii: "\"")
    static let apostrophe = UInt8(ascii: "'")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let openParenthesis = UInt8(ascii: "(")
    static let closeParenthesis = UInt8(ascii: ")")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let semicolon = UInt8(ascii: ";")
    static let colon = UInt8(ascii: ":")
    static let dot = UInt8(ascii: ".")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let underscore = UInt8(ascii: "_")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")

    static func isDigit(_ byte: UInt8) -> Bool { byte &- zero < 10 }
    static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) &- UInt8(ascii: "a") < 26 }
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == space || byte == tab || byte == newline || byte == carriageReturn
    }
    static func hexValue(_ byte: UInt8) -> UInt8? {
        if isDigit(byte) { return byte - zero }
        let lower = byte | 0x20
        if lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "f") {
            return lower - UInt8(ascii: "a") + 10
        }
        return nil
    }
}
