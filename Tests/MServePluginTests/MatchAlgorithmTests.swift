import Foundation
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

    @Test func aQueryWaitsForItsBusyServantThenRunsElsewhereAfterAColdRunsWorth() async throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 3)
        learnWarmAndColdCosts(&script)
        #expect(script.dispatch("IBM") == "s1")
        // s1 is busy: IBM waits for it rather than run cold on s2 or s3 (2 ms against 50 µs)…
        #expect(script.dispatch("IBM") == nil)
        #expect(script.dispatch("IBM") == nil)
        // …and takes it when it is free again.
        script.complete("s1", routing: "IBM", nanoseconds: 50_000)
        #expect(script.dispatch("IBM") == "s1")
        // Waiting longer than a cold run costs over a warm one (about 1.95 ms here) is not worth
        // it: the query goes to the servant holding the least wanted data.
        #expect(script.dispatch("IBM") == nil)
        try await Task.sleep(for: .milliseconds(5))
        #expect(script.dispatch("IBM") != nil)
    }

    @Test func aRareQueryWaitsRatherThanEvictWantedDataFromTheOnlyFreeServant() async throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 3)
        learnWarmAndColdCosts(&script)
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("MSFT") == "s2")
        // s3 alone is free and holds AAPL, asked for often; ORCL never was: it waits…
        #expect(script.dispatch("ORCL") == nil)
        // …while a query that wants s3's data runs there warm,
        #expect(script.dispatch("AAPL") == "s3")
        script.complete("s3", routing: "AAPL", nanoseconds: 50_000)
        // …and runs once it has waited what a cold run costs over a warm one (~1.95 ms).
        try await Task.sleep(for: .milliseconds(5))
        #expect(script.dispatch("ORCL") == "s3")
    }

    @Test func aRareQueryRunsAtOnceWhenTwoServantsAreFree() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 3)
        learnWarmAndColdCosts(&script)
        #expect(script.dispatch("IBM") == "s1")
        // s2 and s3 are free: no line forms, so nothing is gained by waiting.
        #expect(script.dispatch("ORCL") != nil)
    }

    @Test func aQueryWantedMoreThanTheFreeServantsDataRunsAtOnce() async throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 3)
        learnWarmAndColdCosts(&script)
        // AAPL becomes the routing string asked for most, on s3.
        for _ in 0..<40 {
            #expect(script.dispatch("AAPL") == "s3")
            script.complete("s3", routing: "AAPL", nanoseconds: 50_000)
        }
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("MSFT") == "s2")
        // TSLA waits a cold run's worth before it evicts AAPL from s3, the only free servant…
        #expect(script.dispatch("TSLA") == nil)
        try await Task.sleep(for: .milliseconds(5))
        #expect(script.dispatch("TSLA") == "s3")
        script.complete("s3", routing: "TSLA", nanoseconds: 2_000_000)
        // …but AAPL, held by no one now and wanted far more than TSLA, takes s3 at once.
        #expect(script.dispatch("AAPL") == "s3")
    }

    @Test func aRareQueryRunsAtOnceWhenNoOtherServantCouldTakeIt() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 1)
        // Warm runs take 50 µs, cold ones 2 ms; s1 ends on IBM, asked for most.
        #expect(script.dispatch("IBM") == "s1")
        script.complete("s1", routing: "IBM", nanoseconds: 2_000_000)
        for _ in 0..<19 {
            #expect(script.dispatch("IBM") == "s1")
            script.complete("s1", routing: "IBM", nanoseconds: 50_000)
        }
        for round in 0..<8 {
            #expect(script.dispatch("COLD\(round)") == "s1")
            script.complete("s1", routing: "COLD\(round)", nanoseconds: 2_000_000)
            #expect(script.dispatch("IBM") == "s1")
            script.complete("s1", routing: "IBM", nanoseconds: 2_000_000)
        }
        // s1 is free and no servant is busy: no other servant can free up for ORCL, and the
        // queries of IBM waiting were offered to s1 first (`take`). Waiting gains nothing.
        #expect(script.dispatch("ORCL") == "s1")
    }

    /// A day's mixed work behind one servant of two threads, every function routed by its first
    /// argument: `sleep 30` over and over, `echo` of new strings, one `sleep 40000` run cold.
    @Test func aNewRoutingStringRunsAtOnceOnTheOnlyServantWhileItIsIdle() throws {
        var servants = ServantsByEvents(try BuiltPlugins.algorithm("match"), count: 1, capacity: 2)
        for _ in 0..<40 {
            #expect(servants.run("sleep", "30", warm: 30_000_000, cold: 30_000_000) == "s1")
        }
        for n in 0..<20 {
            #expect(servants.run("echo", "\(n)", warm: 35_000, cold: 35_000) == "s1")
            #expect(servants.run("sleep", "30", warm: 30_000_000, cold: 30_000_000) == "s1")
        }
        #expect(servants.run("sleep", "40000", warm: 40_000_000_000, cold: 40_000_000_000) == "s1")
        // The servant is idle and nothing else waits: each new echo is dispatched when first
        // offered, it waits for nothing.
        for n in 201...205 {
            #expect(servants.dispatch("echo", "\(n)") == "s1")
            servants.complete("s1", routing: "\(n)", nanoseconds: 35_000)
        }
    }

    @Test func aFunctionWaitsOnlyAsItsOwnColdRunsCostMoreThanItsWarmOnes() throws {
        var servants = ServantsByEvents(try BuiltPlugins.algorithm("match"), count: 3)
        // An echo costs 35 µs warm or cold; a sleep 30 ms warm, 40 s cold.
        for n in 0..<20 {
            #expect(servants.run("echo", "E", warm: 35_000, cold: 35_000) != nil)
            #expect(servants.run("echo", "E\(n)", warm: 35_000, cold: 35_000) != nil)
            #expect(servants.run("sleep", "30", warm: 30_000_000, cold: 40_000_000_000) != nil)
            #expect(servants.run("sleep", "S\(n)", warm: 30_000_000, cold: 40_000_000_000) != nil)
        }
        #expect(servants.dispatch("echo", "E") != nil)
        #expect(servants.dispatch("sleep", "30") != nil)
        // Both warm servants are busy, one servant is free. A sleep of 30 waits for its own…
        #expect(servants.dispatch("sleep", "30") == nil)
        // …but an echo, which gains nothing from a warm servant, runs on the free one at once:
        // the cold sleeps teach echo no patience.
        #expect(servants.dispatch("echo", "E") != nil)
    }

    @Test func aFreeServantTakesTheFirstWaitingQueryOfItsData() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 2)
        // A servant that holds nothing leaves the choice to choose.
        #expect(script.take("s1", from: ["IBM", "MSFT"]) == nil)
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("MSFT") == "s2")
        script.completeAll()
        #expect(script.take("s1", from: ["AAPL", "MSFT", "IBM", "IBM"]) == 2)
        script.complete("s1", routing: "IBM")
        #expect(script.take("s2", from: ["AAPL", "MSFT"]) == 1)
        // Nothing of s1's data waits: choose decides.
        #expect(script.take("s1", from: ["AAPL", "ORCL"]) == nil)
    }

    @Test func theQueryAtTheFrontIsPassedOverOnlyAsOftenAsTheLookAheadHoldsQueries() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match"), count: 1)
        #expect(script.dispatch("IBM") == "s1")
        script.completeAll()
        let line = ["ORCL"] + Array(repeating: "IBM", count: 15)
        for _ in 0..<line.count {
            #expect(script.take("s1", from: line) == 1)
            script.completeAll()
        }
        // ORCL has waited its turn: the servant no longer passes it over.
        #expect(script.take("s1", from: line) == nil)
        #expect(script.dispatch("ORCL") == "s1")
    }

    @Test func withNoWaitAQueryRunsElsewhereAtOnce() throws {
        var noWait = ScriptedServants(try BuiltPlugins.algorithm("match:nowait"), count: 3)
        learnWarmAndColdCosts(&noWait)
        #expect(noWait.dispatch("IBM") == "s1")
        #expect(noWait.dispatch("IBM") != nil)
    }

    @Test func aRoutingStringsDemandIsSharedAmongTheServantsHoldingIt() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("match:nowait"), count: 3)
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("IBM") == "s2")
        #expect(script.dispatch("MSFT") == "s3")
        script.completeAll()
        for _ in 0..<2 {
            #expect(script.dispatch("MSFT") == "s3")
            script.completeAll()
        }
        // IBM was asked for twice and is held twice (1 per servant), MSFT three times: one of
        // IBM's servants gives way, the one chosen longest ago.
        #expect(script.dispatch("AAPL") == "s1")
    }

    @Test func refusesAConfigurationItDoesNotUnderstand() throws {
        #expect(throws: (any Error).self) { try BuiltPlugins.algorithm("match:often") }
        #expect(throws: (any Error).self) { try BuiltPlugins.algorithm("match:0") }
        _ = try BuiltPlugins.algorithm("match:64:nowait")
    }
}
