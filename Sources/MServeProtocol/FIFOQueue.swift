/// A first-in first-out queue with amortised O(1) push, pop and push-to-front.
///
/// Its methods are public and inlinable so that callers in other modules get a version
/// specialised for their element type: an unspecialised generic call looks the element's type
/// metadata up at run time on every push and pop (in the broker's loop, 5 % of its time).
/// `@inlinable package` is not enough: Swift 6.3 does not give other modules a `package`
/// declaration's body, so every call stays an unspecialised one.
public struct FIFOQueue<Element> {
    @usableFromInline var storage: [Element?] = []
    @usableFromInline var head = 0
    @usableFromInline var front: [Element] = []  // items pushed back to the front, last = first out

    /// Creates an empty queue.
    @inlinable public init() {}

    /// Number of queued elements.
    @inlinable public var count: Int { storage.count - head + front.count }
    /// True when nothing is queued.
    @inlinable public var isEmpty: Bool { count == 0 }

    /// Adds an element at the back.
    @inlinable public mutating func append(_ element: Element) { storage.append(element) }

    /// Puts an element back at the front (it leaves next).
    @inlinable public mutating func prepend(_ element: Element) { front.append(element) }

    /// How many of the first elements were put back with ``prepend(_:)``: they may be in any
    /// order, while the ones behind them are in the order they were appended.
    @inlinable public var prependedCount: Int { front.count }

    /// The element that leaves next.
    @inlinable public var first: Element? {
        if let last = front.last { return last }
        return head < storage.count ? storage[head] : nil
    }

    /// Removes and returns the element that leaves next.
    @discardableResult
    @inlinable public mutating func removeFirst() -> Element? {
        if let element = front.popLast() { return element }
        guard head < storage.count else { return nil }
        let element = storage[head]
        storage[head] = nil
        advanceHead()
        return element
    }

    /// Moves past the (emptied) slot at `head`, dropping the consumed prefix now and then.
    @inlinable mutating func advanceHead() {
        head += 1
        if head > 1024 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }

    /// The element `offset` places behind the first (0 is ``first``). `offset` must be less
    /// than ``count``.
    @inlinable public subscript(offset offset: Int) -> Element {
        precondition(offset >= 0 && offset < count, "FIFOQueue offset \(offset) out of 0..<\(count)")
        if offset < front.count { return front[front.count - 1 - offset] }
        return storage[head + offset - front.count]!
    }

    /// Removes and returns the element `offset` places behind the first, keeping the order of
    /// the others. Costs O(`offset`): meant for looking a little way ahead of the front.
    @discardableResult
    @inlinable public mutating func remove(atOffset offset: Int) -> Element {
        precondition(offset >= 0 && offset < count, "FIFOQueue offset \(offset) out of 0..<\(count)")
        if offset < front.count { return front.remove(at: front.count - 1 - offset) }
        let position = head + offset - front.count
        let element = storage[position]!
        // Shift the elements before it one place back, towards the removed one.
        var index = position
        while index > head {
            storage[index] = storage[index - 1]
            index -= 1
        }
        storage[head] = nil
        advanceHead()
        return element
    }

    /// Removes the elements `shouldRemove` picks and returns them, front first; the others
    /// keep their order, and those put back with ``prepend(_:)`` stay in front of the rest
    /// (``prependedCount`` counts the ones left). `shouldRemove` is called once for each
    /// element, front first. Costs O(``count``).
    @discardableResult
    @inlinable public mutating func remove(where shouldRemove: (Element) throws -> Bool) rethrows -> [Element] {
        var removed: [Element] = []
        var keptFront: [Element] = []
        for element in front.reversed() {
            if try shouldRemove(element) { removed.append(element) } else { keptFront.append(element) }
        }
        var keptBack: [Element?] = []
        keptBack.reserveCapacity(storage.count - head)
        for index in head..<storage.count {
            let element = storage[index]!
            if try shouldRemove(element) { removed.append(element) } else { keptBack.append(element) }
        }
        front = keptFront.reversed()
        storage = keptBack
        head = 0
        return removed
    }

    /// Removes and returns every element, front first.
    @inlinable public mutating func removeAll() -> [Element] {
        var all: [Element] = []
        while let element = removeFirst() { all.append(element) }
        return all
    }
}
