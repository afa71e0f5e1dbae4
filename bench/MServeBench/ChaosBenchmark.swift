import ArgumentParser
import Foundation
import Histogram
import MServeProtocol
import QData
import ZeroMQ

/// `mserve-bench chaos`: echo queries with unique ids through the broker while servants are
/// killed with SIGKILL and restarted on the same port at random. Counts every reply per id
/// (with raw DEALER clients, so a duplicate cannot hide behind a client library) and
/// reports sent, replies, errors, duplicates, missing and p99. Targets: 0 missing, 0 duplicates.
struct ChaosSuite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos", abstract: "Lost or duplicated replies while servants crash and restart.")

    @Option(parsing: .unconditional, help: "Queries to send.")
    var queries: Int = 100_000

    @Option(parsing: .unconditional, help: "Client connections.")
    var clients: Int = 4

    @Option(parsing: .unconditional, help: "Queries in flight per client.")
    var inFlight: Int = 16

    @Option(parsing: .unconditional, help: "Servant processes.")
    var servants: Int = 3

    @Option(parsing: .unconditional, help: "Dispatch algorithm.")
    var algorithm: String = "match"

    @Option(parsing: .unconditional, help: "Queries the broker may keep at each servant (default: 1, mserve's rule); above 1 they travel in batches, and a crash loses a batch in flight.")
    var capacity: Int?

    @Option(parsing: .unconditional, help: "Seconds between crashes, at most (uniform from a fifth of it).")
    var crashEvery: Double = 1.0

    @Option(parsing: .unconditional, help: "Seed for the crash schedule.")
    var seed: UInt64 = 7

    @Option(parsing: .unconditional, help: "File to write the summary to as CSV (none: no file).")
    var csv: String?

    func validate() throws {
        try BenchChecks.checkRange(queries, 1...10_000_000, option: "--queries")
        guard servants >= 2 else {
            throw ValidationError("--servants must be ≥ 2 (one is crashed while the others serve), got \(servants)")
        }
        try BenchChecks.checkRange(servants, 2...BenchChecks.Limit.servantProcesses, option: "--servants")
        try BenchChecks.checkClientLoad(clients: clients, inFlight: inFlight)
        try BenchChecks.checkSeconds(crashEvery, option: "--crash-every", zeroAllowed: false)
        if let capacity { try BenchChecks.checkRange(capacity, 1...BenchChecks.Limit.capacity, option: "--capacity") }
        try BenchChecks.checkAlgorithms([algorithm], option: "--algorithm")
        if let csv { try BenchChecks.checkOutputFile(csv) }
    }

    /// The run's settings, on the row of its CSV. `capacity` is the one the servants used.
    var csvSettings: [BenchCSV.Setting] {
        [
            .init("queries", queries), .init("clients", clients), .init("in_flight", inFlight),
            .init("servants", servants), .init("capacity", capacity ?? 1), .init("algorithm", algorithm),
            .init("crash_every_s", crashEvery), .init("seed", seed),
        ]
    }

    func run() async throws {
        var processes = try BrokerRun.startServants(
            workload: .echo, count: servants, threads: 1, cache: 10, capacity: capacity)
        let endpoints = processes.map(\.endpoint)
        let broker = try BrokerRun.startBroker(
            algorithm: algorithm, servants: endpoints, extra: ["--deadline", "10", "--redispatch", "3"])
        defer { broker.stop() }
        try await BrokerRun.waitUntilReady(endpoint: broker.endpoint)
        print(
            "mserve-bench chaos: \(queries) queries, \(clients) clients × \(inFlight) in flight, \(servants) servants (capacity \(capacity ?? 1)), algorithm \(algorithm)"
        )

        let stop = Locked(false)
        let load = Thread.detachedResult {
            try ChaosLoad.run(
                endpoint: broker.endpoint, queries: queries, clients: clients, inFlight: inFlight)
        }
        var random = BenchRandom(seed: seed)
        var crashes = 0
        var restarts = 0
        var failedRestarts = 0
        while !load.isFinished {
            // Until the next crash, or the end of the load: the run ends with its queries.
            let wait = crashEvery * (0.2 + 0.8 * random.unit())
            let crashAt = Date().addingTimeInterval(wait)
            while Date() < crashAt, !load.isFinished { try await Task.sleep(for: .milliseconds(20)) }
            if load.isFinished || stop.value { break }
            let victim = random.below(processes.count)
            processes[victim].crash()
            crashes += 1
            try await Task.sleep(for: .milliseconds(50 + random.below(400)))
            do {
                processes[victim] = try BenchProcess(
                    role: "servant \(victim + 1)", executable: BenchProcess.benchExecutable,
                    arguments: ["serve", "--workload", "echo", "--threads", "1", "--bind", endpoints[victim]]
                        + (capacity.map { ["--capacity", "\($0)"] } ?? []))
                restarts += 1
            } catch {
                if BenchChildren.isInterrupted { break }
                failedRestarts += 1
                print("could not restart servant \(victim + 1) on \(endpoints[victim]): \(error)")
            }
        }
        let outcome = try load.wait()
        processes.forEach { $0.stop() }
        let missing = outcome.sent - outcome.uniqueReplies
        print("crashes \(crashes), restarts \(restarts), failed restarts \(failedRestarts)")
        print("sent       \(outcome.sent)")
        print("replies    \(outcome.replies)")
        print("errors     \(outcome.errors)   (q error replies, e.g. a query whose servant died)")
        print("duplicates \(outcome.duplicates)   target 0: \(Measure.verdict(outcome.duplicates == 0))")
        print("missing    \(missing)   target 0: \(Measure.verdict(missing == 0))")
        print("unknown    \(outcome.unknown)   (replies to ids never sent)")
        print("p99 \(format(outcome.latency.percentileMicroseconds(99), 0)) µs, p50 \(format(outcome.latency.percentileMicroseconds(50), 0)) µs, max \(format(Double(outcome.latency.latency.max) / 1000, 0)) µs")
        if !outcome.errorSamples.isEmpty {
            print("error texts: " + outcome.errorSamples.sorted().joined(separator: " | "))
        }
        if let csv {
            var file = BenchCSV(
                columns: [
                    "crashes", "restarts", "sent", "replies", "errors", "duplicates", "missing", "p50_us", "p99_us",
                ],
                settings: csvSettings)
            file.append(
                [
                    "\(crashes)", "\(restarts)", "\(outcome.sent)", "\(outcome.replies)", "\(outcome.errors)",
                    "\(outcome.duplicates)", "\(missing)", format(outcome.latency.percentileMicroseconds(50), 1),
                    format(outcome.latency.percentileMicroseconds(99), 1),
                ])
            try file.write(to: csv)
            print("CSV written to \(csv)")
        }
    }
}

/// A value computed on its own thread.
final class ThreadResult<Value: Sendable>: Sendable {
    private let slot = Locked<Result<Value, any Error>?>(nil)

    /// Whether the thread has finished.
    var isFinished: Bool { slot.value != nil }

    fileprivate func finish(_ result: Result<Value, any Error>) { slot.withLock { $0 = result } }

    /// Blocks until the thread finishes and returns its value.
    func wait() throws -> Value {
        while true {
            if let result = slot.value { return try result.get() }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
}

extension Thread {
    /// Runs `body` on a new thread.
    static func detachedResult<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) -> ThreadResult<Value> {
        let result = ThreadResult<Value>()
        let thread = Thread { result.finish(Result { try body() }) }
        thread.start()
        return result
    }
}

/// What the chaos clients saw.
struct ChaosOutcome: Sendable {
    var sent = 0
    var replies = 0
    var uniqueReplies = 0
    var errors = 0
    var duplicates = 0
    var unknown = 0
    var latency = LoadResult()
    var errorSamples: Set<String> = []
}

/// Raw DEALER clients sending `(id; "echo id")` with ids unique across clients.
enum ChaosLoad {
    static func run(endpoint: String, queries: Int, clients: Int, inFlight: Int) throws -> ChaosOutcome {
        let context = try ZMQContext(ioThreads: 1)
        defer { context.terminate() }
        let results = Locked<[Result<ChaosOutcome, any Error>]>([])
        for clientIndex in 0..<clients {
            let quota = queries / clients + (clientIndex < queries % clients ? 1 : 0)
            let thread = Thread {
                let outcome = Result { () throws -> ChaosOutcome in
                    let socket = try DealerLoad.clientSocket(context: context, receiveTimeoutMilliseconds: 1_000)
                    defer { socket.close() }
                    try socket.connect(endpoint)
                    var outcome = ChaosOutcome()
                    var sentAt: [Int64: UInt64] = [:]
                    var seen: Set<Int64> = []
                    var nextIndex = 0
                    func sendOne() throws {
                        let id = Int64(clientIndex) * 1_000_000_000 + Int64(nextIndex) + 1
                        nextIndex += 1
                        sentAt[id] = monotonicNanoseconds()
                        try socket.send(QIPC.encode(.list([.atom(.long(id)), .string("echo \(id)")]), messageType: .async))
                        outcome.sent += 1
                    }
                    for _ in 0..<min(inFlight, quota) { try sendOne() }
                    // Stop waiting 15 s after the last reply (the broker's deadline is 10 s).
                    var lastProgress = monotonicNanoseconds()
                    while seen.count < outcome.sent || nextIndex < quota {
                        guard let message = try socket.receive() else {
                            if monotonicNanoseconds() - lastProgress > 15_000_000_000 { break }
                            continue
                        }
                        var bytes = message.bytes
                        while try socket.hasMoreFrames { bytes = try socket.receive()?.bytes ?? bytes }
                        lastProgress = monotonicNanoseconds()
                        outcome.replies += 1
                        guard case .list(let items, _) = try QIPC.decode(bytes).value, items.count >= 2,
                            case .atom(.long(let id)) = items[0], let sent = sentAt[id]
                        else {
                            outcome.unknown += 1
                            continue
                        }
                        guard seen.insert(id).inserted else {
                            outcome.duplicates += 1
                            continue
                        }
                        outcome.latency.record(nanoseconds: lastProgress - sent)
                        if let text = ReplyAssembly.failure(result: items[1], info: items.count >= 3 ? items[2] : nil) {
                            outcome.errors += 1
                            if outcome.errorSamples.count < 5 { outcome.errorSamples.insert(text) }
                        }
                        if nextIndex < quota { try sendOne() }
                    }
                    outcome.uniqueReplies = seen.count
                    return outcome
                }
                results.withLock { $0.append(outcome) }
            }
            thread.start()
        }
        while results.value.count < clients { Thread.sleep(forTimeInterval: 0.01) }
        var total = ChaosOutcome()
        for result in results.value {
            let part = try result.get()
            total.sent += part.sent
            total.replies += part.replies
            total.uniqueReplies += part.uniqueReplies
            total.errors += part.errors
            total.duplicates += part.duplicates
            total.unknown += part.unknown
            total.latency.merge(part.latency)
            total.errorSamples.formUnion(part.errorSamples)
        }
        return total
    }
}
