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

    @Test func fallsBackToTheServantUsedLeastRecentlyWhenItsServantIsBusy() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 3)
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("MSFT") == "s2")
        script.complete("s2")
        // s1 still runs IBM; s3 has never been used, so s2 keeps MSFT's data warm.
        #expect(script.dispatch("IBM") == "s3")
        #expect(script.dispatch("IBM") == "s2")
        #expect(script.dispatch("IBM") == nil)
    }

    @Test func aNewRoutingStringTakesTheServantIdleLongest() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 3)
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("MSFT") == "s2")
        #expect(script.dispatch("AAPL") == "s3")
        script.completeAll()
        #expect(script.dispatch("IBM") == "s1")
        script.completeAll()
        // s2 (MSFT) was chosen longest ago: it gives way, s1 and s3 stay warm.
        #expect(script.dispatch("ORCL") == "s2")
        script.completeAll()
        #expect(script.dispatch("AAPL") == "s3")
        #expect(script.dispatch("IBM") == "s1")
    }

    @Test func usesEveryThreadOfAServant() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 2, capacity: 2)
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("IBM") == "s2")
    }

    /// Teaches `script` (3 servants) that warm runs take 50 µs and cold ones 2 ms, and leaves
    /// s1 warm on IBM, s2 on MSFT, s3 on AAPL, all free.
    private func learnWarmAndColdCosts(_ script: inout ScriptedServants) {
        for round in 0..<20 {
            for (servant, symbol) in [("s1", "IBM"), ("s2", "MSFT"), ("s3", "AAPL")] {
                #expect(script.dispatch(symbol) == servant)
                script.complete(servant, routing: symbol, nanoseconds: round == 0 ? 2_000_000 : 50_000)
            }
        }
        // Cold runs: symbols the servants do not hold, then back to their own.
        for round in 0..<20 {
            let symbol = "COLD\(round)"
            guard let servant = script.dispatch(symbol) else {
                Issue.record("no servant for \(symbol)")
                return
            }
            script.complete(servant, routing: symbol, nanoseconds: 2_000_000)
            let own = ["s1": "IBM", "s2": "MSFT", "s3": "AAPL"][servant]!
            #expect(script.dispatch(own) == servant)
            script.complete(servant, routing: own, nanoseconds: 2_000_000)
        }
    }

    @Test func underLightLoadAQueryWaitsForItsBusyServantWhenThatIsCheaperThanAColdRun() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 3)
        learnWarmAndColdCosts(&script)
        #expect(script.dispatch("IBM") == "s1")
        // s1 is busy, s2 and s3 are free: waiting (about s1's mean run, then 50 µs) beats 2 ms.
        #expect(script.dispatch("IBM") == nil)
        script.complete("s1", routing: "IBM", nanoseconds: 50_000)
        #expect(script.dispatch("IBM") == "s1")
    }

    @Test func underHeavyLoadOrWithNoWaitAQueryRunsElsewhere() throws {
        var busy = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 3)
        learnWarmAndColdCosts(&busy)
        #expect(busy.dispatch("IBM") == "s1")
        #expect(busy.dispatch("MSFT") == "s2")
        // Only s3 is free: a waiting query would hold up the queue, so IBM runs cold there.
        #expect(busy.dispatch("IBM") == "s3")

        var noWait = ScriptedServants(try BuiltPlugins.algorithm("match:nowait"), count: 3)
        learnWarmAndColdCosts(&noWait)
        #expect(noWait.dispatch("IBM") == "s1")
        #expect(noWait.dispatch("IBM") != nil)
    }

    @Test func refusesAConfigurationItDoesNotUnderstand() throws {
        #expect(throws: (any Error).self) { try BuiltPlugins.algorithm("match:often") }
        #expect(throws: (any Error).self) { try BuiltPlugins.algorithm("match:0") }
        _ = try BuiltPlugins.algorithm("match:64:nowait")
    }
}
