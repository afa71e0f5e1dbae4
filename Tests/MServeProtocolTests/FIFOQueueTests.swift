import MServeProtocol
import Testing

struct FIFOQueueTests {
    @Test func elementsLeaveInArrivalOrder() {
        var queue = FIFOQueue<Int>()
        for value in 0..<5_000 { queue.append(value) }
        var out: [Int] = []
        while let value = queue.removeFirst() { out.append(value) }
        #expect(out == Array(0..<5_000))
        #expect(queue.isEmpty)
    }

    @Test func prependedElementsLeaveFirstMostRecentFirst() {
        var queue = FIFOQueue<Int>()
        queue.append(1)
        queue.append(2)
        queue.prepend(0)
        queue.prepend(-1)
        #expect(queue.count == 4)
        #expect(queue.first == -1)
        #expect(queue.removeAll() == [-1, 0, 1, 2])
    }

    @Test func prependedCountCountsThePrependedElementsStillAtTheFront() {
        var queue = FIFOQueue<Int>()
        queue.append(1)
        queue.prepend(0)
        queue.prepend(-1)
        #expect(queue.prependedCount == 2)
        queue.remove(atOffset: 1)
        #expect(queue.prependedCount == 1)
        queue.removeFirst()
        #expect(queue.prependedCount == 0)
        #expect(queue.first == 1)
    }

    @Test func aPrependedElementIsRemovedByItsOwnOffset() {
        var queue = FIFOQueue<Int>()
        queue.append(10)
        for value in [2, 1, 0] { queue.prepend(value) }  // they leave 0, 1, 2, then 10
        #expect((0..<queue.count).map { queue[offset: $0] } == [0, 1, 2, 10])
        #expect(queue.remove(atOffset: 2) == 2)
        #expect(queue.remove(atOffset: 0) == 0)
        #expect(queue.removeAll() == [1, 10])
    }

    @Test func interleavedUseKeepsOrder() {
        var queue = FIFOQueue<Int>()
        var expected: [Int] = []
        var out: [Int] = []
        for value in 0..<3_000 {
            queue.append(value)
            expected.append(value)
            if value % 3 == 0, let first = queue.removeFirst() { out.append(first) }
        }
        out += queue.removeAll()
        #expect(out == expected)
    }

    @Test func lookingAheadReadsAndRemovesInPlaceKeepingTheRestInOrder() {
        var queue = FIFOQueue<Int>()
        for value in 1...5 { queue.append(value) }
        queue.prepend(0)
        #expect((0..<queue.count).map { queue[offset: $0] } == [0, 1, 2, 3, 4, 5])
        #expect(queue.remove(atOffset: 3) == 3)
        #expect(queue.remove(atOffset: 0) == 0)
        queue.prepend(-1)
        #expect(queue.remove(atOffset: 1) == 1)
        #expect(queue.count == 4)
        #expect(queue.removeAll() == [-1, 2, 4, 5])
    }

    @Test func removingWhereKeepsTheOthersInOrderWithThePrependedInFront() {
        var queue = FIFOQueue<Int>()
        for value in 1...3_000 { queue.append(value) }
        for _ in 0..<1_500 { queue.removeFirst() }  // the consumed slots behind the head
        for value in [-3, -2, -1] { queue.prepend(value) }  // they leave -1, -2, -3
        var looked: [Int] = []
        let removed = queue.remove { value in
            looked.append(value)
            return value == -2 || value % 2 == 0
        }
        #expect(looked == [-1, -2, -3] + Array(1_501...3_000))
        #expect(removed == [-2] + Array(stride(from: 1_502, through: 3_000, by: 2)))
        #expect(queue.prependedCount == 2)
        #expect(queue.count == 2 + 750)
        queue.append(3_001)
        queue.prepend(-4)
        #expect(queue.removeAll() == [-4, -1, -3] + Array(stride(from: 1_501, through: 2_999, by: 2)) + [3_001])
    }

    @Test func removingWhereNothingMatchesChangesNothing() {
        var queue = FIFOQueue<Int>()
        for value in 1...5 { queue.append(value) }
        queue.prepend(0)
        #expect(queue.remove { $0 > 10 }.isEmpty)
        #expect(queue.prependedCount == 1)
        #expect(queue.removeAll() == [0, 1, 2, 3, 4, 5])
    }

    @Test func removingAheadOverAndOverKeepsTheOthersInOrder() {
        var queue = FIFOQueue<Int>()
        var expected: [Int] = []
        for value in 0..<10_000 {
            queue.append(value)
            expected.append(value)
            if queue.count > 3 {
                let removed = queue.remove(atOffset: 2)
                expected.remove(at: expected.firstIndex(of: removed)!)
            }
        }
        #expect(queue.count == 3)
        #expect(queue.removeAll() == expected)
    }
}
