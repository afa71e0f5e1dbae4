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

    // The options of each kind of run are optional: one given for the other kind of run is
    // refused (`dependencies`), not ignored. The values they stand for when not given: `Default`.

    @Option(name: .customLong("queries"), parsing: .unconditional, help: ArgumentHelp("Without --large: queries to send (default \(Default.queries)).", valueName: "queries"))
    var queriesGiven: Int?

    @Option(name: .customLong("every"), parsing: .unconditional, help: ArgumentHelp("Without --large: queries between RSS samples (default \(Default.every)).", valueName: "every"))
    var everyGiven: Int?

    @Option(name: .customLong("algorithm"), parsing: .unconditional, help: ArgumentHelp("Without --large: the dispatch algorithm (default \(Default.algorithm)).", valueName: "algorithm"))
    var algorithmGiven: String?

    @Option(name: .customLong("clients"), parsing: .unconditional, help: ArgumentHelp("Without --large: client connections (default \(Default.clients)).", valueName: "clients"))
    var clientsGiven: Int?

    @Option(name: .customLong("in-flight"), parsing: .unconditional, help: ArgumentHelp("Without --large: queries in flight per client (default \(Default.inFlight)).", valueName: "in-flight"))
    var inFlightGiven: Int?

    @Option(parsing: .unconditional, help: "Without --large: queries the broker may keep at each servant (default: 1, mserve's rule); above 1 they travel in batches.")
    var capacity: Int?

    @Option(parsing: .unconditional, help: "File to write the samples to as CSV (none: no file).")
    var csv: String?

    @Flag(help: "Rounds of large messages through ZeroMQ and the kdb+ door; RSS of the broker and servants over time, peak and after idle.")
    var large = false

    @Option(name: .customLong("rounds"), parsing: .unconditional, help: ArgumentHelp("With --large: rounds, each echoing a long vector and a string at once, through each door (default \(Default.rounds)).", valueName: "rounds"))
    var roundsGiven: Int?

    @Option(name: .customLong("longs"), parsing: .unconditional, help: ArgumentHelp("With --large: longs in each round's vector (default \(Default.longs)).", valueName: "longs"))
    var longsGiven: Int?

    @Option(name: .customLong("string-bytes"), parsing: .unconditional, help: ArgumentHelp("With --large: bytes in each round's string (default \(Default.stringBytes)).", valueName: "string-bytes"))
    var stringBytesGiven: Int?

    @Option(name: .customLong("idle"), parsing: .unconditional, help: ArgumentHelp("With --large: seconds idle after the rounds before the last sample (default \(format(Default.idle, 0))).", valueName: "idle"))
    var idleGiven: Double?

    @Option(
        name: .customLong("servants"),
        parsing: .unconditional,
        help: ArgumentHelp(
            "With --large: the servants, bench (mserve-bench serve: echo as a Swift function) or shipped (mserve servant, the demo API through the servant plugin ABI); default \(Default.servants).",
            valueName: "kind"))
    var servantsGiven: String?

    /// What each option stands for when it is not given.
    enum Default {
        static let queries = 1_000_000
        static let every = 100_000
        static let algorithm = "match"
        static let clients = 4
        static let inFlight = 16
        static let rounds = 12
        static let longs = 5_000_000
        static let stringBytes = 10_000_000
        static let idle = 12.0
        static let servants = "bench"
    }

    var queries: Int { queriesGiven ?? Default.queries }
    var every: Int { everyGiven ?? Default.every }
    var algorithm: String { algorithmGiven ?? Default.algorithm }
    var clients: Int { clientsGiven ?? Default.clients }
    var inFlight: Int { inFlightGiven ?? Default.inFlight }
    var rounds: Int { roundsGiven ?? Default.rounds }
    var longs: Int { longsGiven ?? Default.longs }
    var stringBytes: Int { stringBytesGiven ?? Default.stringBytes }
    var idle: Double { idleGiven ?? Default.idle }
    var servants: String { servantsGiven ?? Default.servants }

    /// The options of the run of many small queries have no meaning with `--large`, and those
    /// of the large rounds none without it.
    var dependencies: [BenchChecks.OptionDependency] {
        let smallRun = "is for the run of small queries (--large runs its own)"
        return [
            .onlyWithout("--queries", given: queriesGiven != nil, smallRun, other: "--large", otherGiven: large),
            .onlyWithout("--every", given: everyGiven != nil, smallRun, other: "--large", otherGiven: large),
            .onlyWithout("--algorithm", given: algorithmGiven != nil, smallRun, other: "--large", otherGiven: large),
            .onlyWithout("--clients", given: clientsGiven != nil, smallRun, other: "--large", otherGiven: large),
            .onlyWithout("--in-flight", given: inFlightGiven != nil, smallRun, other: "--large", otherGiven: large),
            .onlyWithout("--capacity", given: capacity != nil, smallRun, other: "--large", otherGiven: large),
            .onlyWith("--rounds", given: roundsGiven != nil, "says how many rounds --large runs", other: "--large", otherGiven: large),
            .onlyWith("--longs", given: longsGiven != nil, "says how many longs each --large round echoes", other: "--large", otherGiven: large),
            .onlyWith("--string-bytes", given: stringBytesGiven != nil, "says how long a string each --large round echoes", other: "--large", otherGiven: large),
            .onlyWith("--idle", given: idleGiven != nil, "says how long --large waits after its rounds", other: "--large", otherGiven: large),
            .onlyWith("--servants", given: servantsGiven != nil, "says which servants --large echoes through", other: "--large", otherGiven: large),
        ]
    }

    func validate() throws {
        try BenchChecks.checkDependencies(dependencies)
        try BenchChecks.checkRange(queries, 1...100_000_000, option: "--queries")
        try BenchChecks.checkRange(every, 1...100_000_000, option: "--every")
        try BenchChecks.checkClientLoad(clients: clients, inFlight: inFlight)
        if let capacity { try BenchChecks.checkRange(capacity, 1...BenchChecks.Limit.capacity, option: "--capacity") }
        guard ["bench", "shipped"].contains(servants) else { throw ValidationError("--servants must be bench or shipped, got '\(servants)'") }
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
