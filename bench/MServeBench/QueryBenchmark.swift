import Foundation
// The query benchmark: parse + routing of a short and a 10-argument query (issue 3), and the
// broker's in-place check of queries with a large vector argument.
import MServeQuery
import QData

/// Measures `QueryParser.parse` followed by `RoutingSpec.routingString(for:)` on one core.
enum QueryBenchmark {
    /// The queries measured, by name.
    static let queries: [(name: String, text: String)] = [
        ("short", "proc1 `IBM"),
        (
            "10 arguments",
            "proc1[`IBM;2024.01.02;10;1.5;`a`b`c;\"text\";12:30:00.000;0101b;42h;"
                + "2024.01.02D12:30:00.000000000]"
        ),
    ]

    /// Runs each query for about a second (after a warm-up) and prints how many a second were
    /// parsed and routed as soon as that is measured (``BenchChildren/printNow(_:)``).
    static func run() {
        BenchChildren.printNow("query: parse + route (default spec arg:1), one core")
        let spec = RoutingSpec.default
        for (name, text) in queries {
            _ = measure(text, spec: spec, iterations: 100_000)
            var iterations = 200_000
            var best = 0.0
            for _ in 0..<3 {
                let (seconds, checksum) = measure(text, spec: spec, iterations: iterations)
                precondition(checksum > 0)
                best = max(best, Double(iterations) / seconds)
                if seconds < 0.5 { iterations *= 2 }
            }
            let perQuery = 1e9 / best
            BenchChildren.printNow(
                "  \(name.padding(toLength: 14, withPad: " ", startingAt: 0))"
                    + " \(Int(best)) queries/s  (\(Int(perQuery.rounded())) ns/query)  \(text)")
        }
        BenchChildren.printNow("query: checked in place, as the broker checks it, with a 1 MB vector argument")
        for (name, vector) in largeArguments {
            let message = QIPC.encode(.list([.atom(.long(0)), .list([.atom(.symbol("echo")), vector])]))
            var best = Double.infinity
            for _ in 0..<3 {
                let start = ContinuousClock.now
                let checked = try? QueryParser.check(queryIn: message.span, range: 23..<message.count, routing: spec)
                precondition(checked?.routing != nil)
                let elapsed = ContinuousClock.now - start
                best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            }
            BenchChildren.printNow(
                "  \(name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(format(best * 1e3, 2)) ms a query"
                    + "  (\(format(Double(message.count) / best / 1e6, 0)) MB/s)")
        }
    }

    /// Large arguments whose routing string is rendered in full (and hashed) by the broker.
    static let largeArguments: [(name: String, vector: QValue)] = [
        ("bytes", .vector(.byte((0..<1_000_000).map { UInt8(truncatingIfNeeded: $0) }))),
        ("chars", .vector(.char((0..<1_000_000).map { UInt8(97 + $0 % 26) }))),
        ("longs", .vector(.long((0..<125_000).map { Int64($0) * 1_000_003 }))),
        ("floats", .vector(.float((0..<125_000).map { Double($0) / 7 }))),
    ]

    /// Parses and routes `text` `iterations` times; returns the elapsed seconds and a checksum.
    private static func measure(_ text: String, spec: RoutingSpec, iterations: Int) -> (
        Double, Int
    ) {
        var checksum = 0
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<iterations {
            do {
                let query = try QueryParser.parse(text)
                checksum &+= spec.routingString(for: query).value.utf8.count
            } catch {
                fatalError("benchmark query failed: \(error)")
            }
        }
        let elapsed = clock.now - start
        let seconds =
            Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (seconds, checksum)
    }
}
