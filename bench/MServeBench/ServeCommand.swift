import ArgumentParser
import Foundation
import Logging
import MServeServant
import ServiceLifecycle
import UnixSignals

/// `mserve-bench serve`: a servant with the benchmark workloads' functions (echo, warm,
/// large), run as a separate process by the broker benchmarks. Prints its endpoint on the
/// first line of standard output, like `mserve servant`.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a servant with the benchmark workloads' functions.",
        shouldDisplay: false)

    @Option(parsing: .unconditional, help: "The workload this servant is started for (all functions are served).")
    var workload: String = "echo"

    @Option(parsing: .unconditional, help: "Worker threads: queries run at once.")
    var threads: Int = 1

    @Option(parsing: .unconditional, help: "Queries a broker may keep here at once (default: the thread count).")
    var capacity: Int?

    @Option(parsing: .unconditional, help: "Endpoint to bind (port 0: any free port).")
    var bind: String = "tcp://127.0.0.1:0"

    @Option(parsing: .unconditional, help: "Symbols the warm cache keeps.")
    var cache: Int = 10

    func validate() throws {
        try BenchChecks.checkRange(threads, 1...BenchChecks.Limit.threads, option: "--threads")
        try BenchChecks.checkRange(cache, 1...BenchChecks.Limit.symbols, option: "--cache")
        if let capacity { try BenchChecks.checkRange(capacity, 1...BenchChecks.Limit.capacity, option: "--capacity") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let logger = Logger(label: "mserve.bench.servant")
        var configuration = ServantConfiguration()
        configuration.endpoint = bind
        configuration.threads = max(1, threads)
        configuration.capacity = capacity
        configuration.maxMessageSize = 1 << 30
        // The baselines (zmq_proxy, direct) send their queries straight to the servant, as
        // many at once as their clients keep in flight, which the servant's capacity (the
        // broker's, announced in READY) would refuse.
        configuration.acceptsDirectQueries = true
        configuration.directCapacity = BenchChecks.Limit.totalInFlight
        let servant = try Servant(
            configuration: configuration, functions: Workload.registry(cacheCapacity: cache), logger: logger)
        let group = ServiceGroup(services: [servant], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        async let running: Void = group.run()
        let endpoint = try await servant.endpoint
        FileHandle.standardOutput.write(Data((endpoint + "\n").utf8))
        try await running
    }
}
