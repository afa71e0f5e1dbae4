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
}
