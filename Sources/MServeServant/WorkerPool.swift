import Dispatch
import Foundation
import Logging
import MServeProtocol
import Synchronization

/// One query handed to a worker.
struct ServantJob: Sendable {
    var broker: [UInt8]
    /// The number of the broker session the query came in (``directSession`` for a direct
    /// query): the place it holds at the servant is that session's.
    var session: UInt64
    var tag: [UInt8]
    var message: [UInt8]
    /// For a direct query (no MSV1 framing), the frames between the peer's routing id and the
    /// message, echoed in front of the reply; nil for a broker's QUERY.
    var directEnvelope: [[UInt8]]? = nil
    /// The largest the message may be once decompressed: a compressed one announcing more is
    /// refused before it is decompressed.
    var maximumQuerySize: Int = .max
    /// The largest reply the peer takes (a broker's HELLO says it); a larger result is
    /// answered with an error.
    var maximumReplySize: Int = .max

    /// The session number of direct queries, which have no broker session.
    static let directSession: UInt64 = 0

    struct Completion: Sendable {
        var broker: [UInt8]
        var session: UInt64
        var tag: [UInt8]
        var reply: [UInt8]
        var executionNanoseconds: UInt64
        var directEnvelope: [[UInt8]]? = nil
    }
}

/// The worker threads and their job queue.
final class WorkerPool: Sendable {
    /// Queued jobs (nil: a worker's stop marker) and how many run: one lock, so that a job
    /// taken from the queue is counted as running in the same step and `busy` never misses it.
    private struct State {
        var jobs = FIFOQueue<ServantJob?>()
        var running = 0
    }
    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)
    private let threads: Int

    /// A job's `maximumQuerySize` bounds its compressed query once decompressed, as the socket
    /// bounds it on the wire.
    init(
        threads: Int, functions: FunctionRegistry, logger: Logger,
        done: @escaping @Sendable (_ completion: ServantJob.Completion, _ alone: Bool) -> Void
    ) {
        self.threads = threads
        let started = DispatchSemaphore(value: 0)
        for index in 0..<threads {
            let thread = Thread { [self] in
                started.signal()
                while true {
                    available.wait()
                    let next = state.withLock { state -> ServantJob?? in
                        // Nil: the queue is empty, its job taken back (takeQueued); a nil
                        // job: the stop marker.
                        guard let next = state.jobs.removeFirst() else { return nil }
                        if next != nil { state.running += 1 }
                        return .some(next)
                    }
                    guard let next else { continue }
                    guard var job = next else { return }
                    let start = QueryClock.monotonicNanoseconds()
                    // Taken out of the job and handed over: the registry lets it go as soon as
                    // it no longer needs it, and a plugin's arguments are made in its bytes.
                    let message = job.message
                    job.message = []
                    let reply = functions.reply(
                        to: consume message, maximumSize: job.maximumQuerySize, maximumReplySize: job.maximumReplySize,
                        logger: logger)
                    let elapsed = QueryClock.monotonicNanoseconds() &- start
                    // Alone: no other job runs or waits, so no other answer could share its REPLY.
                    let alone = state.withLock { $0.jobs.count == 0 && $0.running == 1 }
                    done(
                        .init(
                            broker: job.broker, session: job.session, tag: job.tag, reply: reply,
                            executionNanoseconds: elapsed, directEnvelope: job.directEnvelope),
                        alone)
                    // Only once its answer is posted: a loop that sees `busy == 0` finds every
                    // answer in its mailbox.
                    state.withLock { $0.running -= 1 }
                }
            }
            thread.name = "mserve-worker-\(index)"
            thread.start()
        }
        // A thread the system refuses (the user's process limit, ulimit -u, or a cgroup's
        // pids.max) never starts, and Foundation says nothing of it: the servant would take
        // `threads` queries at once and run fewer. Each worker checks in as it starts.
        var running = 0
        while running < threads, started.wait(timeout: .now() + Self.startWait) == .success { running += 1 }
        if running < threads {
            logger.warning(
                "started \(running) of \(threads) worker threads within 2 s each: the process may be at its thread limit (ulimit -u, or a cgroup's pids.max); the servant takes \(threads) queries at once but runs \(running) at a time",
                metadata: ["threads": "\(threads)", "started": "\(running)"])
        }
    }

    /// How long the pool waits for each of its workers to start before it says some did not.
    static let startWait = DispatchTimeInterval.seconds(2)

    func submit(_ job: ServantJob) {
        state.withLock { $0.jobs.append(job) }
        available.signal()
    }

    /// Jobs queued or running.
    var busy: Int { state.withLock { $0.jobs.count + $0.running } }

    /// Takes the jobs still queued, which will not run; the workers finish their current
    /// ones and go on waiting.
    func takeQueued() -> [ServantJob] {
        state.withLock { Self.takeJobs(from: &$0) }
    }

    /// Takes the queued jobs of `broker`'s sessions (not its direct queries), which will not
    /// run; the others keep their order.
    func takeQueued(ofBroker broker: [UInt8]) -> [ServantJob] {
        state.withLock { state in
            state.jobs.remove { job in
                guard let job else { return false }
                return job.session != ServantJob.directSession && job.broker == broker
            }.compactMap { $0 }
        }
    }

    /// Lets every worker finish its current job and exit; returns the jobs still queued,
    /// which will not run.
    func stop() -> [ServantJob] {
        let dropped = state.withLock { state -> [ServantJob] in
            let dropped = Self.takeJobs(from: &state)
            for _ in 0..<threads { state.jobs.append(nil) }
            return dropped
        }
        for _ in 0..<threads { available.signal() }
        return dropped
    }

    /// Takes the queued jobs out of `state`, leaving the workers' stop markers in place.
    private static func takeJobs(from state: inout State) -> [ServantJob] {
        var taken: [ServantJob] = []
        var markers = 0
        while let job = state.jobs.removeFirst() {
            if let job { taken.append(job) } else { markers += 1 }
        }
        for _ in 0..<markers { state.jobs.append(nil) }
        return taken
    }
}
