import ArgumentParser
import Foundation
import MServeClient
import MServeProtocol
import POSIXSockets
import QData

/// One row of the broker benchmark's table and CSV.
struct BenchRow: Sendable {
    /// `broker` (the ZeroMQ door), `kdb` (the kdb+ IPC door), `baseline` or `other`.
    var kind: String
    /// The workload (`echo`, `warm`, `skew`, `large`).
    var workload: String
    /// The dispatch algorithm, or the baseline's name.
    var name: String
    /// What was measured.
    var result: LoadResult

    /// The columns of `broker.csv` (the run's settings follow them: ``BenchCSV``).
    static let csvColumns = [
        "kind", "workload", "name", "queries", "errors", "seconds", "throughput_qps", "mean_us", "p50_us", "p90_us",
        "p99_us", "p999_us", "queued_mean_us", "execution_mean_us", "front_cpu_us_per_query",
        "servants_cpu_us_per_query",
    ]

    /// The row's fields, one per column of ``csvColumns``.
    var csvFields: [String] {
        let r = result
        return [
            kind, workload, name, "\(r.completed)", "\(r.errors)", format(r.seconds, 2), format(r.throughput, 0),
            format(r.meanMicroseconds, 1), format(r.percentileMicroseconds(50), 1),
            format(r.percentileMicroseconds(90), 1), format(r.percentileMicroseconds(99), 1),
            format(r.percentileMicroseconds(99.9), 1), format(r.meanQueuedMicroseconds, 1),
            format(r.meanExecutionMicroseconds, 1),
            r.cpu.front.map { format($0, 1) } ?? "", r.cpu.perQuery("servants").map { format($0, 1) } ?? "",
        ]
    }

    /// The row in the table, its name in a column `nameWidth` wide (``nameColumnWidth(_:)``).
    func tableLine(nameWidth: Int = BenchRow.minimumNameWidth) -> String {
        let r = result
        let cell = rightAligned
        return workload.padding(toLength: 7, withPad: " ", startingAt: 0)
            + name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
            + cell(format(r.throughput, 0), 9) + cell(format(r.meanMicroseconds, 0), 9)
            + cell(format(r.percentileMicroseconds(50), 0), 8) + cell(format(r.percentileMicroseconds(90), 0), 8)
            + cell(format(r.percentileMicroseconds(99), 0), 8) + cell(format(r.percentileMicroseconds(99.9), 0), 9)
            + cell(r.infoCount > 0 ? format(r.meanQueuedMicroseconds, 0) : "-", 9)
            + cell(r.infoCount > 0 ? format(r.meanExecutionMicroseconds, 0) : "-", 9)
            + cell("\(r.errors)", 7)
            + cell(r.cpu.front.map { format($0, 1) } ?? "-", 8)
            + cell(r.cpu.perQuery("servants").map { format($0, 1) } ?? "-", 8)
    }

    /// The narrowest name column: the shipped algorithms' rows fit in it.
    static let minimumNameWidth = 24

    /// The width of the name column for rows named `names`: the longest and a space, at least
    /// ``minimumNameWidth``, so that no name is cut (`route-by-function (kdb door)` is 28).
    static func nameColumnWidth(_ names: [String]) -> Int {
        max(minimumNameWidth, (names.map(\.count).max() ?? 0) + 1)
    }

    /// The table's header for a name column `nameWidth` wide, each column's title ending
    /// where its figures end.
    static func tableHeader(nameWidth: Int = minimumNameWidth) -> String {
        "workload name" + String(repeating: " ", count: nameWidth)
            + "q/s  mean µs  p50 µs  p90 µs  p99 µs p99.9 µs queue µs  exec µs errors  cpu µs  srv µs"
    }
}

/// Formats a number with a fixed count of decimals.
func format(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }

/// `text` right-aligned in a column `width` characters wide (longer text is kept whole).
func rightAligned(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}

/// `mserve-bench broker`: the real `mserve broker` with servants in separate processes,
/// per dispatch algorithm and workload, against a byte forwarder (zmq_proxy, which keeps any
/// number of queries at a servant), the direct path, the ZeroMQ guide's load-balancing broker
/// in C and the Majordomo broker of `majortomo`, with the CPU per query of the process in
/// front of the servants and of the servants.
struct BrokerSuite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Broker throughput and latency per dispatch algorithm and workload, with baselines.")

    @Option(parsing: .unconditional, help: "echo, warm, skew, large, or all.")
    var workload: String = "all"

    @Option(parsing: .unconditional, help: "Dispatch algorithms, comma-separated.")
    var algorithms: String = "orig,even,match,chbl,least-loaded"

    @Option(parsing: .unconditional, help: "Servant processes.")
    var servants: Int = 2

    @Option(parsing: .unconditional, help: "Worker threads per servant.")
    var threads: Int = 1

    @Option(parsing: .unconditional, help: "Queries the broker may keep at each servant (default: its thread count, mserve's rule).")
    var capacity: Int?

    @Option(parsing: .unconditional, help: "Client connections.")
    var clients: Int = 4

    @Option(parsing: .unconditional, help: "Queries in flight per client.")
    var inFlight: Int = 16

    @Option(parsing: .unconditional, help: "Seconds measured per run (after a 0.5 s warm-up).")
    var duration: Double = 5

    @Option(parsing: .unconditional, help: "Symbols each servant's warm cache keeps (1: the data of its last query, mserve's model).")
    var cache: Int = 1

    @Option(parsing: .unconditional, help: "K: distinct symbols the warm and skew workloads draw from (Zipf, s = 1.1).")
    var symbols: Int = Workload.defaultSymbolCount

    @Option(parsing: .unconditional, help: "Directory for the CSV files (none: no CSV).")
    var csv: String?

    @Flag(help: "Render the PNG plots in img/ with gnuplot (needs --csv).")
    var plot = false

    @Option(name: .customLong("plot-dir"), parsing: .unconditional, help: ArgumentHelp("Where --plot writes its PNGs (default img, the plots bench/README.md shows).", valueName: "dir"))
    var plotDirectory: String?

    @Option(parsing: .unconditional, help: "The broker's door the clients use: zmq, kdb (kdb+ IPC), or both (with --workload all, kdb on echo only).")
    var door: String = "both"

    @Flag(help: "Skip the baselines (zmq_proxy, direct, lbbroker, majortomo).")
    var noBaselines = false

    func validate() throws {
        try BenchChecks.checkDependencies(
            BenchChecks.plotDependencies(plot: plot, plotDirectory: plotDirectory, csv: csv, drawsFrom: "the files --csv writes"))
        guard workload == "all" || Workload(rawValue: workload) != nil else {
            throw ValidationError("--workload must be echo, warm, skew, large or all, got '\(workload)'")
        }
        guard ["zmq", "kdb", "both"].contains(door) else { throw ValidationError("--door must be zmq, kdb or both, got '\(door)'") }
        try BenchChecks.checkRange(servants, 1...BenchChecks.Limit.servantProcesses, option: "--servants")
        try BenchChecks.checkRange(threads, 1...BenchChecks.Limit.threads, option: "--threads")
        try BenchChecks.checkRange(1...BenchChecks.Limit.symbols, ("--symbols", symbols), ("--cache", cache))
        try BenchChecks.checkClientLoad(clients: clients, inFlight: inFlight)
        try BenchChecks.checkDuration(duration)
        if let capacity { try BenchChecks.checkRange(capacity, 1...BenchChecks.Limit.capacity, option: "--capacity") }
        try BenchOutput.checkPlot(plot, directory: plotDirectory, scripts: BenchOutput.brokerPlots)
        try BenchChecks.checkAlgorithms(
            algorithms.split(separator: ",", omittingEmptySubsequences: false).map(String.init), option: "--algorithms")
        if let csv { try BenchChecks.checkOutputDirectory(csv) }
    }

    /// The run's settings, on every row of its CSV files. `capacity` is the one the broker
    /// used: its servants' threads when not given.
    var csvSettings: [BenchCSV.Setting] {
        [
            .init("servants", servants), .init("threads", threads), .init("capacity", capacity ?? threads),
            .init("clients", clients), .init("in_flight", inFlight), .init("duration_s", duration),
            .init("cache", cache), .init("symbols", symbols), .init("door", door),
        ]
    }

    /// The run's set-up as the plots' titles show it: servants, the broker's capacity (queries
    /// it keeps at each servant: at 1, mserve's rule, the echo rows stand far below zmq_proxy,
    /// which keeps any number), and the load.
    var plotSetup: String {
        "\(servants) servants, capacity \(capacity ?? threads), \(clients) clients × \(inFlight) in flight"
    }

    func run() async throws {
        let workloads = workload == "all" ? Workload.allCases : [Workload(rawValue: workload)!]
        let algorithmNames = algorithms.split(separator: ",").map(String.init)
        print(
            "mserve-bench broker: \(servants) servant(s) × \(threads) thread(s), \(clients) client(s) × \(inFlight) in flight, \(format(duration, 1)) s per run"
        )
        let nameWidth = BenchRow.nameColumnWidth(
            [Baselines.Path.forwarder.rawValue, "majortomo"]
                + algorithmNames.flatMap { algorithm in [BrokerDoor.zmq, .kdb].map { $0.rowName(algorithm: algorithm) } })
        print(BenchRow.tableHeader(nameWidth: nameWidth))
        var rows: [BenchRow] = []
        var failures: [String] = []
        func report(_ row: BenchRow) {
            rows.append(row)
            print(row.tableLine(nameWidth: nameWidth))
            BenchChildren.flushOutput()
        }
        if !noBaselines && workloads.contains(.echo) {
            for path in [Baselines.Path.forwarder, .direct, .lbbroker] {
                let result = try Baselines.run(
                    path: path, servants: servants, threads: threads, clients: clients, inFlight: inFlight,
                    duration: duration)
                report(BenchRow(kind: "baseline", workload: "echo", name: path.rawValue, result: result))
            }
            switch MajortomoBaseline.run(clients: clients, inFlight: inFlight, workers: servants, duration: duration) {
            case .success(let result):
                report(BenchRow(kind: "other", workload: "echo", name: "majortomo", result: result))
            case .failure(let reason):
                print("echo   majortomo     skipped: \(reason)")
            }
        }
        for workload in workloads {
            let doors = BrokerDoor.doors(option: door, workload: workload, everyWorkload: self.workload == "all")
            for algorithm in algorithmNames {
                for door in doors {
                    do {
                        let result = try await BrokerRun.measure(
                            workload: workload, algorithm: algorithm, servants: servants, threads: threads,
                            cache: cache, symbols: symbols, clients: clients, inFlight: inFlight, duration: duration,
                            capacity: capacity, door: door)
                        report(
                            BenchRow(
                                kind: door.rowKind, workload: workload.rawValue, name: door.rowName(algorithm: algorithm),
                                result: result))
                    } catch {
                        print("\(workload.rawValue) \(door.rowName(algorithm: algorithm)) failed: \(error)")
                        failures.append("\(workload.rawValue) \(door.rowName(algorithm: algorithm))")
                    }
                }
            }
        }
        let targets = Targets(rows: rows, servants: servants, capacity: capacity ?? threads)
        print("")
        for line in targets.lines { print(line) }
        if let csv {
            try BenchOutput.write(rows: rows, targets: targets, directory: csv, settings: csvSettings)
            print("CSV written to \(csv)/")
            if plot {
                BenchOutput.plot(
                    directory: csv, scripts: BenchOutput.brokerPlots, into: plotDirectory ?? BenchOutput.defaultPlotDirectory,
                    setup: plotSetup)
            }
        }
        // The table and files keep the runs that worked; the status says that some did not.
        if !failures.isEmpty {
            throw BenchError(.process, "\(failures.count) run(s) failed: \(failures.joined(separator: ", ")) (see above)")
        }
    }
}

/// One broker run: fresh servants (so caches start cold), a broker with one algorithm, load.
enum BrokerRun {
    /// Starts `servants` servant processes and returns them with their endpoints.
    static func startServants(
        workload: Workload, count: Int, threads: Int, cache: Int, capacity: Int? = nil
    ) throws -> [BenchProcess] {
        try (0..<count).map { index in
            try BenchProcess(
                role: "servant \(index + 1)", executable: BenchProcess.benchExecutable,
                arguments: [
                    "serve", "--workload", workload.rawValue, "--threads", "\(threads)", "--cache", "\(cache)",
                ] + (capacity.map { ["--capacity", "\($0)"] } ?? []))
        }
    }

    /// Starts `count` servants as users run them: `mserve servant`, serving the demo API
    /// through the servant plugin ABI.
    static func startShippedServants(count: Int) throws -> [BenchProcess] {
        try (0..<count).map { index in
            try BenchProcess(
                role: "servant \(index + 1)", executable: BenchProcess.mserveExecutable,
                arguments: ["servant", "--log-level", "error"])
        }
    }

    /// Starts `count` C servants (``CProgram/msvecho``), each announcing `capacity` (1 by
    /// default, mserve's rule) and batches of up to 32 queries.
    static func startCServants(count: Int, capacity: Int? = nil) throws -> [BenchProcess] {
        try (0..<count).map { index in
            let incarnation = UInt64.random(in: 1...UInt64(Int64.max))
            let ready = QIPC.encode(
                InfoDictionary.dictionary([
                    ("incarnation", .atom(.long(Int64(incarnation)))),
                    ("capacity", .atom(.long(Int64(capacity ?? 1)))),
                    ("batch", .atom(.long(32))),
                    ("pid", .atom(.long(0))),
                    ("service", .atom(.symbol("msvecho"))),
                    ("functions", .vector(.symbol([]))),
                ]))
            let hex = ready.map { ($0 < 0x10 ? "0" : "") + String($0, radix: 16) }.joined()
            return try CProgram.msvecho.start(role: "servant \(index + 1)", arguments: ["\(incarnation)", hex])
        }
    }

    /// Starts `mserve broker` with `algorithm` over `servants`.
    static func startBroker(algorithm: String, servants: [String], extra: [String] = []) throws -> BenchProcess {
        try BenchProcess(
            role: "broker", executable: BenchProcess.mserveExecutable,
            arguments: ["broker", "--clients", "tcp://127.0.0.1:0", "--algorithm", algorithm, "--log-level", "error"]
                + servants.flatMap { ["--servant", $0] } + extra)
    }

    /// Sends `echo 1` until the broker answers (its servants are connected), for up to 10 s.
    static func waitUntilReady(endpoint: String) async throws {
        var configuration = ClientConfiguration()
        configuration.deadline = .seconds(1)
        let client = try QueryClient(endpoint: endpoint, configuration: configuration)
        defer { client.close() }
        let giveUp = monotonicNanoseconds() + 10_000_000_000
        while monotonicNanoseconds() < giveUp {
            if (try? await client.send("echo 1")) != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError(.setup, "the broker at \(endpoint) did not answer within 10 s")
    }

    static func measure(
        workload: Workload, algorithm: String, servants: Int, threads: Int, cache: Int, symbols: Int,
        clients: Int, inFlight: Int, duration: Double, capacity: Int? = nil, door: BrokerDoor = .zmq,
        brokerArguments: [String] = [], cServants: Bool = false
    ) async throws -> LoadResult {
        let servantProcesses =
            cServants
            ? try startCServants(count: servants, capacity: capacity)
            : try startServants(workload: workload, count: servants, threads: threads, cache: cache, capacity: capacity)
        defer { servantProcesses.forEach { $0.stop() } }
        let kdbPort = door == .kdb ? LoopbackPort.free() : nil
        let broker = try startBroker(
            algorithm: algorithm, servants: servantProcesses.map(\.endpoint),
            extra: (kdbPort.map { ["--kdb-port", "127.0.0.1:\($0)"] } ?? []) + brokerArguments)
        defer { broker.stop() }
        try await waitUntilReady(endpoint: broker.endpoint)
        let probe = CPUProbe(["broker": [broker.processIdentifier], "servants": servantProcesses.map(\.processIdentifier)])
        if let kdbPort {
            return try KdbLoad.run(
                port: kdbPort, workload: workload, clients: clients, inFlight: inFlight, duration: duration,
                symbols: symbols, probe: probe)
        }
        return try DealerLoad.run(
            endpoints: [broker.endpoint], workload: workload, clients: clients, inFlight: inFlight, duration: duration,
            symbols: symbols, probe: probe)
    }
}

/// The issue's targets, computed from one run's rows.
///
/// The lines against `zmq_proxy` and the direct path take the broker's best algorithm on echo
/// (the ZeroMQ-door row of the highest throughput) and say so, with the broker's capacity
/// (queries it keeps at each servant) against the proxy's, which keeps any number there.
struct Targets: Sendable {
    /// Human-readable verdicts.
    var lines: [String] = []
    /// Name, value, target, met — for the CSV.
    var entries: [(String, Double, String, Bool)] = []

    /// `servants` and `capacity` are the run's (`capacity`: the one the broker used).
    init(rows: [BenchRow], servants: Int, capacity: Int) {
        func row(_ workload: String, _ name: String) -> LoadResult? {
            rows.first { $0.workload == workload && $0.name == name }?.result
        }
        if let proxy = row("echo", "zmq_proxy"), proxy.throughput > 0 {
            let best = rows.filter { $0.kind == "broker" && $0.workload == "echo" }.max {
                $0.result.throughput < $1.result.throughput
            }
            if let best {
                let broker = "best algorithm, \(best.name); broker capacity \(capacity)"
                let ratio = best.result.throughput / proxy.throughput
                // Issue 7's throughput target was replaced by CPU per query (echo-ratio).
                add("echo throughput / zmq_proxy (\(broker), proxy unlimited; \(servants) servants)", ratio, "report", true)
                if let direct = row("echo", "direct") {
                    let added = best.result.percentileMicroseconds(50) - direct.percentileMicroseconds(50)
                    add("echo p50 added over direct, µs (\(broker))", added, "report", true)
                    let ratio = best.result.percentileMicroseconds(50) / max(direct.percentileMicroseconds(50), 1)
                    add("echo p50 / direct p50 (\(broker))", ratio, "report", true)
                }
                if let proxyCPU = proxy.cpu.perQuery("proxy"), let cpu = best.result.cpu.perQuery("broker") {
                    add(
                        "echo broker CPU per query / zmq_proxy's (\(broker), proxy unlimited), ratio", cpu / proxyCPU,
                        "report", true)
                }
            }
            if let majortomo = row("echo", "majortomo") {
                add("majortomo throughput / zmq_proxy", majortomo.throughput / proxy.throughput, "report", true)
            }
        }
        if let lbbroker = row("echo", "lbbroker"), let peerCPU = lbbroker.cpu.perQuery("lbbroker"),
            let orig = rows.first(where: { $0.kind == "broker" && $0.workload == "echo" && $0.name == "orig" })?.result,
            let cpu = orig.cpu.perQuery("broker"), peerCPU > 0
        {
            add(
                "echo broker CPU per query / C lbbroker's (orig; broker capacity \(capacity), lbbroker one query per worker)",
                cpu / peerCPU, "≤ 1.20", cpu / peerCPU <= 1.2)
        }
        if let match = row("warm", "match"), let orig = row("warm", "orig"), orig.meanMicroseconds > 0 {
            let ratio = match.meanMicroseconds / orig.meanMicroseconds
            add("warm mean latency match / orig", ratio, "≤ 0.50", ratio <= 0.5)
        }
        addDoorComparisons(rows: rows)
    }

    mutating func add(_ name: String, _ value: Double, _ target: String, _ met: Bool) {
        entries.append((name, value, target, met))
        let verdict = target == "report" ? "" : (met ? "  met" : "  NOT met")
        lines.append("\(name): \(format(value, 2))  (target \(target))\(verdict)")
    }
}
