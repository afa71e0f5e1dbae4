// How the test suite shares a small machine: traits that bound how many tests of a kind run at
// once. Swift Testing starts every test together on a pool of one thread per core; a few
// CPU-bound tests can then hold every thread for seconds, and a test that waits on a clock
// (a deadline, a liveness window) sees its peer or its own task held back past it. A test that
// waits for a slot here waits asynchronously: it holds no thread while it waits.

public import Testing

/// A count of slots taken and given back by async tasks, waiters served in arrival order.
public actor AsyncSlots {
    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Slots for `count` holders at once.
    public init(_ count: Int) {
        precondition(count > 0, "a slot count must be positive")
        free = count
    }

    /// Takes a slot, waiting (without a thread) until one is free.
    public func take() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    /// How many wait for a slot.
    public var waiting: Int { waiters.count }

    /// Gives a slot back: to the longest waiter, if one waits.
    public func giveBack() {
        if waiters.isEmpty {
            free += 1
        } else {
            waiters.removeFirst().resume()
        }
    }

    /// Runs `body` holding a slot.
    public func holding<Result: Sendable>(
        _ body: @Sendable () async throws -> Result
    ) async rethrows -> Result {
        await take()
        do {
            let result = try await body()
            giveBack()
            return result
        } catch {
            giveBack()
            throw error
        }
    }
}

/// A trait that runs each test case it covers holding one of a shared set of slots. On a suite
/// it covers every test inside, each case apart.
public struct SlotTrait: TestTrait, SuiteTrait, TestScoping {
    /// The slots the covered tests share.
    public let slots: AsyncSlots

    /// A trait whose tests share `slots`.
    public init(slots: AsyncSlots) { self.slots = slots }

    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> SlotTrait? {
        testCase == nil ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await slots.holding(function)
    }
}

/// The slots of the CPU-bound tests (fuzzing, large values decoded in a debug build): one at a
/// time, so that one thread of a two-core machine stays free for the tests that wait on clocks.
let heavyComputationSlots = AsyncSlots(1)

/// The slots of the tests that start clusters of real processes: two at a time. Most of their
/// time is waiting (for heartbeats, deadlines, processes starting and stopping), not computing.
let processClusterSlots = AsyncSlots(2)

extension Trait where Self == SlotTrait {
    /// A CPU-bound test: it runs while no other such test does.
    public static var heavyComputation: SlotTrait { SlotTrait(slots: heavyComputationSlots) }

    /// A test that runs a cluster of real processes: at most two such tests run at once.
    public static var processCluster: SlotTrait { SlotTrait(slots: processClusterSlots) }
}
