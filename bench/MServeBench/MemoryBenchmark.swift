import ArgumentParser
import Foundation
import MServeClient

/// `mserve-bench memory`: the broker's resident memory over many echo queries, sampled from
/// /proc/PID/status every 100,000 queries. Target: flat (no growth after the first sample).
/// With `--large`: rounds of large messages through ZeroMQ and the kdb+ door instead
/// (``LargeMemoryRun``): peak and after-idle RSS of the broker and its servants.
struct MemorySuite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory", abstract: "Broker memory (RSS) over many queries.")

    @Option(parsing: .unconditional, help: "Queries to send.")
    var queries: Int = 1_000_000

    @Option(parsing: .unconditional, help: "Queries between RSS samples.")
    var every: Int = 100_000

    @Option(parsing: .unconditional, help: "Dispatch algorithm.")
    var algorithm: String = "match"

    @Option(parsing: .unconditional, help: "Client connections.")
    var clients: Int = 4

    @Option(parsing: .unconditional, help: "Queries in flight per client.")
    var inFlight: Int = 16

    @Option(parsing: .unconditional, help: "Queries the broker may keep at each servant (default: 1, mserve's rule); above 1 they travel in batches.")
    var capacity: Int?

    @Option(parsing: .unconditional, help: "File to write the samples to as CSV (none: no file).")
    var csv: String?

    @Flag(help: "Rounds of large messages through ZeroMQ and the kdb+ door; RSS of the broker and servants over time, peak and after idle.")
    var large = false

    @Option(parsing: .unconditional, help: "With --large: rounds, each echoing a long vector and a string at once, through each door.")
    var rounds: Int = 12

    @Option(parsing: .unconditional, help: "With --large: longs in each round's vector.")
    var longs: Int = 5_000_000

    @Option(parsing: .unconditional, help: "With --large: bytes in each round's string.")
    var stringBytes: Int = 10_000_000

    @Option(parsing: .unconditional, help: "With --large: seconds idle after the rounds before the last sample.")
    var idle: Double = 12

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "With --large: the servants, bench (mserve-bench serve: echo as a Swift function) or shipped (mserve servant, the demo API through the servant plugin ABI).",
            valueName: "kind"))
    var servants: String = "bench"

    func validate() throws {
        try BenchChecks.checkRange(queries, 1...100_000_000, option: "--queries")
        try BenchChecks.checkRange(every, 1...100_000_000, option: "--every")
        try BenchChecks.checkClientLoad(clients: clients, inFlight: inFlight)
        if let capacity { try BenchChecks.checkRange(capacity, 1...BenchChecks.Limit.capacity, option: "--capacity") }
        guard ["bench", "shipped"].contains(servants) else { throw ValidationError("--servants must be bench or shipped, got '\(servants)'") }
        if servants != "bench", !large { throw ValidationError("--servants goes with --large") }
        try BenchChecks.checkRange(rounds, 1...BenchChecks.Limit.rounds, option: "--rounds")
        try BenchChecks.checkRange(longs, 1...BenchChecks.Limit.longs, option: "--longs")
        try BenchChecks.checkRange(stringBytes, 1...BenchChecks.Limit.stringBytes, option: "--string-bytes")
        try BenchChecks.checkSeconds(idle, option: "--idle", zeroAllowed: true)
        if !large { try BenchChecks.checkAlgorithms([algorithm], option: "--algorithm") }
        if let csv { try BenchChecks.checkOutputFile(csv) }
    }

    /// The run's settings, on every row of its CSV: with `--large`, those of the large rounds;
    /// else those of the many small queries (`total_queries`: `queries` is a sample's count).
    /// `capacity` is the one the servants used.
    var csvSettings: [BenchCSV.Setting] {
        large
            ? [
                .init("rounds", rounds), .init("longs", longs), .init("string_bytes", stringBytes),
                .init("idle_s", idle), .init("servants", servants),
            ]
            : [
                .init("total_queries", queries), .init("every", every), .init("algorithm", algorithm),
                .init("clients", clients), .init("in_flight", inFlight), .init("capacity", capacity ?? 1),
            ]
    }

    func run() async throws {
        if large {
            try await LargeMemoryRun(
                rounds: rounds, longs: longs, stringBytes: stringBytes, idleSeconds: idle, csv: csv,
                shippedServants: servants == "shipped", csvSettings: csvSettings
            ).run()
            return
        }
        let servants = try BrokerRun.startServants(
            workload: .echo, count: 2, threads: 1, cache: 10, capacity: capacity)
        defer { servants.forEach { $0.stop() } }
        let broker = try BrokerRun.startBroker(algorithm: algorithm, servants: servants.map(\.endpoint))
        defer { broker.stop() }
        try await BrokerRun.waitUntilReady(endpoint: broker.endpoint)
        let initial = broker.residentKilobytes ?? 0
        print(
            "mserve-bench memory: \(queries) echo queries, \(clients) clients × \(inFlight) in flight, capacity \(capacity ?? 1), algorithm \(algorithm)"
        )
        print("queries      RSS kB")
        print(String(format: "%7d %11d", 0, initial))
        let counters = Locked((issued: 0, done: 0, errors: 0))
        let samples = Locked<[(Int, Int)]>([(0, initial)])
        let started = monotonicNanoseconds()
        var configuration = ClientConfiguration()
        configuration.deadline = .seconds(10)
        let connections = try (0..<clients).map { _ in try QueryClient(endpoint: broker.endpoint, configuration: configuration) }
        defer { connections.forEach { $0.close() } }
        let total = queries
        let every = every
        await withTaskGroup(of: Void.self) { group in
            for client in connections {
                for _ in 0..<inFlight {
                    group.addTask {
                        while counters.withLock({ state -> Bool in
                            guard state.issued < total else { return false }
                            state.issued += 1
                            return true
                        }) {
                            let failed: Bool
                            do {
                                _ = try await client.send("echo 1")
                                failed = false
                            } catch {
                                failed = true
                            }
                            let done = counters.withLock { state -> Int in
                                state.done += 1
                                if failed { state.errors += 1 }
                                return state.done
                            }
                            if done % every == 0 {
                                let rss = broker.residentKilobytes ?? 0
                                samples.withLock { $0.append((done, rss)) }
                                print(String(format: "%7d %11d", done, rss))
                                BenchChildren.flushOutput()
                            }
                        }
                    }
                }
            }
        }
        let seconds = Double(monotonicNanoseconds() - started) / 1e9
        let collected = samples.value
        let errors = counters.value.errors
        // Growth after the first sample: the first 100k queries fill pools and caches once.
        let baseline = collected.count > 1 ? collected[1].1 : initial
        let baselineWhen =
            collected.count > 1
            ? "after \(collected[1].0) queries" : "at start (fewer than two samples: --queries below 2 × --every)"
        let last = collected.last?.1 ?? initial
        let growth = last - baseline
        // Growth needs two samples after the first 100k-style warm-up sample: with fewer there
        // is nothing to compare, and no verdict to give.
        let verdict =
            collected.count >= 3
            ? Measure.verdict(growth * 100 <= baseline) : "not judged (fewer than two samples: give --queries at least 2 × --every)"
        print(
            "\(queries) queries in \(format(seconds, 1)) s (\(format(Double(queries) / seconds, 0)) q/s), \(errors) errors")
        print(
            "RSS: \(initial) kB at start, \(baseline) kB \(baselineWhen), \(last) kB at the end: growth \(growth) kB (\(format(Double(growth) / Double(max(baseline, 1)) * 100, 1))%) — target flat (growth ≤ 1 % of that sample): \(verdict)"
        )
        if let csv {
            var file = BenchCSV(columns: ["queries", "rss_kb"], settings: csvSettings)
            for (done, rss) in collected { file.append(["\(done)", "\(rss)"]) }
            try file.write(to: csv)
            print("CSV written to \(csv)")
        }
    }
}
