import ArgumentParser
import Foundation

/// `mserve-bench warm-sweep`: the `warm` workload over a range of K (distinct symbols), to show
/// where locality pays: mean latency per algorithm and K, and `match`'s ratio to `orig`.
struct WarmSweepSuite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warm-sweep",
        abstract: "The warm workload for several K (symbols): mean latency per dispatch algorithm, plotted.")

    @Option(parsing: .unconditional, help: "Values of K, comma-separated.")
    var symbols: String = "2,4,8,16,32"

    @Option(parsing: .unconditional, help: "Dispatch algorithms, comma-separated.")
    var algorithms: String = "orig,even,match,chbl,least-loaded"

    @Option(parsing: .unconditional, help: "Servant processes.")
    var servants: Int = 4

    @Option(parsing: .unconditional, help: "Client connections.")
    var clients: Int = 2

    @Option(parsing: .unconditional, help: "Queries in flight per client.")
    var inFlight: Int = 1

    @Option(parsing: .unconditional, help: "Symbols each servant's warm cache keeps.")
    var cache: Int = 1

    @Option(parsing: .unconditional, help: "Seconds measured per run (after a 0.5 s warm-up).")
    var duration: Double = 4

    @Option(parsing: .unconditional, help: "Directory for warm-sweep.dat (none: no file).")
    var csv: String?

    @Flag(help: "Render img/bench-warm-sweep.png with gnuplot (needs --csv).")
    var plot = false

    @Option(name: .customLong("plot-dir"), parsing: .unconditional, help: ArgumentHelp("Where --plot writes its PNGs (default img, the plots bench/README.md shows).", valueName: "dir"))
    var plotDirectory: String?

    func validate() throws {
        try BenchChecks.checkDependencies(
            BenchChecks.plotDependencies(plot: plot, plotDirectory: plotDirectory, csv: csv, drawsFrom: "warm-sweep.dat, which --csv writes"))
        _ = try BenchChecks.parseCounts(symbols, option: "--symbols", range: 1...BenchChecks.Limit.symbols, example: "2,4,8")
        try BenchChecks.checkRange(servants, 1...BenchChecks.Limit.servantProcesses, option: "--servants")
        try BenchChecks.checkClientLoad(clients: clients, inFlight: inFlight)
        try BenchChecks.checkRange(cache, 1...BenchChecks.Limit.symbols, option: "--cache")
        try BenchChecks.checkDuration(duration)
        try BenchOutput.checkPlot(plot, directory: plotDirectory, scripts: [BenchOutput.warmSweepPlot])
        try BenchChecks.checkAlgorithms(
            algorithms.split(separator: ",", omittingEmptySubsequences: false).map(String.init), option: "--algorithms")
        if let csv { try BenchChecks.checkOutputDirectory(csv) }
    }

    private var parsedSymbols: [Int] { symbols.split(separator: ",").compactMap { Int($0) } }

    func run() async throws {
        let names = algorithms.split(separator: ",").map(String.init)
        print(
            "mserve-bench warm-sweep: \(servants) servant(s), cache \(cache), \(clients) client(s) × \(inFlight) in flight, \(format(duration, 1)) s per run"
        )
        print("K      " + names.map { $0.padding(toLength: 14, withPad: " ", startingAt: 0) }.joined() + "match / orig")
        var table = "K " + names.joined(separator: " ") + "\n"
        for symbolCount in parsedSymbols {
            var means: [String: Double] = [:]
            for name in names {
                let result = try await BrokerRun.measure(
                    workload: .warm, algorithm: name, servants: servants, threads: 1, cache: cache,
                    symbols: symbolCount, clients: clients, inFlight: inFlight, duration: duration)
                means[name] = result.meanMicroseconds
            }
            let ratio = means["match"].flatMap { match in means["orig"].map { match / $0 } }
            print(
                "\(symbolCount)".padding(toLength: 7, withPad: " ", startingAt: 0)
                    + names.map { "\(format(means[$0] ?? 0, 0)) µs".padding(toLength: 14, withPad: " ", startingAt: 0) }
                    .joined() + (ratio.map { format($0, 2) } ?? "-"))
            BenchChildren.flushOutput()
            table += "\(symbolCount) " + names.map { format(means[$0] ?? 0, 1) }.joined(separator: " ") + "\n"
        }
        if let csv {
            try FileManager.default.createDirectory(atPath: csv, withIntermediateDirectories: true)
            BenchChildren.flushOutput()
            try table.write(toFile: "\(csv)/warm-sweep.dat", atomically: true, encoding: .utf8)
            print("written \(csv)/warm-sweep.dat")
            if plot {
                BenchOutput.plot(
                    directory: csv, scripts: [BenchOutput.warmSweepPlot], into: plotDirectory ?? BenchOutput.defaultPlotDirectory,
                    setup: "\(servants) servants, \(clients) clients × \(inFlight) in flight")
            }
        }
    }
}
