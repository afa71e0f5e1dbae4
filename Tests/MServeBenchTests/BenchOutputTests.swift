// BenchOutputTests: the lines mserve-bench prints say what they compare.

import ArgumentParser
import Foundation
import Testing

@testable import MServeBench

@Suite struct BenchOutputTests {
    /// A load result of `queries` answered in a second, with its p50 and the CPU seconds each
    /// process spent.
    static func result(queries: Int, p50: Double, cpu: [String: Double]) -> LoadResult {
        var result = LoadResult()
        result.completed = queries
        result.seconds = 1
        result.externalPercentiles = [50: p50]
        result.cpu.queries = queries
        result.cpu.seconds = cpu
        return result
    }

    /// The `broker` suite's lines against zmq_proxy and the direct path take the algorithm of
    /// the best echo throughput and say so, with the broker's capacity against the proxy's
    /// (which keeps any number of queries at a servant); the lbbroker's line says the
    /// broker's capacity too. Before, they named the algorithm alone, and a ratio of 10 read
    /// as the broker's cost.
    @Test func theBrokerTargetsSayWhatTheyCompare() {
        let rows = [
            BenchRow(kind: "baseline", workload: "echo", name: "zmq_proxy", result: Self.result(queries: 40_000, p50: 1_500, cpu: ["proxy": 0.264])),
            BenchRow(kind: "baseline", workload: "echo", name: "direct", result: Self.result(queries: 90_000, p50: 600, cpu: [:])),
            BenchRow(kind: "baseline", workload: "echo", name: "lbbroker", result: Self.result(queries: 8_000, p50: 7_000, cpu: ["lbbroker": 0.48])),
            BenchRow(kind: "broker", workload: "echo", name: "orig", result: Self.result(queries: 4_000, p50: 11_000, cpu: ["broker": 0.36])),
            BenchRow(kind: "broker", workload: "echo", name: "least-loaded", result: Self.result(queries: 8_000, p50: 7_800, cpu: ["broker": 0.4])),
        ]
        let targets = Targets(rows: rows, servants: 2, capacity: 1)
        #expect(
            targets.lines == [
                "echo throughput / zmq_proxy (best algorithm, least-loaded; broker capacity 1, proxy unlimited; 2 servants): 0.20  (target report)",
                "echo p50 added over direct, µs (best algorithm, least-loaded; broker capacity 1): 7200.00  (target report)",
                "echo p50 / direct p50 (best algorithm, least-loaded; broker capacity 1): 13.00  (target report)",
                "echo broker CPU per query / zmq_proxy's (best algorithm, least-loaded; broker capacity 1, proxy unlimited), ratio: 7.58  (target report)",
                "echo broker CPU per query / C lbbroker's (orig; broker capacity 1, lbbroker one query per worker): 1.50  (target ≤ 1.20)  NOT met",
            ])
        // targets.csv names each target as the line does.
        #expect(targets.entries.map(\.0) == targets.lines.map { String($0.prefix { $0 != ":" }) })
    }

    /// The plots' titles show the broker's capacity with the servants and the load: the one
    /// given, else the servants' threads (mserve's rule). Before, they showed the servants and
    /// the load alone, and the echo plot's title nothing of the run.
    @Test(arguments: [
        (["broker"], "2 servants, capacity 1, 4 clients × 16 in flight"),
        (["broker", "--servants", "3", "--threads", "2", "--clients", "5", "--in-flight", "7"], "3 servants, capacity 2, 5 clients × 7 in flight"),
        (["broker", "--capacity", "64"], "2 servants, capacity 64, 4 clients × 16 in flight"),
    ])
    func theBrokerPlotsShowTheCapacity(arguments: [String], setup: String) throws {
        let suite = try #require(try MServeBench.parseAsRoot(arguments) as? BrokerSuite)
        #expect(suite.plotSetup == setup)
    }
}

/// `mserve-bench dispatch`'s table keeps every algorithm's name whole, apart from the servant
/// count. Before, the first column was 16 characters whatever the names, so
/// `route-by-function` (a shipped plugin) was cut and ran into the count: `route-by-functio2`.
@Suite struct DispatchTableTests {
    @Test func aLongNameIsKeptWholeAndApart() throws {
        let width = DispatchSuite.nameColumnWidth(["(no ABI)", "orig", "route-by-function"])
        let header = DispatchSuite.tableHeader(nameWidth: width)
        let line = DispatchSuite.tableLine(algorithm: "route-by-function", servants: 2, nanoseconds: 461.2, nameWidth: width)
        #expect(line == "route-by-function  2          461")
        // The count stands under "servants".
        let servantsColumn = try #require(header.range(of: "servants")).lowerBound.utf16Offset(in: header)
        #expect(line.index(line.startIndex, offsetBy: servantsColumn) == line.firstIndex(of: "2"))
        let short = DispatchSuite.tableLine(algorithm: "orig", servants: 10000, nanoseconds: 118, nameWidth: width)
        #expect(short == "orig               10000      118")
    }

    /// The shipped names alone keep the table as it was: a first column of 16.
    @Test func theShippedShortNamesKeepTheColumnOf16() {
        let width = DispatchSuite.nameColumnWidth(["(no ABI)", "orig", "even", "match", "chbl", "least-loaded"])
        #expect(width == 16)
        #expect(DispatchSuite.tableHeader(nameWidth: width) == "algorithm       servants   ns/iteration")
    }
}

/// `mserve-bench broker`'s table keeps every row's name whole: the name column is as wide as
/// the longest. Before, it was 24 characters, and `route-by-function (kdb door)` printed as
/// `route-by-function (kdb d`.
@Suite struct BrokerTableTests {
    @Test func aLongRowNameIsKeptWhole() {
        let name = "route-by-function (kdb door)"
        let width = BenchRow.nameColumnWidth(["zmq_proxy", "orig", name])
        let row = BenchRow(kind: "kdb", workload: "echo", name: name, result: LoadResult())
        #expect(row.tableLine(nameWidth: width).hasPrefix("echo   route-by-function (kdb door)         0"))
        // q/s ends where the header's "q/s" ends.
        let header = BenchRow.tableHeader(nameWidth: width)
        let headerEnd = header.distance(from: header.startIndex, to: header.firstRange(of: "q/s")!.upperBound)
        let line = row.tableLine(nameWidth: width)
        #expect(line[line.index(line.startIndex, offsetBy: headerEnd - 1)] == "0", "\(header)\n\(line)")
    }

    /// With the shipped algorithms the name column is 24 wide, as it was.
    @Test func theShippedNamesKeepTheColumnOf24() {
        let names = ["zmq_proxy", "majortomo"] + ["orig", "even", "match", "chbl", "least-loaded"].flatMap { [$0, "\($0) (kdb door)"] }
        #expect(BenchRow.nameColumnWidth(names) == 24)
        #expect(
            BenchRow.tableHeader(nameWidth: 24)
                == "workload name                        q/s  mean µs  p50 µs  p90 µs  p99 µs p99.9 µs queue µs  exec µs errors  cpu µs  srv µs")
    }
}

/// `memory --large --csv FILE` prints a gnuplot command that draws the run beside its CSV.
/// Before, the command had no `plotfile`, and run as printed it replaced the committed
/// img/bench-memory-large.png.
@Suite struct LargeMemoryPlotCommandTests {
    @Test(arguments: [
        ("ml.csv", "ml.png"), ("out/run 2.csv", "out/run 2.png"), ("/tmp/x", "/tmp/x.png"), (".csv", ".csv.png"),
        ("bench/results/memory-large.csv", "bench/results/memory-large.png"),
    ])
    func theCommandWritesBesideTheCSV(csv: String, png: String) {
        #expect(
            LargeMemoryRun.plotCommand(csv: csv, setup: "40 MB + 10 MB at once")
                == "gnuplot -e \"csv='\(csv)'\" -e \"setup='40 MB + 10 MB at once'\" -e \"plotfile='\(png)'\" img/bench-memory-large.gp")
    }
}
