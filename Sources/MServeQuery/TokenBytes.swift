/// The bytes of one token of a query: `count` bytes of the query's `bytes` from `start`,
/// indexed from zero.
///
/// The parser hands tokens around as this view of the query's array, which it shares rather
/// than copies; `token[0]` is the token's first byte wherever the token lies in the query. As
/// a collection, it goes to checks written for any bytes, such as ``QueryNames/isIdentifier(_:)``.
struct TokenBytes: RandomAccessCollection {
    /// The whole query's UTF-8 bytes.
    let bytes: [UInt8]
    /// Where the token starts in `bytes`.
    let start: Int
    /// The number of bytes in the token.
    let count: Int

    init(_ bytes: [UInt8], start: Int, count: Int) {
        precondition(start >= 0 && count >= 0 && start + count <= bytes.count)
        self.bytes = bytes
        self.start = start
        self.count = count
    }

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    /// The token's byte at `index`, counted from the token's first byte. The parser checks
    /// `index` against `count` before reading; the array's own check keeps any read in bounds.
    subscript(index: Int) -> UInt8 {
        assert(index >= 0 && index < count, "index out of the token")
        return bytes[start &+ index]
    }

    /// The token's bytes in `range` (counted from the token's first byte), decoded as UTF-8.
    func text(_ range: Range<Int>) -> String {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        let bounds = start + range.lowerBound..<start + range.upperBound
        return String(decoding: bytes[bounds], as: UTF8.self)
    }

    /// The whole token decoded as UTF-8.
    var text: String { text(0..<count) }
}
