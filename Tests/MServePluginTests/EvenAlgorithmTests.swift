import MServePlugin
import Testing

@Suite(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
struct EvenAlgorithmTests {
    @Test func rotatesThroughTheServantsAndWraps() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("even"), count: 3)
        var chosen: [String?] = []
        for _ in 0..<5 {
            let name = script.dispatch("IBM")
            chosen.append(name)
            if let name { script.complete(name) }
        }
        #expect(chosen == ["s1", "s2", "s3", "s1", "s2"])
    }

    @Test func skipsBusyServants() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("even"), count: 3)
        #expect(script.dispatch("IBM") == "s1")
        script.complete("s1")
        script.servants[1].inFlight = 1  // s2 busy
        #expect(script.dispatch("IBM") == "s3")
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("IBM") == nil)
    }

    @Test func continuesAfterTheLastServantWhenServantsChange() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("even"), count: 4)
        #expect(script.dispatch("IBM") == "s1")
        #expect(script.dispatch("IBM") == "s2")
        script.completeAll()
        // s1 leaves: s2 (the last used) is now first, so s3 follows.
        script.servants.removeFirst()
        #expect(script.dispatch("IBM") == "s3")
        script.completeAll()
        // s3 (the last used) leaves: the servant that took its place, s4, follows.
        script.servants.removeAll { $0.name == "s3" }
        #expect(script.dispatch("IBM") == "s4")
    }

    /// What `even` remembers is the servant it chose, not where its search began: after it
    /// skipped a busy servant and the one it chose leaves, it goes on from the chosen one's
    /// place, not from the skipped one's.
    @Test func afterSkippingABusyServantItContinuesFromTheOneItChose() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("even"), count: 4)
        #expect(script.dispatch("IBM") == "s1")
        script.complete("s1")
        script.servants[1].inFlight = 1  // s2 busy: the search starts at s2 and chooses s3
        #expect(script.dispatch("IBM") == "s3")
        script.completeAll()
        // s3 (the one chosen) leaves: the servant that took its place, s4, follows; s2, where
        // the search started, does not.
        script.servants.removeAll { $0.name == "s3" }
        #expect(script.dispatch("IBM") == "s4")
        #expect(script.dispatch("IBM") == "s1")
    }
}
