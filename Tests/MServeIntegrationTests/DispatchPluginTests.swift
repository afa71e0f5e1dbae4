import Foundation
import MServeClient
import MServeProtocol
import MServeTestSupport
import QData
import Testing
import ZeroMQ

extension IntegrationTests {
    /// Dispatch algorithms loaded by a running broker with dlopen: the shipped ones, one
    /// compiled from C by this test, loading errors, and routing specs.
    @Suite struct DispatchPluginTests {
        @Test func theShippedAlgorithmsAreListed() async throws {
            let run = try await CommandRun.mserve(["broker", "--list-algorithms"])
            #expect(run.status == 0)
            // Each name whole, first on its line, as --algorithm takes it.
            let names = Set(run.output.split(separator: "\n").filter { !$0.hasPrefix(" ") }.compactMap { $0.split(separator: " ").first })
            for name in ["orig", "even", "match", "chbl", "least-loaded", "route-by-function"] {
                #expect(names.contains(Substring(name)), "\(name) missing from:\n\(run.output)")
            }
            #expect(run.output.contains("libmserve-algorithm-least-loaded.so"))
        }

        @Test func loadingErrorsStopTheLaunchAndNameTheProblem() async throws {
            let unknown = try await CommandRun.mserve(["broker", "--algorithm", "nosuch"])
            #expect(unknown.status != 0)
            #expect(unknown.errors.contains("nosuch"))
            #expect(unknown.errors.contains("match"))

            let missing = try await CommandRun.mserve(["broker"], environment: ["MSERVE_PLUGINS": "/nonexistent/libx.so"])
            #expect(missing.status != 0)
            #expect(missing.errors.contains("/nonexistent/libx.so"))

            let badRouting = try await CommandRun.mserve(["broker", "--routing", "plugin:match"])
            #expect(badRouting.status != 0)
            #expect(badRouting.errors.contains("routing hook"))

            // plugin:NAME:config hands the configuration to the hook's create (this one takes none).
            let configured = try await CommandRun.mserve(["broker", "--routing", "plugin:route-by-function:x"])
            #expect(configured.status == 64)
            #expect(
                configured.errors.contains("dispatch algorithm \"route-by-function\" refused the configuration \"x\""),
                "\(configured.errors)")

            // A configuration the algorithm refuses is told what it takes, from its description.
            let badConfiguration = try await CommandRun.mserve(["broker", "--algorithm", "chbl:abc"])
            #expect(badConfiguration.status == 64)
            #expect(
                badConfiguration.errors.contains(
                    "refused the configuration \"abc\"; its description: consistent hashing with bounded loads: "),
                "\(badConfiguration.errors)")
            #expect(badConfiguration.errors.contains("configuration c, a number ≥ 1 (chbl:1.5; default 1.25)."))
            #expect(badConfiguration.errors.contains("mserve broker --list-algorithms lists every algorithm's"))

            // A bad value found while the broker builds its configuration names the option and
            // points at the broker's own help.
            let badLookAhead = try await CommandRun.mserve(["broker", "--look-ahead", "0"])
            #expect(badLookAhead.status == 64)
            #expect(badLookAhead.errors.contains("--look-ahead must be at least 1"))
            #expect(badLookAhead.errors.contains("See 'mserve broker --help'"), "\(badLookAhead.errors)")
        }

        /// An unknown algorithm, from the flag or from MSERVE_ALGO, is refused with the
        /// algorithms available and how to add one: its file in MSERVE_PLUGINS or --plugins, or
        /// a `libmserve-algorithm-*.so` beside the binary (where the broker looks). `mserve
        /// demo`, whose broker takes none of the caller's MSERVE_PLUGINS, names the latter only.
        @Test func anUnknownAlgorithmListsTheAvailableOnesAndHowToAddOne() async throws {
            let directory = MServeProcess.buildDirectory.resolvingSymlinksInPath().path
            let available = "unknown dispatch algorithm \"nosuch\"; available: chbl, even, least-loaded, match, orig, route-by-function."
            let besideTheBinary = "put its plugin file, named libmserve-algorithm-NAME.so, in \(directory)."
            let flag = try await CommandRun.mserve(["broker", "--algorithm", "nosuch"])
            #expect(flag.status == 64)
            #expect(flag.errors.hasPrefix("Error: --algorithm: \(available)"), "\(flag.errors)")
            #expect(
                flag.errors.contains(
                    "To add one, list its plugin file in MSERVE_PLUGINS or --plugins (colon-separated paths), or \(besideTheBinary)"),
                "\(flag.errors)")
            let variable = try await CommandRun.mserve(["broker"], environment: ["MSERVE_ALGO": "nosuch:1"])
            #expect(variable.status == 64)
            #expect(variable.errors.hasPrefix("Error: MSERVE_ALGO: \(available)"), "\(variable.errors)")
            #expect(variable.errors.contains("MSERVE_PLUGINS or --plugins"), "\(variable.errors)")
            let demo = try await CommandRun.mserve(["demo", "--algorithm", "nosuch"])
            #expect(demo.status == 64)
            #expect(demo.errors.hasPrefix("Error: --algorithm: \(available) To add one, \(besideTheBinary)\n"), "\(demo.errors)")
        }

        /// A library built with Swift that is not a plugin of the kind asked for (a dispatch
        /// plugin given to a servant, the demo API given to a broker) stops the launch with
        /// status 64 and the reason, every time: rejected, it stays mapped, so the Swift
        /// runtime's records of its types still point somewhere (unmapped, they crashed the
        /// process in about half the runs).
        @Test func aSwiftLibraryOfTheOtherKindIsRefusedWithoutACrash() async throws {
            let directory = MServeProcess.buildDirectory
            let dispatchPlugin = directory.appendingPathComponent("libmserve-algorithm-even.so").path
            let servantPlugin = directory.appendingPathComponent("libmserve-servant-demo-api.so").path
            for _ in 1...6 {
                let servant = try await CommandRun.mserve(["servant", "--plugins", dispatchPlugin], timeout: 60)
                #expect(servant.status == 64, "\(servant.errors)")
                #expect(servant.errors.contains("not a servant plugin: symbol mserve_servant_plugin_entry not found"), "\(servant.errors)")
                let broker = try await CommandRun.mserve(
                    ["broker", "--clients", "tcp://127.0.0.1:0", "--plugins", servantPlugin], timeout: 60)
                #expect(broker.status == 64, "\(broker.errors)")
                #expect(broker.errors.contains("not a dispatch plugin: symbol mserve_dispatch_plugin_entry not found"), "\(broker.errors)")
            }
        }

        @Test func evenRotatesAndOrigStaysOnTop() async throws {
            for (algorithm, expectRotation) in [("even", true), ("orig", false)] {
                let cluster = try await ProcessCluster.start(servants: 2, brokerArguments: ["--algorithm", algorithm])
                defer { cluster.stop() }
                let client = try QueryClient(endpoint: cluster.broker.endpoint)
                defer { client.close() }
                #expect(await cluster.allServantsReady())
                var used: [String] = []
                for index in 1...6 { used.append(try await client.send("echo \(index)").servant ?? "") }
                if expectRotation {
                    #expect(Set(used).count == 2, "\(algorithm): \(used)")
                    #expect(zip(used, used.dropFirst()).allSatisfy { $0 != $1 }, "\(algorithm): \(used)")
                } else {
                    #expect(Set(used).count == 1, "\(algorithm): \(used)")
                }
            }
        }

        @Test func aPluginWrittenInCAndCompiledHereDispatchesQueries() async throws {
            try await withTemporaryDirectory("mserve-c-plugin") { directory in
                let source = """
                    #include <stdlib.h>
                    #include "mserve_plugin.h"
                    /* Picks the free servant with the fewest queries served: a tiny algorithm in C. */
                    static int state;
                    static void *create(const char *config) { (void)config; return &state; }
                    static int64_t choose(void *s, const char *routing, const mserve_servant_view *servants, size_t count) {
                        (void)s; (void)routing;
                        int64_t best = MSERVE_DISPATCH_WAIT;
                        for (size_t i = 0; i < count; i++) {
                            if (servants[i].in_flight >= servants[i].capacity) continue;
                            if (best < 0 || servants[i].queries_served < servants[best].queries_served) best = (int64_t)i;
                        }
                        return best;
                    }
                    static void completed(void *s, const mserve_servant_view *v, const char *r, uint64_t ns) { (void)s; (void)v; (void)r; (void)ns; }
                    static void destroy(void *s) { (void)s; }
                    static const mserve_dispatch_plugin table = {
                        2, "fewest-served", "the free servant that has served the fewest queries",
                        create, choose, completed, destroy, NULL };
                    const mserve_dispatch_plugin *mserve_dispatch_plugin_entry(void) { return &table; }
                    """
                let library = try await Self.compilePlugin(source, named: "fewest", in: directory)

                let listed = try await CommandRun.mserve(["broker", "--list-algorithms"], environment: ["MSERVE_PLUGINS": library])
                #expect(listed.output.contains("fewest-served"))

                let cluster = try await ProcessCluster.start(
                    servants: 2, environment: ["MSERVE_PLUGINS": library, "MSERVE_ALGO": "fewest-served"])
                defer { cluster.stop() }
                let client = try QueryClient(endpoint: cluster.broker.endpoint)
                defer { client.close() }
                #expect(await cluster.allServantsReady())
                var used: [String] = []
                for index in 1...6 { used.append(try await client.send("proc1 `S\(index)").servant ?? "") }
                #expect(Set(used) == cluster.servantNames, "\(used)")
                #expect(cluster.broker.logs.contains("fewest-served"))
            }
        }

        /// `--plugins` given twice loads the files of both, as one colon-separated list would:
        /// the first is not dropped for the last.
        @Test func pluginsGivenTwiceAreAllLoaded() async throws {
            try await withTemporaryDirectory("mserve-two-plugins") { directory in
                var libraries: [String] = []
                for name in ["first-one", "second-one"] {
                    libraries.append(
                        try await Self.compilePlugin(
                            Self.cPluginSource(
                                name: name, description: "test plugin \(name)", choose: "return count > 0 ? 0 : MSERVE_DISPATCH_WAIT;"),
                            named: name, in: directory))
                }
                let run = try await CommandRun.mserve(
                    ["broker", "--plugins", libraries[0], "--plugins", libraries[1], "--list-algorithms"])
                #expect(run.status == 0, "\(run.errors)")
                #expect(run.output.contains("test plugin first-one"), "\(run.output)")
                #expect(run.output.contains("test plugin second-one"), "\(run.output)")
            }
        }

        /// Compiles the C plugin `source` with the system C compiler into `directory`; returns
        /// the library's path.
        /// The C source of an ABI version 2 dispatch plugin `name` whose `choose` runs the C
        /// statements `choose` (its parameters: `s`, `routing`, `servants`, `count`); its other
        /// functions do nothing.
        static func cPluginSource(name: String, description: String, choose: String) -> String {
            """
            #include "mserve_plugin.h"
            static int state;
            static void *create(const char *config) { (void)config; return &state; }
            static int64_t choose(void *s, const char *routing, const mserve_servant_view *servants, size_t count) {
                (void)s; (void)routing; (void)servants; (void)count;
                \(choose)
            }
            static void completed(void *s, const mserve_servant_view *v, const char *r, uint64_t ns) { (void)s; (void)v; (void)r; (void)ns; }
            static void destroy(void *s) { (void)s; }
            static const mserve_dispatch_plugin table = {
                2, "\(name)", "\(description)", create, choose, completed, destroy, NULL };
            const mserve_dispatch_plugin *mserve_dispatch_plugin_entry(void) { return &table; }
            """
        }

        static func compilePlugin(_ source: String, named name: String, in directory: String) async throws -> String {
            let sourcePath = directory + "/\(name).c"
            try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
            let library = directory + "/lib\(name).so"
            let compiler = try await SpawnedProcess.run(
                URL(fileURLWithPath: "/usr/bin/cc"), ["-shared", "-fPIC", "-I", packageRoot + "/plugins/include", "-o", library, sourcePath])
            try #require(compiler.status == 0, "\(compiler.errors)")
            // Whatever the umask: the broker refuses a plugin its group or others may write.
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: library)
            return library
        }

        @Test func aQueryTheAlgorithmMakesWaitDoesNotHoldUpTheOnesBehindIt() async throws {
            try await withTemporaryDirectory("mserve-look-ahead") { directory in
                let library = try await Self.compilePlugin(
                    """
                    #include <string.h>
                    #include "mserve_plugin.h"
                    /* Keeps queries routed HELD waiting for ever; others take the first free servant. */
                    static int state;
                    static void *create(const char *config) { (void)config; return &state; }
                    static int64_t choose(void *s, const char *routing, const mserve_servant_view *servants, size_t count) {
                        (void)s;
                        if (strcmp(routing, "HELD") == 0) return MSERVE_DISPATCH_WAIT;
                        for (size_t i = 0; i < count; i++) if (servants[i].in_flight < servants[i].capacity) return (int64_t)i;
                        return MSERVE_DISPATCH_WAIT;
                    }
                    static void completed(void *s, const mserve_servant_view *v, const char *r, uint64_t ns) { (void)s; (void)v; (void)r; (void)ns; }
                    static void destroy(void *s) { (void)s; }
                    static const mserve_dispatch_plugin table = {
                        2, "hold-back", "keeps HELD waiting", create, choose, completed, destroy, NULL };
                    const mserve_dispatch_plugin *mserve_dispatch_plugin_entry(void) { return &table; }
                    """, named: "holdback", in: directory)
                for lookAhead in ["16", "1"] {
                    let cluster = try await ProcessCluster.start(
                        servants: 1, brokerArguments: ["--deadline", "1.5", "--look-ahead", lookAhead],
                        environment: ["MSERVE_PLUGINS": library, "MSERVE_ALGO": "hold-back"])
                    defer { cluster.stop() }
                    let client = try QueryClient(endpoint: cluster.broker.endpoint)
                    defer { client.close() }
                    _ = try await client.send("proc1 `WARMUP")
                    // One socket, HELD sent before FREE: the replies come back on it in the order
                    // the broker answered them.
                    let context = try ZMQContext()
                    defer { context.terminate() }
                    let socket = try ZMQSocket(context: context, type: .dealer)
                    defer { socket.close() }
                    try socket.setLinger(milliseconds: 0)
                    try socket.connect(cluster.broker.endpoint)
                    try socket.send(ClientQuery(id: .atom(.long(1)), query: .string("proc1 `HELD")).encoded())  // fails at its deadline
                    try await Task.sleep(for: .milliseconds(100))
                    try socket.send(ClientQuery(id: .atom(.long(2)), query: .string("proc1 `FREE")).encoded())
                    var order: [QValue] = []
                    for _ in 0..<2 {
                        let frames = try #require(try await socket.receiveFrames(within: .seconds(30)), "look-ahead \(lookAhead): no reply")
                        guard case .list(let items, _) = try QIPC.decode(try #require(frames.last)).value, let id = items.first else {
                            Issue.record("look-ahead \(lookAhead): a reply that is no list")
                            return
                        }
                        order.append(id)
                    }
                    // With look-ahead FREE overtakes the waiting HELD; in strict FIFO it waits
                    // behind it until HELD's deadline.
                    let expected: [QValue] = lookAhead == "1" ? [.atom(.long(1)), .atom(.long(2))] : [.atom(.long(2)), .atom(.long(1))]
                    #expect(order == expected, "look-ahead \(lookAhead)")
                }
            }
        }

        @Test func theShippedCPluginRunsInABroker() async throws {
            let cluster = try await ProcessCluster.start(servants: 2, brokerArguments: ["--algorithm", "least-loaded"])
            defer { cluster.stop() }
            let client = try QueryClient(endpoint: cluster.broker.endpoint)
            defer { client.close() }
            let reply = try await client.send("proc1 `IBM")
            #expect(reply.routing == "IBM")
            #expect(cluster.broker.logs.contains("least-loaded"))
        }

        @Test func routingSpecsChooseTheRoutingString() async throws {
            let byFunction = try await ProcessCluster.start(
                servants: 1, environment: ["MSERVE_ROUTING": "function,arg:1"])
            defer { byFunction.stop() }
            let client = try QueryClient(endpoint: byFunction.broker.endpoint)
            defer { client.close() }
            #expect(try await client.send("proc1 `IBM").routing == "proc1|IBM")

            let hook = try await ProcessCluster.start(
                servants: 1, brokerArguments: ["--routing", "plugin:route-by-function"])
            defer { hook.stop() }
            let hookClient = try QueryClient(endpoint: hook.broker.endpoint)
            defer { hookClient.close() }
            #expect(try await hookClient.send("proc2 `IBM`MSFT").routing == "proc2")

            // Chosen as the algorithm alone, its hook is not called, and the broker says so.
            let algorithmOnly = try await ProcessCluster.start(
                servants: 1, brokerArguments: ["--algorithm", "route-by-function"])
            defer { algorithmOnly.stop() }
            let algorithmClient = try QueryClient(endpoint: algorithmOnly.broker.endpoint)
            defer { algorithmClient.close() }
            #expect(try await algorithmClient.send("proc1 `IBM").routing == "IBM")
            #expect(
                algorithmOnly.broker.logs.contains(
                    "dispatch algorithm route-by-function has a routing hook, which the broker calls only when --routing plugin:route-by-function (or MSERVE_ROUTING) names it; routing strings are arg:1 meanwhile"),
                "\(algorithmOnly.broker.logs)")
            #expect(!hook.broker.logs.contains("has a routing hook, which the broker calls only"))
        }

        @Test func aPluginInADirectoryOthersMayWriteStopsTheLaunchAsAUsageError() async throws {
            try await withTemporaryDirectory("mserve-shared-plugin") { directory in
                let library = try await Self.compilePlugin(
                    Self.cPluginSource(
                        name: "shared", description: "in a shared directory", choose: "return count > 0 ? 0 : MSERVE_DISPATCH_WAIT;"),
                    named: "shared", in: directory)
                #expect(chmod(directory, 0o777) == 0)
                let run = try await CommandRun.mserve(["broker", "--plugins", library, "--list-algorithms"])
                #expect(run.status == 64)
                #expect(
                    run.errors.contains("--plugins: the directory \(directory) of the dispatch plugin file \(library) has mode 0777"),
                    "\(run.errors)")
                #expect(run.errors.contains("run chmod go-w \(directory)"))
                #expect(run.output.isEmpty)
            }
        }

        @Test func aCPluginsWrongChoicesFailTheirQueriesAtOnceAndAreLoggedOnceASecond() async throws {
            try await withTemporaryDirectory("mserve-wrong-plugin") { directory in
                // Always names a servant that is not there.
                let library = try await Self.compilePlugin(
                    Self.cPluginSource(name: "wrong", description: "names no servant", choose: "return (int64_t)count + 7;"),
                    named: "wrong", in: directory)
                let cluster = try await ProcessCluster.start(
                    servants: 1, brokerArguments: ["--deadline", "5"],
                    environment: ["MSERVE_PLUGINS": library, "MSERVE_ALGO": "wrong"])
                defer { cluster.stop() }
                let client = try QueryClient(endpoint: cluster.broker.endpoint)
                defer { client.close() }
                #expect(await cluster.allServantsReady())
                // Each query fails at once, naming the algorithm, not at the broker's deadline.
                for _ in 1...3 {
                    await #expect {
                        _ = try await client.send("proc1 `IBM")
                    } throws: { error in
                        (error as? ClientError)?.message.contains("the dispatch algorithm wrong returned an invalid servant") == true
                    }
                }
                func lines() -> [String] {
                    cluster.broker.logs.components(separatedBy: "\n").filter {
                        $0.contains("dispatch plugin misbehaved") && $0.contains("algorithm \"wrong\" chose index 8 of 1 servants")
                    }
                }
                // The broker's log is read from its standard error as it comes: on a loaded machine
                // the line may be read after the client has its answer.
                #expect(await eventually { !lines().isEmpty }, "\(cluster.broker.logs)")
                #expect(lines().count <= 3, "\(cluster.broker.logs)")
            }
        }
    }
}
