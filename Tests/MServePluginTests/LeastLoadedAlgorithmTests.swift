import MServePlugin
import MServeTestSupport
import Testing
import MServeTestScheduling

/// The C plugin, compiled here from plugins/least-loaded/least_loaded.c with the system `cc`
/// and loaded as an `MSERVE_PLUGINS` path: the ABI needs nothing from Swift.
@Suite(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
struct LeastLoadedAlgorithmTests {
    static func compiledRegistry() async throws -> DispatchPluginRegistry {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let library = try await CPluginCompiler.compile(
                sourcePath: BuiltPlugins.packageRoot + "/plugins/least-loaded/least_loaded.c",
                into: directory,
                fileName: "least-loaded-by-cc.so"
            )
            return try DispatchPluginRegistry(directories: [], extraPaths: [library])
        }
    }

    static func servant(_ id: UInt64, inFlight: Int, capacity: Int, meanNanoseconds: UInt64 = 0) -> ServantView {
        ServantView(
            id: id, name: "s\(id)", host: "localhost", inFlight: inFlight, capacity: capacity,
            meanExecutionNanoseconds: meanNanoseconds
        )
    }

    @Test func loadsTheCPluginCompiledByTheSystemCompiler() async throws {
        let registry = try await Self.compiledRegistry()
        #expect(registry.plugins.map(\.name) == ["least-loaded"])
        #expect(registry.plugins.first?.hasRoutingHook == false)
        #expect(registry.plugins.first?.path.hasSuffix("/least-loaded-by-cc.so") == true)
    }

    @Test func picksTheLowestInFlightToCapacityRatio() async throws {
        let algorithm = try await Self.compiledRegistry().makeAlgorithm("least-loaded")
        let servants = [
            Self.servant(1, inFlight: 2, capacity: 4),  // 0.5
            Self.servant(2, inFlight: 1, capacity: 4),  // 0.25
            Self.servant(3, inFlight: 1, capacity: 2),  // 0.5
        ]
        #expect(algorithm.choose(routing: "IBM", servants: servants) == 1)
    }

    @Test func breaksTiesByMeanExecutionThenByOrder() async throws {
        let algorithm = try await Self.compiledRegistry().makeAlgorithm("least-loaded")
        let servants = [
            Self.servant(1, inFlight: 1, capacity: 2, meanNanoseconds: 900),
            Self.servant(2, inFlight: 2, capacity: 4, meanNanoseconds: 300),
            Self.servant(3, inFlight: 0, capacity: 1, meanNanoseconds: 500),
            Self.servant(4, inFlight: 0, capacity: 8, meanNanoseconds: 500),
        ]
        #expect(algorithm.choose(routing: "IBM", servants: servants) == 2)
        #expect(algorithm.choose(routing: "IBM", servants: Array(servants[0...1])) == 1)
    }

    @Test func waitsWhenEveryServantIsBusy() async throws {
        let algorithm = try await Self.compiledRegistry().makeAlgorithm("least-loaded")
        let servants = [Self.servant(1, inFlight: 1, capacity: 1), Self.servant(2, inFlight: 4, capacity: 4)]
        #expect(algorithm.choose(routing: "IBM", servants: servants) == nil)
        #expect(algorithm.choose(routing: "IBM", servants: []) == nil)
    }

    @Test(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
    func theSwiftPMBuildAndTheCompilerBuildAgree() async throws {
        var built = ScriptedServants(try BuiltPlugins.algorithm("least-loaded"), count: 3, capacity: 2)
        var compiled = ScriptedServants(try await Self.compiledRegistry().makeAlgorithm("least-loaded"), count: 3, capacity: 2)
        for step in 0..<6 {
            #expect(built.dispatch("r\(step)") == compiled.dispatch("r\(step)"))
        }
        #expect(built.servants.allSatisfy { $0.inFlight == 2 })
    }

    /// The plugin's heaps against a scan, through a random sequence of events: servants of
    /// varied capacities join and leave dispatch and candidate groups, queries are dispatched
    /// and completed with varied execution times, and every `choose_in` of every group must name
    /// the free member a pass over all of them would: the lowest in-flight/capacity ratio, then
    /// the lowest mean execution time, then the smallest id.
    @Test(.heavyComputation, arguments: [1, 2, 3, 4])
    func choosesAsAScanOverTheFreeMembersWould(seed: UInt64) async throws {
        let algorithm = try await Self.compiledRegistry().makeAlgorithm("least-loaded")
        var random = SeededGenerator(seed: seed)
        struct Known {
            var inFlight: Int
            var capacity: Int
            var served: UInt64
            var total: UInt64
            var groups: Set<UInt32>
            var mean: UInt64 { served == 0 ? 0 : total / served }
        }
        var ready: [UInt64: Known] = [:]
        var choices = 0
        for _ in 0..<4_000 {
            let id = UInt64.random(in: 1...40, using: &random)
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<8:
                if ready[id] != nil {
                    for group in ready[id]!.groups { algorithm.observe(.left(servant: id, group: group)) }
                    algorithm.observe(.unready(servant: id))
                    ready[id] = nil
                } else {
                    let capacity = Int.random(in: 1...4, using: &random)
                    algorithm.observe(.ready(Self.servant(id, inFlight: 0, capacity: capacity)))
                    ready[id] = Known(inFlight: 0, capacity: capacity, served: 0, total: 0, groups: [])
                }
            case 8..<16:
                guard var known = ready[id] else { continue }
                let group = UInt32.random(in: 1...3, using: &random)
                if known.groups.contains(group) {
                    algorithm.observe(.left(servant: id, group: group))
                    known.groups.remove(group)
                } else {
                    algorithm.observe(.joined(servant: id, group: group))
                    known.groups.insert(group)
                }
                ready[id] = known
            case 16..<50:
                guard var known = ready[id], known.inFlight > 0 else { continue }
                let nanoseconds = UInt64.random(in: 1...5, using: &random) * 100
                known.inFlight -= 1
                known.served += 1
                known.total += nanoseconds
                ready[id] = known
                algorithm.observe(
                    .completed(servant: id, routing: "r", executionNanoseconds: nanoseconds, inFlight: known.inFlight))
            default:
                let group = UInt32.random(in: 0...3, using: &random)
                let expected = ready.filter { $0.value.inFlight < $0.value.capacity && (group == 0 || $0.value.groups.contains(group)) }
                    .min { left, right in
                        let (a, b) = (left.value, right.value)
                        if a.inFlight * b.capacity != b.inFlight * a.capacity { return a.inFlight * b.capacity < b.inFlight * a.capacity }
                        if a.mean != b.mean { return a.mean < b.mean }
                        return left.key < right.key
                    }?.key
                let chosen = algorithm.choose(routing: "r", function: "f", group: group)
                #expect(chosen == expected)
                guard let chosen, var known = ready[chosen] else { continue }
                choices += 1
                known.inFlight += 1
                ready[chosen] = known
                algorithm.observe(.dispatched(servant: chosen, routing: "r", inFlight: known.inFlight))
            }
        }
        #expect(choices > 500)
    }
}
