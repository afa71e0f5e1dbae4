// The queries sent to servants and not answered yet, by tag: what the loop inserts at every
// dispatch and removes at every answer.

/// The in-flight queries by tag, in an open-addressing table whose slot is found from the tag
/// itself.
///
/// A `Dictionary<UInt64, …>` hashed each tag with SipHash (seeded per process, to resist
/// chosen keys) at every insert, look-up and removal: three or more hashes a query. The tags
/// are the broker's own (`nextTag`, counting up from 1), never a peer's, so a multiplicative
/// hash spreads them at the cost of one multiplication, and linear probing finds consecutive
/// tags in neighbouring slots. At most half the slots are used; a removal shifts the entries
/// behind it back, so no tombstone is left to lengthen later probes.
struct InFlightTable: Sequence {
    /// The tag in each slot; 0 (never a tag) for an empty one.
    private var tags: [UInt64]
    /// The query in each slot (nil in an empty one).
    private var queries: [InFlightQuery?]
    /// The occupied slots.
    private(set) var count = 0

    /// An empty table.
    init() {
        tags = Array(repeating: 0, count: Self.minimumCapacity)
        queries = Array(repeating: nil, count: Self.minimumCapacity)
    }

    /// The table's smallest size in slots (a power of two).
    static let minimumCapacity = 64

    /// Whether no query is in flight.
    var isEmpty: Bool { count == 0 }

    /// The in-flight queries, in no particular order.
    var values: [InFlightQuery] { compactMap { $0.flight } }

    /// The query of `tag`, if in flight; setting nil removes it.
    subscript(tag: UInt64) -> InFlightQuery? {
        get {
            guard let slot = slot(of: tag) else { return nil }
            return queries[slot]
        }
        set {
            if let newValue { insert(newValue, for: tag) } else { removeValue(forKey: tag) }
        }
    }

    /// Removes the query of `tag` and returns it; nil when none was in flight.
    @discardableResult
    mutating func removeValue(forKey tag: UInt64) -> InFlightQuery? {
        guard let slot = slot(of: tag) else { return nil }
        let removed = queries[slot]
        remove(at: slot)
        return removed
    }

    /// Removes the query of `tag` and returns it if it is in flight at `servantID`; leaves it
    /// and returns nil otherwise (a reply from a servant the query is no longer at). One look-up.
    mutating func removeValue(forKey tag: UInt64, ifAt servantID: UInt64) -> InFlightQuery? {
        guard let slot = slot(of: tag), let flight = queries[slot], flight.servantID == servantID else { return nil }
        remove(at: slot)
        return flight
    }

    /// Iterates over the tags and queries in flight, in no particular order.
    func makeIterator() -> Iterator {
        Iterator(table: self)
    }

    /// The iterator over ``InFlightTable``'s entries (of the table as it was when made).
    struct Iterator: IteratorProtocol {
        fileprivate let table: InFlightTable
        fileprivate var slot = 0

        mutating func next() -> (tag: UInt64, flight: InFlightQuery)? {
            while slot < table.tags.count {
                let slot = self.slot
                self.slot += 1
                if let flight = table.queries[slot] { return (table.tags[slot], flight) }
            }
            return nil
        }
    }

    // MARK: The table

    private var mask: Int { tags.count - 1 }

    /// The slot a probe for `tag` starts at: Fibonacci hashing, the top bits of the product.
    private func home(of tag: UInt64) -> Int {
        Int(truncatingIfNeeded: (tag &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - tags.count.trailingZeroBitCount))
    }

    private func slot(of tag: UInt64) -> Int? {
        var slot = home(of: tag)
        while true {
            let found = tags[slot]
            if found == tag { return slot }
            if found == 0 { return nil }
            slot = (slot + 1) & mask
        }
    }

    private mutating func insert(_ flight: InFlightQuery, for tag: UInt64) {
        precondition(tag != 0, "0 is not a query's tag")
        if let slot = slot(of: tag) {
            queries[slot] = flight
            return
        }
        if (count + 1) * 2 > tags.count { resize(to: tags.count * 2) }
        var slot = home(of: tag)
        while tags[slot] != 0 { slot = (slot + 1) & mask }
        tags[slot] = tag
        queries[slot] = flight
        count += 1
    }

    /// Empties `slot`, then moves back each entry of the run behind it that its probe would
    /// otherwise no longer reach (backward-shift deletion).
    private mutating func remove(at slot: Int) {
        var hole = slot
        var next = (slot + 1) & mask
        while tags[next] != 0 {
            let home = home(of: tags[next])
            // The entry at `next` may fill the hole if its home is not in (hole, next], cyclically.
            let distanceToHole = (hole - home) & mask
            let distanceToNext = (next - home) & mask
            if distanceToHole <= distanceToNext {
                tags[hole] = tags[next]
                queries[hole] = queries[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        tags[hole] = 0
        queries[hole] = nil
        count -= 1
        // Shrunk when a burst has passed, so that iterating it stays in step with what is in flight.
        if tags.count > Self.minimumCapacity, count * 8 < tags.count { resize(to: tags.count / 2) }
    }

    private mutating func resize(to capacity: Int) {
        let oldTags = tags
        let oldQueries = queries
        tags = Array(repeating: 0, count: capacity)
        queries = Array(repeating: nil, count: capacity)
        for (slot, tag) in oldTags.enumerated() where tag != 0 {
            var target = home(of: tag)
            while tags[target] != 0 { target = (target + 1) & mask }
            tags[target] = tag
            queries[target] = oldQueries[slot]
        }
    }
}
