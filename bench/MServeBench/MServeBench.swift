// MServeBench: the benchmark harness. Run it with `swift run -c release mserve-bench <suite>`;
// figures and the commands that produced them are kept in bench/README.md.

import ArgumentParser
import Foundation

@main
struct MServeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mserve-bench",
        abstract: "Measure MServe: the codec, the query parser, the dispatch plugin ABI, and the broker under load.",
        discussion: "Build with -c release; debug builds measure the debugger's overhead, not MServe.",
        subcommands: [
            CodecSuite.self, QuerySuite.self, DispatchSuite.self, BrokerSuite.self, EchoRatioSuite.self,
            WarmSweepSuite.self, MemorySuite.self, ChaosSuite.self, MetricsCostSuite.self, ServeCommand.self,
        ]
    )

    /// Runs the chosen suite. Whether it ends, fails, or is stopped by SIGINT or SIGTERM,
    /// every child process it started is stopped with it (``BenchChildren``).
    static func main() async {
        BenchChildren.stopOnSignals()
        if let message = unknownHelpTopic(CommandLine.arguments.dropFirst()) {
            FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
            exit(withError: ExitCode.validationFailure)
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            // A suite that ends before its output was looked at learns here that its reader went.
            BenchChildren.flushOutput()
            BenchChildren.stopAll()
        } catch {
            // A suite stopped by a signal fails as its children go: that is no error of its own.
            // The signal handler stops the rest and ends the benchmark with 128 + the signal.
            // (The children may have had the signal first: give the handler a moment.)
            try? await Task.sleep(for: .milliseconds(200))
            while BenchChildren.isInterrupted { try? await Task.sleep(for: .seconds(1)) }
            BenchChildren.stopAll()
            exit(withError: error)
        }
    }
}

extension MServeBench {
    /// For `mserve-bench help WORD` where WORD names no suite: the error, with the suites.
    /// ArgumentParser would print the overview and exit 0, as if the word had been understood.
    static func unknownHelpTopic(_ arguments: ArraySlice<String>) -> String? {
        guard arguments.first == "help", let word = arguments.dropFirst().first(where: { !$0.hasPrefix("-") }) else { return nil }
        let names = configuration.subcommands.compactMap { $0.configuration.commandName }
        guard !names.contains(word), word != "help" else { return nil }
        return "'\(word)' is not an mserve-bench suite (suites: \(names.joined(separator: ", ")))"
    }
}

struct CodecSuite: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec", abstract: "kdb+ IPC encode/decode throughput.")
    func run() { CodecBenchmark.run() }
}

struct MetricsCostSuite: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics", abstract: "What counting a query's times costs the broker's loop.")
    @Option(parsing: .unconditional, help: "Queries per round.") var iterations = 5_000_000
    func validate() throws { try BenchChecks.checkRange(iterations, 1...BenchChecks.Limit.iterations, option: "--iterations") }
    func run() { MetricsCostBenchmark.run(iterations: iterations) }
}

struct QuerySuite: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "Query parsing and routing throughput.")
    func run() { QueryBenchmark.run() }
}
