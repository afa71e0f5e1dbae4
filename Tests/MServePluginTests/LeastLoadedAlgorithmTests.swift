import MServePlugin
import Testing

/// The C plugin, compiled here from plugins/least-loaded/least_loaded.c with the system `cc`
/// and loaded as an `MSERVE_PLUGINS` path: the ABI needs nothing from Swift.
@Suite(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
struct LeastLoadedAlgorithmTests {
    static func compiledRegistry() throws -> DispatchPluginRegistry {
        let directory = try CPluginCompiler.temporaryDirectory()
        let library = try CPluginCompiler.compile(
            sourcePath: BuiltPlugins.packageRoot + "/plugins/least-loaded/least_loaded.c",
            into: directory,
            fileName: "least-loaded-by-cc.so"
        )
        return try DispatchPluginRegistry(directories: [], extraPaths: [library])
    }

    static func servant(_ id: UInt64, inFlight: Int, capacity: Int, meanNanoseconds: UInt64 = 0) -> ServantView {
        ServantView(
            id: id, name: "s\(id)", host: "localhost", inFlight: inFlight, capacity: capacity,
            meanExecutionNanoseconds: meanNanoseconds
        )
    }

    @Test func loadsTheCPluginCompiledByTheSystemCompiler() throws {
        let registry = try Self.compiledRegistry()
        #expect(registry.plugins.map(\.name) == ["least-loaded"])
        #expect(registry.plugins.first?.hasRoutingHook == false)
        #expect(registry.plugins.first?.path.hasSuffix("/least-loaded-by-cc.so") == true)
    }

    @Test func picksTheLowestInFlightToCapacityRatio() throws {
        let algorithm = try Self.compiledRegistry().makeAlgorithm("least-loaded")
        let servants = [
            Self.servant(1, inFlight: 2, capacity: 4),  // 0.5
            Self.servant(2, inFlight: 1, capacity: 4),  // 0.25
            Self.servant(3, inFlight: 1, capacity: 2),  // 0.5
        ]
        #expect(algorithm.choose(routing: "IBM", servants: servants) == 1)
    }

    @Test func breaksTiesByMeanExecutionThenByOrder() throws {
        let algorithm = try Self.compiledRegistry().makeAlgorithm("least-loaded")
        let servants = [
            Self.servant(1, inFlight: 1, capacity: 2, meanNanoseconds: 900),
            Self.servant(2, inFlight: 2, capacity: 4, meanNanoseconds: 300),
            Self.servant(3, inFlight: 0, capacity: 1, meanNanoseconds: 500),
            Self.servant(4, inFlight: 0, capacity: 8, meanNanoseconds: 500),
        ]
        #expect(algorithm.choose(routing: "IBM", servants: servants) == 2)
        #expect(algorithm.choose(routing: "IBM", servants: Array(servants[0...1])) == 1)
    }

    @Test func waitsWhenEveryServantIsBusy() throws {
        let algorithm = try Self.compiledRegistry().makeAlgorithm("least-loaded")
        let servants = [Self.servant(1, inFlight: 1, capacity: 1), Self.servant(2, inFlight: 4, capacity: 4)]
        #expect(algorithm.choose(routing: "IBM", servants: servants) == nil)
        #expect(algorithm.choose(routing: "IBM", servants: []) == nil)
    }

    @Test(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
    func theSwiftPMBuildAndTheCompilerBuildAgree() throws {
        var built = ScriptedServants(try BuiltPlugins.algorithm("least-loaded"), count: 3, capacity: 2)
        var compiled = ScriptedServants(try Self.compiledRegistry().makeAlgorithm("least-loaded"), count: 3, capacity: 2)
        for step in 0..<6 {
            #expect(built.dispatch("r\(step)") == compiled.dispatch("r\(step)"))
        }
        #expect(built.servants.allSatisfy { $0.inFlight == 2 })
    }
}
