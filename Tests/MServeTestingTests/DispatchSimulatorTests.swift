import Foundation
import MServePlugin
import MServeTesting
import Testing

struct DispatchSimulatorTests {
    /// The dispatch plugins built next to the tests, as a broker finds them.
    static func shippedPlugins() throws -> DispatchPluginRegistry {
        let directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
        return try DispatchPluginRegistry(directories: [directory], extraPaths: [])
    }

    @Test func dispatchesMakeServantsBusyAndCompletionsFreeThem() {
        let simulator = DispatchSimulator(algorithm: InProcessFirstFreeAlgorithm(), servants: 2)
        #expect(simulator.dispatch("A") == 0)
        #expect(simulator.dispatch("B") == 1)
        #expect(simulator.dispatch("C") == nil, "both busy: the query waits")
        #expect(simulator.servants.map(\.inFlight) == [1, 1])
        #expect(simulator.servants.map(\.lastRouting) == ["A", "B"])

        simulator.complete(at: 1, executionNanoseconds: 4_000)
        #expect(simulator.servants[1].queriesServed == 1)
        #expect(simulator.servants[1].meanExecutionNanoseconds == 4_000)
        #expect(simulator.dispatch("C") == 1)
    }

    /// Always the servant at index `choice`, free or not, existing or not.
    final class AlwaysChoosing: DispatchAlgorithm {
        let choice: Int
        init(_ choice: Int) { self.choice = choice }
        var name: String { "always\(choice)" }
        func choose(routing: String, servants: [ServantView]) -> Int? { choice }
        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}
        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? { nil }
    }

    /// An invalid choice fails the running test as a recorded issue and dispatches nothing;
    /// the test (and the process) goes on.
    @Test func anInvalidChoiceIsRecordedAsAnIssueAndNothingIsDispatched() {
        let busy = DispatchSimulator(algorithm: AlwaysChoosing(0), servants: 2)
        #expect(busy.dispatch("A") == 0)
        withKnownIssue {
            #expect(busy.dispatch("B") == nil)
        }
        #expect(busy.invalidChoices == ["always0 chose servant1, which is not free"])
        #expect(busy.servants.map(\.inFlight) == [1, 0])

        let absent = DispatchSimulator(algorithm: AlwaysChoosing(5), servants: 2)
        withKnownIssue {
            #expect(absent.run(["A"]) == [nil])
        }
        #expect(absent.invalidChoices == ["always5 chose servant 5 of 2"])
        withKnownIssue {
            absent.complete(at: 1)
        }
        #expect(absent.invalidChoices.last == "a completion at servant2, where no query is running")
        #expect(absent.servants.map(\.queriesServed) == [0, 0])
    }

    @Test func aSequenceRunsOneQueryAtATime() {
        let simulator = DispatchSimulator(algorithm: InProcessFirstFreeAlgorithm(), servants: 3)
        #expect(simulator.run(["A", "B", "C"]) == [0, 0, 0], "first free from the top, freed each time")
        #expect(simulator.servants.map(\.queriesServed) == [3, 0, 0])
    }

    @Test func theShippedPluginsDoWhatTheirNamesSay() throws {
        let plugins = try Self.shippedPlugins()

        let even = DispatchSimulator(algorithm: try plugins.makeAlgorithm("even"), servants: 2)
        #expect(even.run(["a", "a", "a", "a"]) == [0, 1, 0, 1])

        let match = DispatchSimulator(algorithm: try plugins.makeAlgorithm("match"), servants: 2)
        let ibm = try #require(match.dispatch("IBM"))
        let msft = try #require(match.dispatch("MSFT"))
        #expect(ibm != msft)
        match.complete(at: msft)
        match.complete(at: ibm)
        // Each symbol goes back to the servant that holds its data.
        #expect(match.run(["MSFT", "IBM", "IBM", "MSFT"]) == [msft, ibm, ibm, msft])
    }

    /// A plugin class written as docs/PLUGINS.md shows, without the export lines, is simulated
    /// through the C table its plugin would export: the simulator's algorithm is the ABI's
    /// broker side, not the class itself.
    @Test func aSwiftPluginClassIsDrivenThroughItsExportedTable() {
        let simulator = DispatchSimulator(algorithm: DocumentedFirstFree(config: "")!, servants: 2)
        #expect(simulator.algorithm.name == "DocumentedFirstFree")
        #expect(simulator.dispatch("IBM") == 0)
        #expect(simulator.dispatch("MSFT") == 1)
        #expect(simulator.dispatch("AAPL") == nil)
        simulator.complete(at: 1)
        #expect(simulator.run(["IBM", "IBM"]) == [1, 1])
        #expect(simulator.servants[1].lastRouting == "IBM")
    }

    /// An ABI version 3 plugin class is told of the servants and the dispatches through its
    /// exported table too.
    @Test func aSwiftIndexedPluginClassIsDrivenThroughItsExportedTable() {
        let simulator = DispatchSimulator(algorithm: DocumentedOrig(config: "")!, servants: 2)
        #expect(simulator.algorithm.name == "DocumentedOrig")
        #expect(simulator.algorithm.followsEvents)
        #expect(simulator.dispatch("IBM") == 0)
        #expect(simulator.dispatch("IBM") == 1)
        #expect(simulator.dispatch("IBM") == nil)
        simulator.complete(at: 0)
        #expect(simulator.dispatch("MSFT") == 0)
    }
}

/// docs/PLUGINS.md's version 2 example, "Writing a plugin in Swift", as printed (but internal).
final class DocumentedFirstFree: SwiftDispatchAlgorithm {
    init?(config: String) {}            // nil refuses the configuration
    func choose(routing: String, servants: [ServantView]) -> Int? {
        servants.firstIndex(where: \.isFree)   // nil: the query waits
    }
    // completed(servant:routing:executionNanoseconds:) has a default that does nothing.
}

/// docs/PLUGINS.md's version 3 example (`orig`), as printed (but internal).
final class DocumentedOrig: SwiftIndexedDispatchAlgorithm {
    private var ready = ReadyServants(tracksRoutings: false)
    init?(config: String) { guard config.isEmpty else { return nil } }
    func observe(_ event: DispatchEvent) { ready.apply(event) }
    func choose(routing: String, function: String, group: UInt32) -> UInt64? {
        ready.firstFree(in: group)   // a servant id; nil: the query waits
    }
}
