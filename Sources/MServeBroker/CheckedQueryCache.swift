// What the broker's loop learned from checking a query, kept by the query's bytes: a query
// sent again with the same bytes (a dashboard polling, a client repeating itself) is not
// parsed and checked again.

/// The function and routing string of queries that passed the broker's checks, by the bytes
/// of their query item (`query` of `(id; query[; options])`, as it lies in the message).
///
/// A direct-mapped table: each of ``slotCount`` slots keeps the last query whose bytes hashed
/// to it. A hit compares every byte of the key, so only the very same query finds an entry,
/// and allocates nothing. Only what follows from the bytes alone is kept: the loop asks
/// afresh, on every query, what changes while it runs (whether a servant serves the function),
/// and does not keep queries routed by a plugin's hook (the hook may route the same query
/// elsewhere next time), the broker's own functions, or refused queries.
struct CheckedQueryCache {
    /// What a query's check found.
    struct Entry {
        /// The query item's bytes.
        var key: [UInt8]
        /// The function it calls.
        var function: String
        /// Its routing string.
        var routing: String
    }

    /// Slots in the table: a power of two.
    static let slotCount = 1_024
    /// The longest query item kept, in bytes: a longer one costs more to compare and hash, and
    /// its parse is a smaller part of its cost.
    static let longestKey = 256

    private var slots: [Entry?] = Array(repeating: nil, count: slotCount)

    /// The entry of the query item at `range` of `bytes`, if that very query was kept.
    func entry(for bytes: Span<UInt8>, range: Range<Int>) -> Entry? {
        guard range.count <= Self.longestKey, let entry = slots[Self.slot(of: bytes, range: range)] else { return nil }
        guard entry.key.count == range.count else { return nil }
        var offset = range.lowerBound
        for byte in entry.key {
            guard bytes[offset] == byte else { return nil }
            offset += 1
        }
        return entry
    }

    /// Keeps what the check of the query item at `range` of `bytes` found (unless it is
    /// longer than ``longestKey``), in place of the query its slot held.
    mutating func keep(_ bytes: Span<UInt8>, range: Range<Int>, function: String, routing: String) {
        guard range.count <= Self.longestKey else { return }
        var key: [UInt8] = []
        key.reserveCapacity(range.count)
        for offset in range { key.append(bytes[offset]) }
        slots[Self.slot(of: bytes, range: range)] = Entry(key: key, function: function, routing: routing)
    }

    /// The slot of a key: FNV-1a over its bytes.
    private static func slot(of bytes: Span<UInt8>, range: Range<Int>) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for offset in range {
            hash = (hash ^ UInt64(bytes[offset])) &* 0x0000_0100_0000_01b3
        }
        return Int(truncatingIfNeeded: (hash ^ (hash >> 32))) & (slotCount - 1)
    }
}
