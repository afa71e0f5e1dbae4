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
}
