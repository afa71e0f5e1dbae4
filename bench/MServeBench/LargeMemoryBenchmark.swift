import Foundation
import MServeClient
import POSIXSockets
import QData

#if canImport(Glibc)
import Glibc
#endif

/// `mserve-bench memory --large`: rounds of large queries echoed through the broker, over
/// ZeroMQ and over the kdb+ door, while the resident memory of the broker and its servants
/// is sampled from /proc/PID/status; then small queries, then idle. The targets: the broker's
/// peak at most its baseline plus twice the bytes in flight, and, after the idle time, at
/// most its baseline plus 64 MB (the same for each servant).
struct LargeMemoryRun {
    var rounds: Int
    var longs: Int
    var stringBytes: Int
    var idleSeconds: Double
    var csv: String?
    /// `mserve servant` (the demo API through the servant plugin ABI) instead of the bench's
    /// own echo servants.
    var shippedServants = false
    /// The run's settings, on every row of the CSV (``BenchCSV``).
    var csvSettings: [BenchCSV.Setting] = []

    /// One sample: seconds since the start, the phase, RSS in kB of the broker and each servant.
    struct Sample {
        var seconds: Double
        var phase: String
        var broker: Int
        var servants: [Int]
    }

    /// The idle target: RSS after idle within this much of the baseline.
    static let idleAllowanceKilobytes = 64 * 1024

    func run() async throws {
        let servants =
            shippedServants
            ? try BrokerRun.startShippedServants(count: 2)
            : try BrokerRun.startServants(workload: .echo, count: 2, threads: 1, cache: 10)
        defer { servants.forEach { $0.stop() } }
        let kdbPort = LoopbackPort.free()
        let broker = try BrokerRun.startBroker(
            algorithm: "match", servants: servants.map(\.endpoint), extra: ["--kdb-port", "127.0.0.1:\(kdbPort)"])
        defer { broker.stop() }
        try await BrokerRun.waitUntilReady(endpoint: broker.endpoint)
        // Both servants have served once, so their baselines include a warm start.
        var clientConfiguration = ClientConfiguration()
        clientConfiguration.deadline = .seconds(120)
        let client = try QueryClient(endpoint: broker.endpoint, configuration: clientConfiguration)
        defer { client.close() }
        for _ in 0..<8 { _ = try await client.send("echo 1") }
        try await Task.sleep(for: .milliseconds(500))

        let longQuery = QValue.list([.atom(.symbol("echo")), .vector(.long((0..<Int64(longs)).map { $0 }))])
        let stringQuery = QValue.list([
            .atom(.symbol("echo")), .vector(.char([UInt8](repeating: UInt8(ascii: "m"), count: stringBytes))),
        ])
        let inFlightBytes = QIPC.encode(longQuery).count + QIPC.encode(stringQuery).count
        let baseline = Self.rss(broker, servants)
        print(
            "mserve-bench memory --large (\(shippedServants ? "mserve servant" : "mserve-bench serve") servants): \(rounds) rounds, each echoing \(longs) longs and a \(stringBytes)-byte string at once (\(format(Double(inFlightBytes) / 1e6, 1)) MB in flight), through ZeroMQ, then one after the other through the kdb+ door; then 200 small queries and \(format(idleSeconds, 0)) s idle"
        )
        print("baseline RSS: broker \(baseline.broker) kB, servants \(baseline.servants.map { "\($0) kB" }.joined(separator: ", "))")

        let started = monotonicNanoseconds()
        let phase = Locked("start")
        let samples = Locked<[Sample]>([])
        let sampling = Locked(true)
        let sampler = Thread {
            while sampling.value {
                let now = Self.rss(broker, servants)
                let seconds = Double(monotonicNanoseconds() - started) / 1e9
                samples.withLock { $0.append(Sample(seconds: seconds, phase: phase.value, broker: now.broker, servants: now.servants)) }
                usleep(100_000)
            }
        }
        sampler.start()

        let door = try KdbClientConnection(host: "127.0.0.1", port: kdbPort, timeoutSeconds: 120)
        var nextID: Int64 = 0
        for round in 1...rounds {
            phase.withLock { $0 = "zmq" }
            async let long = client.send(query: longQuery)
            async let string = client.send(query: stringQuery)
            let (longReply, stringReply) = try await (long, string)
            guard case .vector(.long(let echoed), _) = longReply.result, echoed.count == longs,
                case .vector(.char(let text), _) = stringReply.result, text.count == stringBytes
            else { throw BenchError(.output, "round \(round): the ZeroMQ echo did not come back whole") }

            phase.withLock { $0 = "door" }
            // One at a time: a kdb+ client that does not read while it sends would have both
            // replies buffered at the door, over its 64 MiB --kdb-reply-buffer.
            for query in [longQuery, stringQuery] {
                nextID += 1
                try door.send(QIPC.encode(.list([.atom(.long(nextID)), query]), messageType: .async))
                guard case .list(let items, _) = try QIPC.decode(try door.receiveMessage()).value, items.count >= 2,
                    case .vector = items[1]
                else { throw BenchError(.output, "round \(round): the kdb+ door's echo did not come back whole") }
            }
            // A round is shown only when every process was still there to be measured: a
            // benchmark being stopped has already stopped the broker and the servants.
            let now = Self.rss(broker, servants)
            guard !BenchChildren.isInterrupted, broker.isRunning, servants.allSatisfy(\.isRunning) else {
                throw BenchError(.process, "round \(round): the broker or a servant exited before it could be measured")
            }
            print("round \(round): broker \(now.broker) kB, servants \(now.servants.map { "\($0) kB" }.joined(separator: ", "))")
            BenchChildren.flushOutput()
        }
        phase.withLock { $0 = "small" }
        for _ in 0..<200 { _ = try await client.send("echo 1") }
        let busyEnded = monotonicNanoseconds()
        phase.withLock { $0 = "idle" }
        try await Task.sleep(for: .seconds(idleSeconds))
        sampling.withLock { $0 = false }
        while !sampler.isFinished { try await Task.sleep(for: .milliseconds(20)) }

        let collected = samples.value
        let idle = Self.rss(broker, servants)
        let brokerPeak = max(collected.map(\.broker).max() ?? 0, broker.peakResidentKilobytes ?? 0)
        let allowance = Self.idleAllowanceKilobytes
        let inFlightKilobytes = inFlightBytes / 1024
        // When the broker first came within the idle allowance after the last query.
        let idleSince = Double(busyEnded - started) / 1e9
        let settled = collected.first { $0.seconds >= idleSince && $0.broker <= baseline.broker + allowance }
            .map { format($0.seconds - idleSince, 1) + " s" } ?? "not within the idle time"
        print("")
        print("process    baseline kB    peak kB   peak - baseline per MB in flight   after idle kB   targets")
        func line(_ name: String, _ base: Int, _ peak: Int, _ after: Int) {
            let perMB = Double(peak - base) / Double(inFlightKilobytes)
            let peakMet = peak <= base + 2 * inFlightKilobytes
            let idleMet = after <= base + allowance
            print(
                "\(name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(rightAligned("\(base)", 11)) \(rightAligned("\(peak)", 10)) \(rightAligned(format(perMB, 2), 36)) \(rightAligned("\(after)", 15))   peak \(peakMet ? "met" : "MISSED"), idle \(idleMet ? "met" : "MISSED")"
            )
        }
        line("broker", baseline.broker, brokerPeak, idle.broker)
        for (index, servant) in servants.enumerated() {
            let peak = max(collected.map { $0.servants[index] }.max() ?? 0, servant.peakResidentKilobytes ?? 0)
            line("servant \(index + 1)", baseline.servants[index], peak, idle.servants[index])
        }
        print(
            "targets: peak ≤ baseline + 2 × \(format(Double(inFlightBytes) / 1e6, 1)) MB in flight; after idle ≤ baseline + 64 MB. Broker back within 64 MB of its baseline: \(settled) after the last query"
        )
        if let csv {
            var file = BenchCSV(
                columns: ["seconds", "phase", "broker_kb"] + servants.indices.map { "servant\($0 + 1)_kb" },
                settings: csvSettings)
            for sample in collected {
                file.append([format(sample.seconds, 2), sample.phase, "\(sample.broker)"] + sample.servants.map(String.init))
            }
            try file.write(to: csv)
            let setup = "\(format(Double(QIPC.encode(longQuery).count) / 1e6, 0)) MB + \(format(Double(QIPC.encode(stringQuery).count) / 1e6, 0)) MB at once"
            print("CSV written to \(csv) (plot, from the package root: \(Self.plotCommand(csv: csv, setup: setup)))")
        }
    }

    /// The PNG the printed plot command writes: beside the CSV, its name with `.png` for `.csv`.
    static func plotFile(forCSV csv: String) -> String {
        (csv.hasSuffix(".csv") && csv.count > 4 ? String(csv.dropLast(4)) : csv) + ".png"
    }

    /// The gnuplot command, run from the package root, that plots `csv` into
    /// ``plotFile(forCSV:)``: never into img/, whose PNG is the committed run's (given no
    /// `plotfile`, img/bench-memory-large.gp draws a `csv` beside it too).
    static func plotCommand(csv: String, setup: String) -> String {
        "gnuplot -e \"csv='\(csv)'\" -e \"setup='\(setup)'\" -e \"plotfile='\(plotFile(forCSV: csv))'\" img/bench-memory-large.gp"
    }

    /// The resident kilobytes of the broker and each servant now.
    static func rss(_ broker: BenchProcess, _ servants: [BenchProcess]) -> (broker: Int, servants: [Int]) {
        (broker.residentKilobytes ?? 0, servants.map { $0.residentKilobytes ?? 0 })
    }
}
