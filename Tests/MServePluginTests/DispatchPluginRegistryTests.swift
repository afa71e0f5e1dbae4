import Foundation
import MServePlugin
import MServeTestSupport
import Testing

@Suite struct DispatchPluginRegistryTests {
    // MARK: The built plugins

    @Test(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
    func findsEveryBuiltPluginInTheBuildDirectory() throws {
        let registry = try BuiltPlugins.registry()
        #expect(registry.plugins.map(\.name).sorted() == BuiltPlugins.names)
        for plugin in registry.plugins {
            #expect(!plugin.description.isEmpty)
            #expect(plugin.path.hasSuffix("/libmserve-algorithm-\(plugin.name).so"))
        }
    }

    @Test(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
    func makesIndependentAlgorithmsByName() throws {
        let registry = try BuiltPlugins.registry()
        let first = try registry.makeAlgorithm("even")
        let second = try registry.makeAlgorithm("even")
        #expect(first.name == "even")
        let servants = (1...3).map { ServantView(id: UInt64($0), name: "s\($0)", host: "h", capacity: 1) }
        #expect(first.choose(routing: "a", servants: servants) == 0)
        #expect(first.choose(routing: "a", servants: servants) == 1)
        #expect(second.choose(routing: "a", servants: servants) == 0)
    }

    @Test(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
    func theAlgorithmsWithoutSettingsRefuseAConfigurationInsteadOfIgnoringIt() throws {
        let registry = try BuiltPlugins.registry()
        for name in ["orig", "even", "least-loaded", "route-by-function"] {
            #expect(try registry.makeAlgorithm(name).name == name)
            #expect(try registry.makeAlgorithm("\(name):").name == name, "an empty configuration is none")
            let error = #expect(throws: PluginError.self) { try registry.makeAlgorithm("\(name):xyz") }
            #expect(error?.message.contains("refused the configuration \"xyz\"") == true, "\(String(describing: error))")
        }
    }

    /// Each shipped plugin's description, which `--list-algorithms` prints, states the
    /// configuration its `create` takes.
    @Test(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
    func theShippedDescriptionsStateTheConfiguration() throws {
        let registry = try BuiltPlugins.registry()
        let descriptions = Dictionary(uniqueKeysWithValues: registry.plugins.map { ($0.name, $0.description) })
        for name in ["orig", "even", "least-loaded", "route-by-function"] {
            #expect(descriptions[name]?.hasSuffix("; takes no configuration") == true, "\(name): \(descriptions[name] ?? "")")
        }
        #expect(descriptions["match"]?.contains("configuration N[:nowait] or nowait (match:512:nowait): N ≥ 1") == true)
        #expect(descriptions["chbl"]?.contains("configuration c, a number ≥ 1 (chbl:1.5; default 1.25)") == true)
    }

    /// A configuration the plugin refuses is refused with its description, which says what it
    /// takes, and where the algorithms are listed.
    @Test(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason), arguments: ["chbl:abc", "even:x", "match:abc", "chbl:0.5"])
    func aRefusedConfigurationIsToldWhatTheAlgorithmTakes(spec: String) throws {
        let registry = try BuiltPlugins.registry()
        let name = String(spec.prefix { $0 != ":" })
        let plugin = try #require(registry.plugins.first { $0.name == name })
        let error = #expect(throws: PluginError.self) { try registry.makeAlgorithm(spec) }
        #expect(error?.code == .createFailed)
        #expect(
            error?.message == "\(plugin.path): dispatch algorithm \"\(name)\" refused the configuration \"\(spec.dropFirst(name.count + 1))\"; "
                + "its description: \(plugin.description). mserve broker --list-algorithms lists every algorithm's, "
                + "docs/PLUGINS.md \"Shipped plugins\" explains those shipped with mserve",
            "\(String(describing: error))")
    }

    /// A table exported in this process is loaded as a file's is: checked, listed under its
    /// origin, its `create` called with the configuration, refused as a duplicate name.
    @Test func anExportedTableIsLoadedInProcess() throws {
        let exported = DispatchPluginExport<ConfiguredFirstFree>.table(
            name: "in-process-first-free", description: "first free, in-process",
            create: { DispatchPluginExport<ConfiguredFirstFree>.create(config: $0) })
        let registry = try DispatchPluginRegistry(tables: [exported], origin: "test tables")
        #expect(
            registry.plugins == [
                LoadedDispatchPlugin(
                    name: "in-process-first-free", description: "first free, in-process", path: "test tables",
                    hasRoutingHook: false)
            ])
        let algorithm = try registry.makeAlgorithm("in-process-first-free")
        let servants = [
            ServantView(id: 1, name: "a:1", host: "a", inFlight: 1), ServantView(id: 2, name: "b:2", host: "b"),
        ]
        #expect(algorithm.choose(routing: "IBM", servants: servants) == 1)
        let refused = #expect(throws: PluginError.self) { try registry.makeAlgorithm("in-process-first-free:no") }
        #expect(refused?.code == .createFailed)
        #expect(refused?.message.contains("test tables") == true, "\(String(describing: refused))")
        let twice = #expect(throws: PluginError.self) { try DispatchPluginRegistry(tables: [exported, exported]) }
        #expect(twice?.code == .duplicateName)
    }

    @Test func defaultDirectoriesIsTheDirectoryOfTheResolvedBinary() throws {
        try withTemporaryDirectory("mserve-plugin-tests") { directory in
            try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: directory + "/bin/mserve", contents: Data())
            try FileManager.default.createSymbolicLink(atPath: directory + "/mserve-link", withDestinationPath: directory + "/bin/mserve")
            let found = DispatchPluginRegistry.defaultDirectories(executablePath: directory + "/mserve-link")
            #expect(found.count == 1)
            #expect(found.first?.hasSuffix("/bin") == true)
            let running = DispatchPluginRegistry.defaultDirectories(executablePath: "mserve")
            let selfDirectory = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            #expect(running == [(selfDirectory as NSString).deletingLastPathComponent])
        }
    }

    @Test func skipsMissingDirectoriesAndOtherFiles() throws {
        try withTemporaryDirectory("mserve-plugin-tests") { directory in
            _ = FileManager.default.createFile(atPath: directory + "/libsomething-else.so", contents: Data("x".utf8))
            let registry = try DispatchPluginRegistry(directories: [directory, directory + "/absent"], extraPaths: [""])
            #expect(registry.plugins.isEmpty)
        }
    }

    // MARK: Loading errors

    @Test func aMissingFileIsAnError() throws {
        let error = #expect(throws: PluginError.self) {
            try DispatchPluginRegistry(directories: [], extraPaths: ["/nonexistent/libmserve-algorithm-x.so"])
        }
        #expect(error?.code == .fileNotFound)
        #expect(error?.message.contains("/nonexistent/libmserve-algorithm-x.so") == true)
    }

    @Test func aFileThatIsNotASharedLibraryIsAnError() throws {
        try withTemporaryDirectory("mserve-plugin-tests") { directory in
            let path = directory + "/libmserve-algorithm-text.so"
            try "not a library".write(toFile: path, atomically: true, encoding: .utf8)
            let error = #expect(throws: PluginError.self) {
                try DispatchPluginRegistry(directories: [directory], extraPaths: [])
            }
            #expect(error?.code == .openFailed)
            #expect(error?.message.contains(path) == true)
        }
    }

    /// dlopen runs a library's constructors at once: a plugin file, or a directory holding one,
    /// that another user could change is refused before the file is opened.
    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func aPluginOthersCouldChangeIsRefusedBeforeItsCodeRuns() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let marker = directory + "/constructor-ran"
            let path = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(name: "watched") + CPluginCompiler.constructor(creating: marker),
                into: directory, fileName: "libmserve-algorithm-watched.so")
            func refusal() -> PluginError? {
                #expect(throws: PluginError.self) { try DispatchPluginRegistry(directories: [directory], extraPaths: []) }
            }

            #expect(chmod(path, 0o666) == 0)
            let writableFile = refusal()
            #expect(writableFile?.code == .controlledByOthers)
            #expect(writableFile?.message.contains("the dispatch plugin file \(path) has mode 0666") == true, "\(String(describing: writableFile))")
            #expect(writableFile?.message.contains("run chmod go-w \(path)") == true)
            #expect(!FileManager.default.fileExists(atPath: marker))

            // A sticky directory, as /tmp is, is refused too: others may still add files to it.
            #expect(chmod(path, 0o755) == 0)
            #expect(chmod(directory, 0o1777) == 0)
            let writableDirectory = refusal()
            #expect(writableDirectory?.code == .controlledByOthers)
            #expect(writableDirectory?.message.contains("the directory \(directory) of the dispatch plugin file \(path) has mode 1777") == true, "\(String(describing: writableDirectory))")
            // It is shared on purpose: the advice is to move the file, not to change its mode.
            #expect(writableDirectory?.message.contains("it is a shared directory (sticky, as /tmp is), so leave its mode") == true)
            #expect(writableDirectory?.message.contains("chmod") == false)
            #expect(!FileManager.default.fileExists(atPath: marker))
            #expect(chmod(directory, 0o700) == 0)

            if geteuid() == 0 {
                #expect(chown(path, 65_534, 65_534) == 0)
                let theirs = refusal()
                #expect(theirs?.code == .controlledByOthers)
                #expect(theirs?.message.contains("\(path) belongs to uid 65534") == true, "\(String(describing: theirs))")
                #expect(!FileManager.default.fileExists(atPath: marker))
                #expect(chown(path, 0, 0) == 0)
            }

            // A link to it lying in a directory others may write: they could point the link at
            // another file before the next start.
            try withTemporaryDirectory("mserve-plugin-links") { (links: String) throws in
                let link = links + "/watched.so"
                #expect(symlink(path, link) == 0)
                #expect(chmod(links, 0o777) == 0)
                let linked = #expect(throws: PluginError.self) { try DispatchPluginRegistry(directories: [], extraPaths: [link]) }
                #expect(linked?.code == .controlledByOthers)
                #expect(
                    linked?.message.hasPrefix("the directory \(links) of the link \(link) to the dispatch plugin file \(path) has mode 0777") == true,
                    "\(String(describing: linked))")
                #expect(!FileManager.default.fileExists(atPath: marker))
                #expect(chmod(links, 0o700) == 0)
            }

            // This user's file in this user's directory loads.
            let registry = try DispatchPluginRegistry(directories: [directory], extraPaths: [])
            #expect(registry.plugins.map(\.name) == ["watched"])
            #expect(FileManager.default.fileExists(atPath: marker))
        }
    }

    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func aLibraryWithoutTheEntrySymbolIsAnError() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let path = try await CPluginCompiler.compile(
                source: "int not_a_plugin(void) { return 1; }\n", into: directory, fileName: "libplain.so")
            let error = #expect(throws: PluginError.self) {
                try DispatchPluginRegistry(directories: [], extraPaths: [path])
            }
            #expect(error?.code == .missingSymbol)
            #expect(error?.message.contains(path) == true)
            #expect(error?.message.contains("mserve_dispatch_plugin_entry") == true)
        }
    }

    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func anotherABIVersionIsAnError() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let path = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(name: "future", abiVersion: "99"),
                into: directory,
                fileName: "libmserve-algorithm-future.so"
            )
            let error = #expect(throws: PluginError.self) {
                try DispatchPluginRegistry(directories: [directory], extraPaths: [])
            }
            #expect(error?.code == .abiVersionMismatch)
            #expect(error?.message.contains(path) == true)
            #expect(error?.message.contains("99") == true)
        }
    }

    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func aVersionOneTableIsReadWithoutTheFieldsItLacks() async throws {
        // Built with this header, the table has a `take`; version 1 says it does not, so the
        // broker must not read it (a real version 1 table ends before it).
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let path = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(name: "old", abiVersion: "1", takeBody: "return 0;"),
                into: directory, fileName: "old.so")
            let algorithm = try DispatchPluginRegistry(directories: [], extraPaths: [path]).makeAlgorithm("old")
            #expect(!algorithm.takesQueries)
            let servant = ServantView(id: 1, name: "s1", host: "h", capacity: 1)
            #expect(algorithm.take(servant: servant, routings: ["IBM"]) == nil)
            #expect(algorithm.choose(routing: "IBM", servants: [servant]) == 0)
        }
    }

    /// A C plugin that names a busy servant, or one past the list, is reported, and its choice
    /// is passed on as it is, for the broker to fail the query (docs/PLUGINS.md), never turned
    /// into a wait that could last until the query's deadline.
    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func aChoiceOfABusyOrMissingServantIsPassedOnAndReported() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let path = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(name: "first", chooseBody: "return count > 1 ? 5 : 0;"),
                into: directory, fileName: "first.so")
            let invalid = MessageLog()
            let algorithm = try DispatchPluginRegistry(directories: [], extraPaths: [path])
                .makeAlgorithm("first", onInvalidChoice: { invalid.append($0) })
            var servant = ServantView(id: 1, name: "s1", host: "h", capacity: 1)
            #expect(algorithm.choose(routing: "IBM", servants: [servant]) == 0)
            #expect(invalid.all.isEmpty)
            servant.inFlight = 1
            #expect(algorithm.choose(routing: "IBM", servants: [servant]) == 0)
            #expect(invalid.all.count == 1)
            #expect(invalid.all.last?.contains("chose busy servant s1") == true, "\(invalid.all)")
            let free = ServantView(id: 2, name: "s2", host: "h", capacity: 1)
            #expect(algorithm.choose(routing: "IBM", servants: [free, free]) == 5)
            #expect(invalid.all.count == 2)
            #expect(invalid.all.last?.contains("chose index 5 of 2 servants") == true, "\(invalid.all)")
        }
    }

    /// Only MSERVE_DISPATCH_WAIT (-1) means wait: any other negative index, or a negative id
    /// from a version 3 `choose_in`, is reported and passed on for the broker to fail the query
    /// at once (it waited out its deadline before).
    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func aNegativeChoiceOtherThanWaitIsPassedOnAndReported() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let version2 = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(
                    name: "negative", chooseBody: "return routing[0] == 'w' ? MSERVE_DISPATCH_WAIT : -5;"),
                into: directory, fileName: "negative.so")
            let version3 = try await CPluginCompiler.compile(
                source: """
                    #include "mserve_plugin.h"
                    static char state;
                    static void *create(const char *config) { (void)config; return &state; }
                    static void destroy(void *s) { (void)s; }
                    static void observe(void *s, const mserve_dispatch_event *e) { (void)s; (void)e; }
                    static int64_t choose_in(void *s, const char *routing, const char *function, uint32_t group) {
                        (void)s; (void)function; (void)group;
                        return routing[0] == 'w' ? MSERVE_DISPATCH_WAIT : -5;
                    }
                    static const mserve_dispatch_plugin table = {
                        3, "negative3", "test plugin", create, NULL, NULL, destroy, NULL, NULL, observe, choose_in
                    };
                    const mserve_dispatch_plugin *mserve_dispatch_plugin_entry(void) { return &table; }
                    """,
                into: directory, fileName: "negative3.so")
            let registry = try DispatchPluginRegistry(directories: [], extraPaths: [version2, version3])
            let invalid = MessageLog()
            let chooser = try registry.makeAlgorithm("negative", onInvalidChoice: { invalid.append($0) })
            let free = ServantView(id: 1, name: "s1", host: "h", capacity: 1)
            #expect(chooser.choose(routing: "wait", servants: [free]) == nil)
            #expect(invalid.all.isEmpty)
            #expect(chooser.choose(routing: "IBM", servants: [free]) == -5)
            #expect(invalid.all.last?.contains("chose index -5 of 1 servants") == true, "\(invalid.all)")

            let byEvents = try registry.makeAlgorithm("negative3", onInvalidChoice: { invalid.append($0) })
            #expect(byEvents.choose(routing: "wait", function: "proc1", group: 0) == nil)
            #expect(invalid.all.count == 1)
            let id = byEvents.choose(routing: "IBM", function: "proc1", group: 0)
            #expect(id != nil && id == UInt64(bitPattern: -5))
            #expect(invalid.all.last?.contains("chose servant id -5") == true, "\(invalid.all)")
        }
    }

    /// Every event but REMOVED carries the servant's capacity, as mserve_plugin.h says: a C
    /// plugin may divide by it. The plugin answers `choose_in` with the smallest capacity it
    /// saw (and -2 if it saw REMOVED carry anything but 0).
    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func everyEventButRemovedCarriesTheCapacity() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let path = try await CPluginCompiler.compile(
                source: """
                    #include "mserve_plugin.h"
                    static int64_t smallest = 1000;
                    static int removed_wrong = 0;
                    static void *create(const char *config) { (void)config; return &smallest; }
                    static void destroy(void *s) { (void)s; }
                    static void observe(void *s, const mserve_dispatch_event *e) {
                        (void)s;
                        if (e->kind == MSERVE_EVENT_REMOVED) { removed_wrong |= e->capacity != 0; return; }
                        if ((int64_t)e->capacity < smallest) smallest = e->capacity;
                    }
                    static int64_t choose_in(void *s, const char *routing, const char *function, uint32_t group) {
                        (void)s; (void)routing; (void)function; (void)group;
                        return removed_wrong ? -2 : smallest;
                    }
                    static const mserve_dispatch_plugin table = {
                        3, "capacities", "test plugin", create, NULL, NULL, destroy, NULL, NULL, observe, choose_in
                    };
                    const mserve_dispatch_plugin *mserve_dispatch_plugin_entry(void) { return &table; }
                    """,
                into: directory, fileName: "capacities.so")
            let registry = try DispatchPluginRegistry(directories: [], extraPaths: [path])
            let algorithm = try registry.makeAlgorithm("capacities", onInvalidChoice: { _ in })
            for event: DispatchEvent in [
                .ready(ServantView(id: 4, name: "s4", host: "h", capacity: 3)),
                .joined(servant: 4, group: 1),
                .dispatched(servant: 4, routing: "IBM", inFlight: 1),
                .completed(servant: 4, routing: "IBM", executionNanoseconds: 10, inFlight: 0),
                .left(servant: 4, group: 1),
                .unready(servant: 4),
            ] {
                algorithm.observe(event)
            }
            #expect(algorithm.choose(routing: "IBM", function: "proc1", group: 0) == 3)
            algorithm.observe(.removed(servant: 4))
            #expect(algorithm.choose(routing: "IBM", function: "proc1", group: 0) == 3, "REMOVED carries 0")
            // A servant this table never saw READY: still at least 1.
            algorithm.observe(.unready(servant: 9))
            #expect(algorithm.choose(routing: "IBM", function: "proc1", group: 0) == 1)
        }
    }

    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func aVersionTwoTakeGetsTheServantAndTheWaitingRoutingStrings() async throws {
        // Takes the query whose routing string is the servant's name; -1 (wait) when none is.
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let path = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(
                    name: "taker",
                    takeBody: """
                        for (size_t i = 0; i < count; i++) if (strcmp(routings[i], servant->name) == 0) return (int64_t)i;
                        return count == 1 ? 5 : MSERVE_DISPATCH_WAIT;
                        """),
                into: directory, fileName: "taker.so")
            let invalid = MessageLog()
            let algorithm = try DispatchPluginRegistry(directories: [], extraPaths: [path])
                .makeAlgorithm("taker", onInvalidChoice: { invalid.append($0) })
            #expect(algorithm.takesQueries)
            let servant = ServantView(id: 1, name: "s1", host: "h", capacity: 1)
            #expect(algorithm.take(servant: servant, routings: ["IBM", "MSFT", "s1", "s1"]) == 2)
            #expect(algorithm.take(servant: servant, routings: ["IBM", "MSFT"]) == nil)
            #expect(invalid.all.isEmpty)
            // An index past the routing strings is a wait, and logged.
            #expect(algorithm.take(servant: servant, routings: ["IBM"]) == nil)
            #expect(invalid.all.count == 1)
        }
    }

    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func aTableWithoutARequiredFunctionIsAnError() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let path = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(name: "partial", chooseFunction: "NULL"),
                into: directory,
                fileName: "partial.so"
            )
            let error = #expect(throws: PluginError.self) {
                try DispatchPluginRegistry(directories: [], extraPaths: [path])
            }
            #expect(error?.code == .invalidTable)
            #expect(error?.message.contains("choose") == true)
        }
    }

    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func anUnknownAlgorithmNameListsTheNamesFound() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let first = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(name: "alpha"), into: directory, fileName: "alpha.so")
            let second = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(name: "beta"), into: directory, fileName: "beta.so")
            let registry = try DispatchPluginRegistry(directories: [], extraPaths: [first, second])
            let error = #expect(throws: PluginError.self) { try registry.makeAlgorithm("gamma:1") }
            #expect(error?.code == .unknownAlgorithm)
            #expect(error?.message.contains("\"gamma\"") == true)
            #expect(error?.message.contains("alpha, beta") == true)
        }
    }

    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func twoFilesWithOneNameAreAnError() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let source = CPluginCompiler.pluginSource(name: "twin")
            let first = try await CPluginCompiler.compile(source: source, into: directory, fileName: "libmserve-algorithm-twin.so")
            let second = try await CPluginCompiler.compile(source: source, into: directory, fileName: "twin-copy.so")
            let error = #expect(throws: PluginError.self) {
                try DispatchPluginRegistry(directories: [directory], extraPaths: [second])
            }
            #expect(error?.code == .duplicateName)
            #expect(error?.message.contains(first) == true)
            #expect(error?.message.contains(second) == true)
        }
    }

    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func theSameFileReachedTwiceLoadsOnce() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let path = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(name: "once"), into: directory, fileName: "libmserve-algorithm-once.so")
            try FileManager.default.createSymbolicLink(atPath: directory + "/link.so", withDestinationPath: path)
            try FileManager.default.linkItem(atPath: path, toPath: directory + "/hard-link.so")
            let registry = try DispatchPluginRegistry(
                directories: [directory], extraPaths: [path, directory + "/link.so", directory + "/hard-link.so"])
            #expect(registry.plugins.map(\.name) == ["once"])
        }
    }

    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func aRefusedConfigurationIsAnError() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let path = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(
                    name: "picky", createBody: "return strcmp(config, \"ok\") == 0 ? &state : NULL;"),
                into: directory,
                fileName: "picky.so"
            )
            let registry = try DispatchPluginRegistry(directories: [], extraPaths: [path])
            _ = try registry.makeAlgorithm("picky:ok")
            let error = #expect(throws: PluginError.self) { try registry.makeAlgorithm("picky:bad") }
            #expect(error?.code == .createFailed)
            #expect(error?.message.contains(path) == true)
            #expect(error?.message.contains("\"bad\"") == true)
            #expect(throws: PluginError.self) { try registry.makeAlgorithm("picky") }
        }
    }

    // MARK: Checking what a plugin returns

    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func anOutOfRangeOrBusyChoiceIsPassedOnForTheBrokerToRefuseAndIsReported() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            let path = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(
                    name: "wild", chooseBody: "return routing[0] == 'o' ? (int64_t)count : 0;"),
                into: directory,
                fileName: "wild.so"
            )
            let log = MessageLog()
            let algorithm = try DispatchPluginRegistry(directories: [], extraPaths: [path])
                .makeAlgorithm("wild", onInvalidChoice: { log.append($0) })
            let free = ServantView(id: 1, name: "s1", host: "h", capacity: 1)
            let busy = ServantView(id: 2, name: "s2", host: "h", inFlight: 1, capacity: 1)
            #expect(algorithm.choose(routing: "in", servants: [free, busy]) == 0)
            #expect(algorithm.choose(routing: "out", servants: [free, busy]) == 2)
            #expect(algorithm.choose(routing: "in", servants: [busy, free]) == 0)
            #expect(log.all.count == 2)
            #expect(log.all.allSatisfy { $0.contains("wild") })
        }
    }

    @Test(.enabled(if: CPluginCompiler.available, "no /usr/bin/cc"))
    func servantViewsReachThePluginIntact() async throws {
        try await withTemporaryDirectory("mserve-plugin-tests") { directory in
            // Chooses the servant whose fields all match what the test sets for index 1.
            let chooseBody = """
                for (size_t i = 0; i < count; i++) {
                    const mserve_servant_view *v = &servants[i];
                    if (v->id == 42 && strcmp(v->name, "db2:5001") == 0 && strcmp(v->host, "db2") == 0
                        && v->in_flight == 3 && v->capacity == 4 && strcmp(v->last_routing, routing) == 0
                        && v->queries_served == 7 && v->mean_execution_ns == 1500) return (int64_t)i;
                }
                return MSERVE_DISPATCH_WAIT;
                """
            let path = try await CPluginCompiler.compile(
                source: CPluginCompiler.pluginSource(name: "fields", chooseBody: chooseBody),
                into: directory,
                fileName: "fields.so"
            )
            let algorithm = try DispatchPluginRegistry(directories: [], extraPaths: [path]).makeAlgorithm("fields")
            let servants = [
                ServantView(id: 41, name: "db1:5001", host: "db1", capacity: 4, lastRouting: "IBM"),
                ServantView(
                    id: 42, name: "db2:5001", host: "db2", inFlight: 3, capacity: 4, lastRouting: "ÎBM ✓",
                    queriesServed: 7, meanExecutionNanoseconds: 1500),
            ]
            #expect(algorithm.choose(routing: "ÎBM ✓", servants: servants) == 1)
            #expect(algorithm.choose(routing: "IBM", servants: servants) == nil)
        }
    }
}

/// The first free servant; refuses any configuration but "".
final class ConfiguredFirstFree: SwiftDispatchAlgorithm {
    init?(config: String) { guard config.isEmpty else { return nil } }
    func choose(routing: String, servants: [ServantView]) -> Int? { servants.firstIndex(where: \.isFree) }
}
