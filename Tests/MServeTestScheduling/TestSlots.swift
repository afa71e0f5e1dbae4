// How the test suite shares a small machine: traits that bound how many tests of a kind run at
// once, within the suite's cap on tests at once (``TestParallelism``). Swift Testing runs its
// tests on a pool of one thread per core; a few CPU-bound tests can then hold every thread for
// seconds, and a test that waits on a clock (a deadline, a liveness window) sees its peer or
// its own task held back past it. A test that
// waits for a slot here waits asynchronously: it holds no thread while it waits, and a
// CPU-bound test runs on a thread of its own, not on the pool.

import Foundation
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

/// A trait that runs each test case it covers holding one of a shared set of slots, on
/// `executor` when one is given. On a suite it covers every test inside, each case apart.
public struct SlotTrait: TestTrait, SuiteTrait, TestScoping {
    /// The slots the covered tests share.
    public let slots: AsyncSlots
    /// Where the covered tests run: nil, the concurrency pool.
    public let executor: (any TaskExecutor)?

    /// A trait whose tests share `slots` and run on `executor` (nil: the pool).
    public init(slots: AsyncSlots, executor: (any TaskExecutor)? = nil) {
        self.slots = slots
        self.executor = executor
    }

    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> SlotTrait? {
        testCase == nil ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        guard let executor else { return try await slots.holding(function) }
        try await slots.holding {
            // A task made to prefer the executor starts on it. Preferring it from here, the
            // test would go on running where it is (a pool thread) until it next hopped.
            // The task is awaited before this returns, and carries the test's task-local
            // values (which attribute its issues to it) as any child of it does.
            try await withoutActuallyEscaping(function) { function in
                let test = Task(executorPreference: executor) { try await function() }
                try await withTaskCancellationHandler {
                    try await test.value
                } onCancel: {
                    test.cancel()
                }
            }
        }
    }
}

/// The slots of the CPU-bound tests (fuzzing, large values decoded in a debug build): one at a
/// time, on a thread of their own (``heavyComputationExecutor``), so that the pool's threads
/// stay free for the tests that wait on clocks. On the pool, one such test held one of a
/// two-core machine's two threads for seconds, and two tests at once both.
let heavyComputationSlots = AsyncSlots(1)

/// The thread the CPU-bound tests run on.
let heavyComputationExecutor = DedicatedThreadExecutor(name: "heavy-tests")

/// The slots of the tests that start clusters of real processes: two at a time. Most of their
/// time is waiting (for heartbeats, deadlines, processes starting and stopping), not computing.
let processClusterSlots = AsyncSlots(2)

/// The threads the process-cluster tests run on, one per slot: such a test stopping its
/// processes in a `defer`, where nothing can be awaited, blocks its thread until they exit
/// (seconds, on a loaded machine), which on the pool held back every other test.
let processClusterExecutor = DedicatedThreadExecutor(name: "process-tests", threads: 2)

extension Trait where Self == SlotTrait {
    /// A CPU-bound test: it runs while no other such test does.
    public static var heavyComputation: SlotTrait {
        SlotTrait(slots: heavyComputationSlots, executor: heavyComputationExecutor)
    }

    /// A test that runs a cluster of real processes: at most two such tests run at once.
    public static var processCluster: SlotTrait {
        SlotTrait(slots: processClusterSlots, executor: processClusterExecutor)
    }
}

/// A task executor of threads of its own, outside the concurrency pool: a CPU-bound test run on
/// it (``SlotTrait/heavyComputation``) computes for seconds, and a process-cluster test
/// (``SlotTrait/processCluster``) blocks while its processes stop, without holding one of the
/// pool's threads (one per core), which every other test running meanwhile needs to go on.
public final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    // `jobs` and `threadIDs` are read and written only with `condition` locked.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var threadIDs: [pthread_t] = []

    /// Starts the executor's `threads` threads, named `name` (at most 15 bytes, as Linux keeps
    /// them); they live as long as the process.
    public init(name: String, threads: Int = 1) {
        precondition(threads > 0, "an executor needs a thread")
        for _ in 0..<threads {
            Thread { [unowned self] in
                // Named from the thread itself: a thread named before it starts keeps, on
                // Linux, the name of the thread that started it.
                Thread.current.name = name
                self.condition.lock()
                self.threadIDs.append(pthread_self())
                self.condition.unlock()
                self.runJobs()
            }.start()
        }
    }

    /// Whether the calling code runs on one of the executor's threads.
    public var runsTheCurrentThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        return threadIDs.contains { pthread_equal($0, pthread_self()) != 0 }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func runJobs() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
