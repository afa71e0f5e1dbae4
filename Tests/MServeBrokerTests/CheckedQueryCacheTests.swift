import QData
import Testing

@testable import MServeBroker

/// The loop's memory of checked queries finds only the very bytes it kept.
struct CheckedQueryCacheTests {
    /// The query item of `(id; text)` as it lies in an IPC message: its bytes and their range.
    private static func queryItem(_ text: String) -> (bytes: [UInt8], range: Range<Int>) {
        let bytes = QIPC.encode(.list([.atom(.long(7)), .vector(.char(Array(text.utf8)))]))
        // Header (8), list type, attributes and count (6), the long atom (9): the query follows.
        return (bytes, 23..<bytes.count)
    }

    private static func entry(_ cache: CheckedQueryCache, _ text: String) -> CheckedQueryCache.Entry? {
        let (bytes, range) = queryItem(text)
        return cache.entry(for: bytes.span, range: range)
    }

    private static func keep(_ cache: inout CheckedQueryCache, _ text: String, function: String, routing: String) {
        let (bytes, range) = queryItem(text)
        cache.keep(bytes.span, range: range, function: function, routing: routing)
    }

    @Test func theSameBytesFindWhatWasKept() {
        var cache = CheckedQueryCache()
        Self.keep(&cache, "proc1 `IBM", function: "proc1", routing: "IBM")
        let found = Self.entry(cache, "proc1 `IBM")
        #expect(found?.function == "proc1")
        #expect(found?.routing == "IBM")
    }

    @Test(arguments: ["proc1 `IBN", "proc1 `IBMX", "proc1 `IB", "proc2 `IBM", ""])
    func otherBytesFindNothing(text: String) {
        var cache = CheckedQueryCache()
        Self.keep(&cache, "proc1 `IBM", function: "proc1", routing: "IBM")
        #expect(Self.entry(cache, text) == nil)
    }

    @Test func aQueryOverTheLongestKeyIsNotKept() {
        var cache = CheckedQueryCache()
        // The query item is the text and its 6-byte vector header.
        let longest = String(repeating: "a", count: CheckedQueryCache.longestKey - 6)
        let longer = longest + "a"
        Self.keep(&cache, longest, function: "f", routing: "r")
        Self.keep(&cache, longer, function: "f", routing: "r")
        #expect(Self.entry(cache, longest) != nil)
        #expect(Self.entry(cache, longer) == nil)
    }

    @Test func manyQueriesShareTheSlotsAndEachFindsOnlyItsOwn() {
        var cache = CheckedQueryCache()
        let texts = (0..<(4 * CheckedQueryCache.slotCount)).map { "proc1 `S\($0)" }
        for text in texts { Self.keep(&cache, text, function: "proc1", routing: String(text.dropFirst(7))) }
        var found = 0
        for text in texts {
            guard let entry = Self.entry(cache, text) else { continue }
            found += 1
            #expect(entry.routing == String(text.dropFirst(7)))
        }
        // Each slot keeps the last query that hashed to it: some are found, never more than
        // the slots, and every one found is its own.
        #expect(found > 0 && found <= CheckedQueryCache.slotCount)
    }
}
