public import MServePlugin
import Testing

/// Drives a dispatch algorithm the way the broker's loop does, without sockets or servants:
/// for the author of an algorithm (a plugin class, `SwiftDispatchAlgorithm` or
/// `SwiftIndexedDispatchAlgorithm`, called through the C table its plugin would export; a
/// `DispatchAlgorithm`; or any plugin, C included, made with `DispatchPluginRegistry.makeAlgorithm`)
/// to check its choices in a unit test.
///
/// ```swift
/// let simulator = DispatchSimulator(algorithm: try registry.makeAlgorithm("match"), servants: 2)
/// let first = simulator.dispatch("IBM")          // a free servant, now busy with IBM
/// simulator.complete(at: first!)                  // free again; its last routing string is IBM
/// #expect(simulator.dispatch("IBM") == first)     // match keeps IBM where its data is
/// let mine = DispatchSimulator(algorithm: MyAlgorithm(config: "")!, servants: 2)  // your plugin's class
/// ```
///
/// As in the broker, a dispatch makes the servant's view busier by one and records the routing
/// string as its last; a completion makes it less busy, counts it served, updates its mean
/// execution time and calls the algorithm's `completed`. An algorithm of ABI version 3
/// (`followsEvents`) is driven as the broker drives it: told of each servant (READY) once, asked
/// for a servant id among every servant (`choose(routing:function:group:)`, group 0), and told
/// of each dispatch and completion (DISPATCHED, COMPLETED).
///
/// A choice of a servant that does not exist or is not free is a programming error of the
/// algorithm: the simulator records it as an issue of the running Swift Testing test
/// (`Issue.record`, which fails that test and no other), adds it to ``invalidChoices`` (for
/// XCTest, or to check), and dispatches nothing: ``dispatch(_:)`` returns nil, as for a query
/// that waits. A completion at a servant running no query is recorded the same way and ignored.
/// The test process goes on.
public final class DispatchSimulator {
    /// The algorithm under test.
    public let algorithm: any DispatchAlgorithm
    /// The servants as the algorithm sees them, in the broker's order.
    public private(set) var servants: [ServantView]
    /// What the algorithm (or the test) did wrong, in order, each as recorded as a test issue:
    /// `NAME chose servant2, which is not free`, `NAME chose servant 5 of 2`, … Empty while all
    /// is well.
    public private(set) var invalidChoices: [String] = []

    /// A simulator of `count` servants named `servant1`, `servant2`, …, each taking `capacity`
    /// queries at once.
    public init(algorithm: any DispatchAlgorithm, servants count: Int, capacity: Int = 1) {
        self.algorithm = algorithm
        servants = (0..<count).map {
            ServantView(id: UInt64($0 + 1), name: "servant\($0 + 1)", host: "127.0.0.1", capacity: capacity)
        }
        if algorithm.followsEvents {
            for servant in servants { algorithm.observe(.ready(servant)) }
        }
    }

    /// A simulator of `algorithm`, a Swift plugin class of ABI version 2, called through the C
    /// table its plugin exports (`DispatchPluginExport.inProcess`): every choice crosses the ABI
    /// as it does in a broker that loaded the plugin's shared library.
    public convenience init<Algorithm: SwiftDispatchAlgorithm>(
        algorithm: Algorithm, servants count: Int, capacity: Int = 1
    ) {
        self.init(algorithm: DispatchPluginExport<Algorithm>.inProcess(algorithm), servants: count, capacity: capacity)
    }

    /// A simulator of `algorithm`, a Swift plugin class of ABI version 3, called through the C
    /// table its plugin exports (`IndexedDispatchPluginExport.inProcess`): the events and every
    /// choice cross the ABI as they do in a broker that loaded the plugin's shared library.
    public convenience init<Algorithm: SwiftIndexedDispatchAlgorithm>(
        algorithm: Algorithm, servants count: Int, capacity: Int = 1
    ) {
        self.init(
            algorithm: IndexedDispatchPluginExport<Algorithm>.inProcess(algorithm), servants: count, capacity: capacity)
    }

    /// Asks the algorithm for a servant for a query routed `routing` and dispatches the query
    /// there; returns the servant's index, or nil when the algorithm makes the query wait or
    /// chose a servant that does not exist or is not free (recorded: ``invalidChoices``).
    public func dispatch(_ routing: String) -> Int? {
        guard let index = choose(routing) else { return nil }
        guard servants.indices.contains(index) else {
            return invalid("\(algorithm.name) chose servant \(index) of \(servants.count)")
        }
        guard servants[index].isFree else {
            return invalid("\(algorithm.name) chose \(servants[index].name), which is not free")
        }
        servants[index].inFlight += 1
        servants[index].lastRouting = routing
        if algorithm.followsEvents {
            algorithm.observe(.dispatched(servant: servants[index].id, routing: routing, inFlight: servants[index].inFlight))
        }
        return index
    }

    /// The algorithm's choice for a query routed `routing`: an index into `servants`, or nil.
    private func choose(_ routing: String) -> Int? {
        guard algorithm.followsEvents else { return algorithm.choose(routing: routing, servants: servants) }
        guard let id = algorithm.choose(routing: routing, function: "", group: 0) else { return nil }
        // Ids are 1…count; a C plugin's negative choice arrives as a huge id.
        guard let index = Int(exactly: id).map({ $0 - 1 }), servants.indices.contains(index) else {
            return invalid(
                "\(algorithm.name) chose servant id \(Int64(bitPattern: id)) of \(servants.count) (ids are 1…\(servants.count))")
        }
        return index
    }

    /// Records `problem` as a test issue and in ``invalidChoices``; nil, for the caller to return.
    private func invalid(_ problem: String) -> Int? {
        invalidChoices.append(problem)
        Issue.record(Comment(rawValue: problem))
        return nil
    }

    /// Completes a query routed `routing` (by default the servant's last) running at servant
    /// `index`: it is answered after `executionNanoseconds`, and the algorithm hears of it.
    /// A servant that does not exist or runs no query is recorded (``invalidChoices``) and the
    /// completion ignored.
    public func complete(at index: Int, routing: String? = nil, executionNanoseconds: UInt64 = 1_000_000) {
        guard servants.indices.contains(index) else {
            _ = invalid("a completion at servant \(index) of \(servants.count)")
            return
        }
        guard servants[index].inFlight > 0 else {
            _ = invalid("a completion at \(servants[index].name), where no query is running")
            return
        }
        servants[index].inFlight -= 1
        let served = servants[index].queriesServed
        servants[index].meanExecutionNanoseconds =
            (servants[index].meanExecutionNanoseconds &* served &+ executionNanoseconds) / (served + 1)
        servants[index].queriesServed = served + 1
        let routing = routing ?? servants[index].lastRouting
        if algorithm.followsEvents {
            algorithm.observe(
                .completed(
                    servant: servants[index].id, routing: routing, executionNanoseconds: executionNanoseconds,
                    inFlight: servants[index].inFlight))
        } else {
            algorithm.completed(servant: servants[index], routing: routing, executionNanoseconds: executionNanoseconds)
        }
    }

    /// Dispatches each routing string in turn and completes it at once (one query at a time, as
    /// a single client would send them); returns the servant index each went to (nil: it waited).
    public func run(_ routings: [String], executionNanoseconds: UInt64 = 1_000_000) -> [Int?] {
        routings.map { routing in
            let index = dispatch(routing)
            if let index { complete(at: index, executionNanoseconds: executionNanoseconds) }
            return index
        }
    }
}
