// BenchOutputTests: the lines mserve-bench prints say what they compare.

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
}
