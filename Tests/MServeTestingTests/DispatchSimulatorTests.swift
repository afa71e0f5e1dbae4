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
        let simulator = DispatchSimulator(algorithm: FirstFreeAlgorithm(), servants: 2)
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

    @Test func aSequenceRunsOneQueryAtATime() {
        let simulator = DispatchSimulator(algorithm: FirstFreeAlgorithm(), servants: 3)
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
}
