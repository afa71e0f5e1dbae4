// The dispatch benchmark: the cost of one choose + completed through the dispatch plugin C ABI,
// with the real plugins the broker loads (built next to this binary).
import ArgumentParser
import Foundation
import MServePlugin

/// `mserve-bench dispatch`: nanoseconds per (choose + completed) through the C ABI, per algorithm
/// and servant count, as the broker's event loop pays them.
struct DispatchSuite: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch",
        abstract: "Dispatch plugin ABI cost: ns per choose + completed, per algorithm and servant count.")

    @Option(parsing: .unconditional, help: "Dispatch algorithms, comma-separated (any MSERVE_ALGO value).")
    var algorithms: String = "orig,even,match,chbl,least-loaded"

    @Option(parsing: .unconditional, help: "Servant counts, comma-separated.")
    var servants: String = "2,16"

    @Option(parsing: .unconditional, help: "Iterations per round (5 rounds, best kept, after a warm-up round).")
    var iterations: Int = 200_000

    func validate() throws {
        _ = try BenchChecks.parseCounts(servants, option: "--servants", range: 1...10_000, example: "2,16")
        try BenchChecks.checkRange(iterations, 1_000...BenchChecks.Limit.iterations, option: "--iterations")
        try BenchChecks.checkAlgorithms(
            algorithms.split(separator: ",", omittingEmptySubsequences: false).map(String.init), option: "--algorithms")
    }

    private var parsedServants: [Int] { servants.split(separator: ",").compactMap { Int($0) } }

    func run() throws {
        // The plugins the check of --algorithms found: those next to the bench and MSERVE_PLUGINS's.
        let registry = try BenchChecks.pluginRegistry()
        let specs = ["(no ABI)"] + algorithms.split(separator: ",").map(String.init)
        let nameWidth = Self.nameColumnWidth(specs)
        BenchChildren.printNow("dispatch: ns per choose + completed through the plugin C ABI (best of 5 × \(iterations))")
        BenchChildren.printNow(Self.tableHeader(nameWidth: nameWidth))
        for spec in specs {
            for count in parsedServants {
                let algorithm = spec == "(no ABI)" ? FirstFreeInProcess() : try registry.makeAlgorithm(spec)
                let driver = DispatchDriver(algorithm: algorithm, servantCount: count)
                let seconds = driver.measure(iterations: iterations)
                BenchChildren.printNow(
                    Self.tableLine(algorithm: spec, servants: count, nanoseconds: seconds * 1e9, nameWidth: nameWidth))
            }
        }
    }

    /// The width of the table's first column: its longest name and two spaces, at least 16
    /// (the shipped algorithms' names fit in it), so that no name is cut or runs into the
    /// servant count.
    static func nameColumnWidth(_ names: [String]) -> Int {
        max(16, (names.map(\.count).max() ?? 0) + 2)
    }

    /// The table's header, its first column `nameWidth` wide.
    static func tableHeader(nameWidth: Int) -> String {
        "algorithm".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "servants   ns/iteration"
    }

    /// One line of the table: the algorithm in a column `nameWidth` wide, the servant count, the cost.
    static func tableLine(algorithm: String, servants: Int, nanoseconds: Double, nameWidth: Int) -> String {
        algorithm.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
            + String(servants).padding(toLength: 11, withPad: " ", startingAt: 0) + String(format: "%.0f", nanoseconds)
    }
}

/// `orig`'s rule called directly, without the plugin ABI: the same events and the same index
/// (`ReadyServants`) as the `orig` plugin, in process. Its row is the floor the driver and the
/// index cost; what a plugin's row adds is the C ABI crossing.
final class FirstFreeInProcess: DispatchAlgorithm {
    let name = "(no ABI)"
    @exclusivity(unchecked) private var ready = ReadyServants(tracksRoutings: false)

    var followsEvents: Bool { true }

    func observe(_ event: DispatchEvent) { ready.apply(event) }

    func choose(routing: String, function: String, group: UInt32) -> UInt64? { ready.firstFree(in: group) }

    func choose(routing: String, servants: [ServantView]) -> Int? { servants.firstIndex(where: \.isFree) }

    func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}

    func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? { nil }
}

/// Drives one algorithm the way the broker's event loop does: each iteration asks for a servant
/// for the next routing string, dispatches to it (in flight + 1, last routing updated), and
/// completes that query (in flight − 1, queries served and mean updated, `completed` called).
final class DispatchDriver {
    /// The routing strings the iterations rotate over.
    static let routings = ["IBM", "MSFT", "AAPL", "GOOG", "AMZN", "ORCL", "INTC", "CSCO"]

    private let algorithm: any DispatchAlgorithm
    private let followsEvents: Bool
    private let routings = DispatchDriver.routings
    @exclusivity(unchecked) private var servants: [ServantView]
    /// The queries in flight per servant (by index), for an algorithm following events: the
    /// driver keeps no more than the events need.
    @exclusivity(unchecked) private var inFlight: [Int]
    @exclusivity(unchecked) private var step = 0
    /// Dispatches made, so a run that always waits is noticed.
    @exclusivity(unchecked) private(set) var dispatched = 0

    /// `servantCount` servants of capacity 2, named like the broker names them ("host:port").
    init(algorithm: any DispatchAlgorithm, servantCount: Int) {
        self.algorithm = algorithm
        followsEvents = algorithm.followsEvents
        servants = (1...servantCount).map {
            ServantView(id: UInt64($0), name: "db\($0).example.net:5001", host: "db\($0).example.net", capacity: 2)
        }
        inFlight = [Int](repeating: 0, count: servantCount)
        // An algorithm following events (ABI version 3) hears of each servant once, as the broker tells it.
        if followsEvents {
            for servant in servants { algorithm.observe(.ready(servant)) }
        }
    }

    /// One choose, and for a choice the dispatch and its completion.
    func iterate() {
        if followsEvents { return iterateByEvents() }
        let routing = routings[step & 7]
        step &+= 1
        guard let index = algorithm.choose(routing: routing, servants: servants) else { return }
        dispatched += 1
        servants[index].inFlight += 1
        servants[index].lastRouting = routing
        let executionNanoseconds = UInt64(1_000 + (step & 255))
        servants[index].inFlight -= 1
        let served = servants[index].queriesServed
        servants[index].meanExecutionNanoseconds =
            (servants[index].meanExecutionNanoseconds &* served &+ executionNanoseconds) / (served + 1)
        servants[index].queriesServed = served + 1
        algorithm.completed(servant: servants[index], routing: routing, executionNanoseconds: executionNanoseconds)
    }

    /// One iteration for an algorithm of ABI version 3, as the broker pays it: `choose_in` among
    /// every servant (group 0), then the DISPATCHED and COMPLETED events.
    private func iterateByEvents() {
        let routing = routings[step & 7]
        step &+= 1
        guard let id = algorithm.choose(routing: routing, function: "echo", group: 0) else { return }
        let index = Int(id) - 1
        dispatched += 1
        let running = inFlight[index] + 1
        inFlight[index] = running
        algorithm.observe(.dispatched(servant: id, routing: routing, inFlight: running))
        let executionNanoseconds = UInt64(1_000 + (step & 255))
        inFlight[index] = running - 1
        algorithm.observe(
            .completed(servant: id, routing: routing, executionNanoseconds: executionNanoseconds, inFlight: running - 1))
    }
    /// Seconds per iteration: a warm-up round, then the best of five.
    func measure(iterations: Int) -> Double {
        for _ in 0..<iterations { iterate() }
        let seconds = Measure.bestSecondsPerIteration(iterations: iterations) { iterate() }
        precondition(dispatched > 0, "the algorithm never chose a servant")
        return seconds
    }
}
