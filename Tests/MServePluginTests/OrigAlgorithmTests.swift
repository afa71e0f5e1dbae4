import MServePlugin
import Testing

@Suite(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
struct OrigAlgorithmTests {
    @Test func picksTheFirstFreeServantFromTheTop() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("orig"), count: 3)
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("IBM") == "s2")
        #expect(script.dispatch("MSFT") == "s3")
        #expect(script.dispatch("MSFT") == nil)
        script.complete("s2")
        #expect(script.dispatch("AAPL") == "s2")
    }

    @Test func alwaysReturnsToTheTopWhenItIsFree() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("orig"), count: 3)
        for routing in ["IBM", "MSFT", "AAPL", "IBM"] {
            #expect(script.dispatch(routing) == "s1")
            script.complete("s1")
        }
    }

    @Test func waitsWithNoServants() throws {
        let algorithm = try BuiltPlugins.algorithm("orig")
        #expect(algorithm.choose(routing: "IBM", servants: []) == nil)
    }
}
