// The broker's line of queries waiting for a servant, which also counts their bytes
// (`--queue-bytes`).

import MServeProtocol

/// Queries waiting for a servant, first in first out (``MServeProtocol/FIFOQueue``), with the
/// bytes of their messages counted as they come and go: the broker bounds the queue by bytes
/// as well as by count, so that a client sending large queries cannot make it hold gigabytes.
/// Each query's size is taken when it is queued, so a message changed meanwhile leaves the
/// count right.
struct QueryQueue {
    private var items = FIFOQueue<(query: HeldQuery, bytes: Int)>()
    /// The bytes of the queued queries' messages.
    private(set) var bytes = 0

    /// How many queries wait.
    var count: Int { items.count }
    /// Whether none waits.
    var isEmpty: Bool { items.isEmpty }
    /// How many of them were put back in front (``prepend(_:)``) and are still there.
    var prependedCount: Int { items.prependedCount }

    /// The query `offset` places behind the first.
    subscript(offset offset: Int) -> HeldQuery { items[offset: offset].query }

    /// Queues `query` last.
    mutating func append(_ query: HeldQuery) {
        let size = query.message.count
        bytes += size
        items.append((query, size))
    }

    /// Puts `query` back in front of the others.
    mutating func prepend(_ query: HeldQuery) {
        let size = query.message.count
        bytes += size
        items.prepend((query, size))
    }

    /// Removes and returns the query `offset` places behind the first.
    @discardableResult
    mutating func remove(atOffset offset: Int) -> HeldQuery {
        let removed = items.remove(atOffset: offset)
        bytes -= removed.bytes
        return removed.query
    }

    /// Removes the queries `shouldRemove` picks and returns them, front first
    /// (``MServeProtocol/FIFOQueue/remove(where:)``).
    @discardableResult
    mutating func remove(where shouldRemove: (HeldQuery) throws -> Bool) rethrows -> [HeldQuery] {
        let removed = try items.remove { try shouldRemove($0.query) }
        for item in removed { bytes -= item.bytes }
        return removed.map(\.query)
    }

    /// Removes and returns every query, front first.
    mutating func removeAll() -> [HeldQuery] {
        bytes = 0
        return items.removeAll().map(\.query)
    }
}
