import MServeTestSupport
import Synchronization
import MServePlugin
import Testing

@Suite struct RoutingHookTests {
    @Test(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
    func theSwiftExampleRoutesByFunctionName() throws {
        let registry = try BuiltPlugins.registry()
        let plugin = try #require(registry.plugins.first { $0.name == "route-by-function" })
        #expect(plugin.hasRoutingHook)
        let algorithm = try registry.makeAlgorithm("route-by-function")
        let argument: [UInt8] = [1, 0, 0, 0, 13, 0, 0, 0, 245, 73, 66, 77, 0]  // -8!`IBM
        #expect(
            algorithm.route(function: "proc1", argumentMessages: [argument], defaultRouting: "IBM")
                == .routing("proc1")
        )
        #expect(algorithm.route(function: ".z.ts", argumentMessages: [], defaultRouting: "x") == .refused)
    }

    /// route-by-function dispatches like match: the free servant that ran the same routing
    /// string last, else the first free one.
    @Test(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
    func theSwiftExampleKeepsARoutingOnTheServantThatRanItLast() throws {
        var script = ScriptedServants(try BuiltPlugins.algorithm("route-by-function"), count: 3)
        script.servants[0].lastRouting = "proc1"
        script.servants[1].lastRouting = "proc2"
        #expect(script.dispatch("proc2") == "s2")
        #expect(script.dispatch("proc1") == "s1")
        // proc2's servant is busy now: the first free one takes it.
        #expect(script.dispatch("proc2") == "s3")
        script.completeAll()
        #expect(script.dispatch("proc3") == "s1")
    }

    @Test(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
    func pluginsWithoutAHookHaveNone() throws {
        let registry = try BuiltPlugins.registry()
        for name in ["orig", "even", "match", "chbl", "least-loaded"] {
            #expect(registry.plugins.first { $0.name == name }?.hasRoutingHook == false)
            let algorithm = try registry.makeAlgorithm(name)
            #expect(algorithm.route(function: "proc1", argumentMessages: [], defaultRouting: "IBM") == nil)
        }
    }

    /// A C hook that sees the arguments' IPC bytes and answers with a routing string longer than
    /// the first buffer, so the broker's second call with the size it asked for is exercised.
    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func aCHookSeesTheArgumentsAndMayNeedABiggerBuffer() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let routeBody = """
                if (strcmp(query->function, "refuse") == 0) return -1;
                char text[1024];
                int n = snprintf(text, sizeof text, "%s|%zu|%zu|%u|%s|", query->function, query->argument_count,
                                 query->argument_count ? query->argument_lengths[0] : 0,
                                 query->argument_count ? (unsigned)query->arguments[0][8] : 0u, query->default_routing);
                for (int i = 0; i < 300; i++) text[n++] = 'x';
                text[n] = 0;
                if ((size_t)n < capacity) memcpy(out, text, (size_t)n + 1);
                return n;
                """
            let library = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(name: "long-route", routeBody: routeBody),
                into: directory,
                fileName: "long-route.so"
            )
            let registry = try DispatchPluginRegistry(directories: [], extraPaths: [library])
            #expect(registry.plugins.first?.hasRoutingHook == true)
            let algorithm = try registry.makeAlgorithm("long-route")
            let argument: [UInt8] = [1, 0, 0, 0, 13, 0, 0, 0, 245, 73, 66, 77, 0]
            let expected = "proc1|1|13|245|IBM|" + String(repeating: "x", count: 300)
            #expect(
                algorithm.route(function: "proc1", argumentMessages: [argument], defaultRouting: "IBM")
                    == .routing(expected)
            )
            #expect(algorithm.route(function: "refuse", argumentMessages: [], defaultRouting: "") == .refused)
        }
    }

    /// A broken hook that claims an absurd length has its query refused (and is reported);
    /// the broker makes no buffer of that size and does not trap on the length.
    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func aCHookClaimingAnAbsurdLengthIsRefused() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let routeBody = """
                if (strcmp(query->function, "huge") == 0) return INT64_MAX;
                return (int64_t)1 << 40;
                """
            let library = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(name: "absurd-route", routeBody: routeBody),
                into: directory,
                fileName: "absurd-route.so"
            )
            let registry = try DispatchPluginRegistry(directories: [], extraPaths: [library])
            let reports = ReportLog()
            let algorithm = try registry.makeAlgorithm("absurd-route") { reports.append($0) }
            #expect(algorithm.route(function: "huge", argumentMessages: [], defaultRouting: "") == .refused)
            #expect(algorithm.route(function: "big", argumentMessages: [], defaultRouting: "") == .refused)
            #expect(reports.messages.count == 2)
            #expect(reports.messages.first?.contains("over the 65536-byte limit") == true, "\(reports.messages)")
        }
    }

    /// A hook that returns a negative other than -1, or a length that still does not fit after
    /// the retry, is broken: its query is refused, and the misbehaviour reported (a deliberate
    /// -1 is not).
    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func aCHookThatMisbehavesIsReportedNotTakenForARefusal() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let routeBody = """
                if (strcmp(query->function, "negative") == 0) return -7;
                if (strcmp(query->function, "refuse") == 0) return -1;
                return (int64_t)capacity + 1;
                """
            let library = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(name: "liar-route", routeBody: routeBody),
                into: directory,
                fileName: "liar-route.so"
            )
            let registry = try DispatchPluginRegistry(directories: [], extraPaths: [library])
            let reports = ReportLog()
            let algorithm = try registry.makeAlgorithm("liar-route") { reports.append($0) }
            #expect(algorithm.route(function: "refuse", argumentMessages: [], defaultRouting: "") == .refused)
            #expect(reports.messages.isEmpty, "\(reports.messages)")
            #expect(algorithm.route(function: "negative", argumentMessages: [], defaultRouting: "") == .refused)
            #expect(reports.messages.last?.contains("returned -7; only -1 refuses a query") == true, "\(reports.messages)")
            #expect(algorithm.route(function: "grows", argumentMessages: [], defaultRouting: "") == .refused)
            #expect(reports.messages.last?.contains("returned length 259 with 258 bytes of room, after asking for 257") == true, "\(reports.messages)")
            #expect(reports.messages.count == 2)
        }
    }
}

/// Messages a plugin's misbehaviour reports, collected from any thread.
final class ReportLog: Sendable {
    private let stored = Mutex<[String]>([])
    func append(_ message: String) { stored.withLock { $0.append(message) } }
    var messages: [String] { stored.withLock { $0 } }
}
