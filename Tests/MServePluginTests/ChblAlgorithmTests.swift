import MServePlugin
import Testing

@Suite(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
struct ChblAlgorithmTests {
    static let keys = (0..<200).map { "key\($0)" }

    /// The servant each key goes to when every servant is idle.
    static func homes(_ algorithm: any DispatchAlgorithm, _ servants: [ServantView]) -> [String: String] {
        var homes: [String: String] = [:]
        for key in keys {
            homes[key] = algorithm.choose(routing: key, servants: servants).map { servants[$0].name }
        }
        return homes
    }

    @Test func keepsARoutingStringOnItsServant() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("chbl"), count: 4, capacity: 8)
        let home = script.dispatch("IBM")
        #expect(home != nil)
        script.completeAll()
        for _ in 0..<5 {
            #expect(script.dispatch("IBM") == home)
            script.completeAll()
        }
    }

    @Test func spreadsRoutingStringsOverTheServants() throws {
        let script = ScriptedServants(try BuiltPlugins.algorithm("chbl"), count: 4, capacity: 8)
        let counts = Dictionary(grouping: Self.homes(script.algorithm, script.servants).values, by: { $0 })
            .mapValues(\.count)
        #expect(counts.count == 4)
        #expect(counts.values.allSatisfy { $0 >= 20 }, "uneven ring: \(counts)")
    }

    @Test func keepsLocalityUnderBoundedLoad() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("chbl"), count: 4, capacity: 8)
        let home = script.dispatch("IBM")
        // Other traffic raises the average: IBM's home may then take a second query.
        for key in Self.keys.prefix(6) where script.dispatch(key) == nil {
            Issue.record("no servant for \(key)")
        }
        let homeLoad = script.servants.first { $0.name == home }!.inFlight
        let total = script.servants.reduce(0) { $0 + $1.inFlight }
        let bound = Int((1.25 * Double(total + 1) / 4).rounded(.up))
        if homeLoad + 1 <= bound {
            #expect(script.dispatch("IBM") == home)
        }
    }

    @Test func spillsOverWhenItsServantIsOverloadedAndNeverPassesTheBound() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("chbl"), count: 4, capacity: 100)
        var used: Set<String> = []
        for _ in 0..<40 {
            let total = script.servants.reduce(0) { $0 + $1.inFlight }
            let bound = Int((1.25 * Double(total + 1) / 4).rounded(.up))
            let chosen = script.dispatch("IBM")
            let name = try #require(chosen)
            used.insert(name)
            #expect(script.servants.first { $0.name == name }!.inFlight <= bound)
        }
        #expect(used.count == 4)
        #expect(script.servants.map(\.inFlight).max()! <= 13)  // ceil(1.25 × 40 / 4)
    }

    @Test func spillsInTheSameOrderEveryTime() throws {
        var first = ScriptedServants(try BuiltPlugins.algorithm("chbl"), count: 5, capacity: 100)
        var second = ScriptedServants(try BuiltPlugins.algorithm("chbl"), count: 5, capacity: 100)
        for step in 0..<20 {
            #expect(first.dispatch("IBM") == second.dispatch("IBM"), "step \(step)")
        }
    }

    @Test func takesAFreeServantRatherThanWaitWhenTheBoundedOnesAreBusy() throws {
        let algorithm = try BuiltPlugins.algorithm("chbl")
        var servants = (1...3).map { ServantView(id: UInt64($0), name: "s\($0)", host: "h", capacity: 1) }
        servants.append(ServantView(id: 4, name: "s4", host: "h", inFlight: 5, capacity: 8))
        servants[0].inFlight = 1
        servants[1].inFlight = 1
        servants[2].inFlight = 1
        // Total 8 + 1 over 4 servants: bound ceil(1.25 × 9 / 4) = 3; s4 would hold 6 but is the only free one.
        #expect(algorithm.choose(routing: "IBM", servants: servants) == 3)
        servants[3].inFlight = 8
        #expect(algorithm.choose(routing: "IBM", servants: servants) == nil)
    }

    @Test func aLeavingServantMovesOnlyItsOwnKeys() throws {
        let algorithm = try BuiltPlugins.algorithm("chbl")
        let servants = (1...5).map { ServantView(id: UInt64($0), name: "h:\(5000 + $0)", host: "h", capacity: 8) }
        let before = Self.homes(algorithm, servants)
        let leaving = servants[2].name
        let after = Self.homes(algorithm, servants.filter { $0.name != leaving })
        for key in Self.keys where before[key] != leaving {
            #expect(after[key] == before[key], "\(key) moved")
        }
        #expect(Self.keys.allSatisfy { after[$0] != leaving })
    }

    @Test func readsTheLoadFactorFromTheConfiguration() throws {
        let registry = try BuiltPlugins.registry()
        _ = try registry.makeAlgorithm("chbl:2")
        _ = try registry.makeAlgorithm("chbl:1")
        for bad in ["chbl:0.5", "chbl:abc", "chbl:inf"] {
            let error = #expect(throws: PluginError.self) { try registry.makeAlgorithm(bad) }
            #expect(error?.code == .createFailed)
            #expect(error?.message.contains("libmserve-algorithm-chbl.so") == true)
        }
    }
}
