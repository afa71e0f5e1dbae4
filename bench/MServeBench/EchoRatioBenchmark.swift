// The echo throughput target (broker ÷ zmq_proxy), measured in alternating rounds so that the
// machine's drift and its neighbours' bursts fall on both sides of the ratio.

import ArgumentParser
import Foundation

struct EchoRatioSuite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-ratio",
        abstract: "Echo throughput of the broker as a ratio of zmq_proxy's, in alternating rounds.",
        discussion: """
            Each round measures zmq_proxy and the broker on the same workload, with the same \
            servants, clients and queries in flight, in alternating order (proxy first in odd \
            rounds, broker first in even ones). The per-round ratios and their median are \
            reported; on a shared machine the median of several rounds is the figure to trust.
            """)

    @Option(help: "The dispatch algorithm (any MSERVE_ALGO value).")
    var algorithm = "orig"

    @Option(help: "Servant processes.")
    var servants = 2

    @Option(help: "Queries the broker may keep at each servant (default: 1, mserve's rule).")
    var capacity: Int?

    @Option(help: "Client connections.")
    var clients = 4

    @Option(help: "Queries in flight per client.")
    var inFlight = 16

    @Option(help: "Seconds measured per run (after a 0.5 s warm-up).")
    var duration = 4.0

    @Option(help: "Rounds (each: one zmq_proxy run and one broker run); on a shared machine a round can be off by a third, so take several.")
    var rounds = 9

    @Option(help: "CSV file for the rounds (none: no CSV).")
    var csv: String?

    @Flag(help: "Run the broker with its HTTP side on (`--http 127.0.0.1:0`), counting every query for /metrics.")
    var http = false

    func validate() throws {
        guard servants >= 1, clients >= 1, inFlight >= 1, rounds >= 1, duration > 0, duration <= 120 else {
            throw ValidationError("--servants, --clients, --in-flight, --rounds must be ≥ 1; --duration from 0 to 120 s")
        }
        if let capacity, capacity < 1 { throw ValidationError("--capacity must be ≥ 1") }
    }

    func run() async throws {
        print(
            "mserve-bench echo-ratio: \(algorithm), \(servants) servant(s), capacity \(capacity ?? 1), \(clients) client(s) × \(inFlight) in flight, \(format(duration, 1)) s per run, \(rounds) round(s)\(http ? ", broker with --http" : "")"
        )
        print("round  zmq_proxy q/s  broker q/s  ratio")
        var ratios: [Double] = []
        var lines = ["round,zmq_proxy_qps,broker_qps,ratio"]
        for round in 1...rounds {
            var proxy = 0.0
            var broker = 0.0
            let proxyFirst = round % 2 == 1
            for leg in 0..<2 {
                if (leg == 0) == proxyFirst {
                    proxy = try Baselines.run(
                        path: .forwarder, servants: servants, threads: 1, clients: clients, inFlight: inFlight,
                        duration: duration
                    ).throughput
                } else {
                    broker = try await BrokerRun.measure(
                        workload: .echo, algorithm: algorithm, servants: servants, threads: 1, cache: 1, symbols: 1,
                        clients: clients, inFlight: inFlight, duration: duration, capacity: capacity,
                        brokerArguments: http ? ["--http", "127.0.0.1:0"] : []
                    ).throughput
                }
            }
            let ratio = proxy > 0 ? broker / proxy : 0
            ratios.append(ratio)
            lines.append("\(round),\(format(proxy, 0)),\(format(broker, 0)),\(format(ratio, 3))")
            print(
                "\(String(round).padding(toLength: 5, withPad: " ", startingAt: 0))  \(rightAligned(format(proxy, 0), 13))  \(rightAligned(format(broker, 0), 10))  \(format(ratio, 2))"
            )
            fflush(nil)
        }
        let sorted = ratios.sorted()
        let median =
            sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        print("")
        print(
            "echo throughput / zmq_proxy (\(algorithm), \(servants) servants, capacity \(capacity ?? 1)): median \(format(median, 2)), range \(format(sorted.first!, 2))–\(format(sorted.last!, 2))  (target ≥ 0.90)  \(median >= 0.9 ? "met" : "NOT met")"
        )
        if let csv {
            try (lines.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
            print("CSV written to \(csv)")
        }
    }
}
