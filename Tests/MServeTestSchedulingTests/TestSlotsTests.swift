import Foundation
import MServeTestScheduling
import Synchronization
import Testing

/// `AsyncSlots` and `SlotTrait`: no more holders than slots, waiters served in arrival order.
struct TestSlotsTests {
    @Test func aWaiterGetsTheSlotGivenBackAndWaitersGoInArrivalOrder() async {
        let slots = AsyncSlots(1)
        await slots.take()
        let order = Recorder()
        let first = Task {
            await slots.take()
            order.append(1)
            await slots.giveBack()
        }
        // The first waiter is queued before the second starts waiting.
        while await slots.waiting < 1 { await Task.yield() }
        let second = Task {
            await slots.take()
            order.append(2)
            await slots.giveBack()
        }
        while await slots.waiting < 2 { await Task.yield() }
        #expect(order.values.isEmpty, "nobody runs while the only slot is held")
        await slots.giveBack()
        await first.value
        await second.value
        #expect(order.values == [1, 2])
    }

    /// A CPU-bound test runs on the thread kept for such tests, not on the concurrency pool,
    /// and stays there across its suspensions: the pool's threads stay free for the rest.
    @Test(.heavyComputation) func aCPUBoundTestRunsOnAThreadOfItsOwn() async throws {
        let executor = try #require(SlotTrait.heavyComputation.executor as? DedicatedThreadExecutor)
        #expect(executor.runsTheCurrentThread, "on \(Self.threadName() ?? "a thread without a name")")
        try await Task.sleep(for: .milliseconds(1))
        #expect(executor.runsTheCurrentThread, "on \(Self.threadName() ?? "a thread without a name")")
    }

    /// A process-cluster test runs on the threads kept for such tests, not on the pool: a stop
    /// it waits for in a `defer` blocks none of the pool's threads.
    @Test(.processCluster) func aProcessClusterTestRunsOnThreadsOfItsOwn() async throws {
        let executor = try #require(SlotTrait.processCluster.executor as? DedicatedThreadExecutor)
        #expect(executor.runsTheCurrentThread, "on \(Self.threadName() ?? "a thread without a name")")
        try await Task.sleep(for: .milliseconds(1))
        #expect(executor.runsTheCurrentThread, "on \(Self.threadName() ?? "a thread without a name")")
    }

    /// The name of the thread this runs on.
    private static func threadName() -> String? { Thread.current.name }

    static let counted = CountedSlots()

    /// Four tests that may start together, under a trait of two slots: none sees more than
    /// two running.
    @Suite(SlotTrait(slots: TestSlotsTests.counted.slots))
    struct TwoAtATime {
        @Test(arguments: 1...4)
        func noMoreThanTwoRunAtOnce(_ test: Int) async throws {
            let running = TestSlotsTests.counted.enter()
            #expect(running <= 2, "\(running) tests ran at once under two slots")
            try await Task.sleep(for: .milliseconds(100))
            TestSlotsTests.counted.leave()
        }
    }
}

/// Two slots, and a count of the tests inside them.
final class CountedSlots: Sendable {
    let slots = AsyncSlots(2)
    private let running = Mutex(0)

    /// Counts a test in; returns how many run now.
    func enter() -> Int { running.withLock { $0 += 1; return $0 } }

    /// Counts a test out.
    func leave() { running.withLock { $0 -= 1 } }
}

/// Values appended from several tasks.
final class Recorder: Sendable {
    private let recorded = Mutex<[Int]>([])

    /// What was appended, in order.
    var values: [Int] { recorded.withLock { $0 } }

    /// Appends `value`.
    func append(_ value: Int) { recorded.withLock { $0.append(value) } }
}
