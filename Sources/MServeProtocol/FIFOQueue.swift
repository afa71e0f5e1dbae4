/// A first-in first-out queue with amortised O(1) push, pop and push-to-front.
public struct FIFOQueue<Element> {
    private var storage: [Element?] = []
    private var head = 0
    private var front: [Element] = []  // items pushed back to the front, last = first out

    /// Creates an empty queue.
    public init() {}

    /// Number of queued elements.
    public var count: Int { storage.count - head + front.count }
    /// True when nothing is queued.
    public var isEmpty: Bool { count == 0 }

    /// Adds an element at the back.
    public mutating func append(_ element: Element) { storage.append(element) }

    /// Puts an element back at the front (it leaves next).
    public mutating func prepend(_ element: Element) { front.append(element) }

    /// The element that leaves next.
    public var first: Element? {
        if let last = front.last { return last }
        return head < storage.count ? storage[head] : nil
    }

    /// Removes and returns the element that leaves next.
    @discardableResult
    public mutating func removeFirst() -> Element? {
        if let element = front.popLast() { return element }
        guard head < storage.count else { return nil }
        let element = storage[head]
        storage[head] = nil
        head += 1
        if head > 1024 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }

    /// Removes and returns every element, front first.
    public mutating func removeAll() -> [Element] {
        var all: [Element] = []
        while let element = removeFirst() { all.append(element) }
        return all
    }
}
