import MServePlugin
import Testing

@Suite(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
struct MatchAlgorithmTests {
    @Test func keepsARoutingStringOnItsServant() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 3)
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("MSFT") == "s2")
        #expect(script.dispatch("AAPL") == "s3")
        script.completeAll()
        #expect(script.dispatch("AAPL") == "s3")
        #expect(script.dispatch("MSFT") == "s2")
        #expect(script.dispatch("IBM") == "s1")
    }

    @Test func fallsBackToTheFirstFreeServantWhenItsServantIsBusy() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 3)
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("MSFT") == "s2")
        script.complete("s2")
        // s1 still runs IBM: the next IBM goes to the first free servant.
        #expect(script.dispatch("IBM") == "s2")
        #expect(script.dispatch("IBM") == "s3")
        #expect(script.dispatch("IBM") == nil)
    }

    @Test func aNewRoutingStringTakesTheFirstFreeServant() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 2)
        #expect(script.dispatch("IBM") == "s1")
        script.complete("s1")
        #expect(script.dispatch("MSFT") == "s1")
    }

    @Test func usesEveryThreadOfAServant() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 2, capacity: 2)
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("IBM") == "s2")
    }
}
