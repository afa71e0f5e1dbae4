import Foundation
import MServeServant
import MServeTestSupport
import Testing

/// Loading servant plugins: good files load, and every bad one stops with an error naming it.
struct ServantPluginLoaderTests {
    @Test func theShippedPluginsLoadWithTheirFunctions() throws {
        let plugins = try ServantPluginLoader.load(paths: [PluginFiles.demoAPI, PluginFiles.stats])
        #expect(plugins.map(\.name) == ["demo-api", "stats"])
        #expect(plugins[0].functions.map(\.name) == ["proc1", "proc2", "proc3", "echo", "sleep", "fail", "pid"])
        #expect(plugins[0].functions.first { $0.name == "fail" }?.arity == 0...1)
        #expect(plugins[1].functions == [ServantPluginFunctionDescription(name: "stats", arity: 1...1)])
        let registry = FunctionRegistry(plugins: plugins)
        #expect(registry.names == ["echo", "fail", "pid", "proc1", "proc2", "proc3", "sleep", "stats"])
    }

    @Test func theSameFileTwiceIsLoadedOnce() throws {
        let plugins = try ServantPluginLoader.load(paths: [PluginFiles.stats, PluginFiles.stats])
        #expect(plugins.count == 1)
    }

    /// One file by two names, a hard link's included, is one plugin (dlopen, too, gives the
    /// same library for both): its functions are not served twice.
    @Test func theSameFileByAnotherNameIsLoadedOnce() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            let path = try await PluginFiles.compile(
                PluginFiles.cPlugin(name: "linked", functions: [("linked", 0, 1)]), named: "liblinked.so", in: directory)
            let symbolic = directory.appendingPathComponent("libsymbolic.so").path
            let hard = directory.appendingPathComponent("libhard.so").path
            try FileManager.default.createSymbolicLink(atPath: symbolic, withDestinationPath: path)
            try FileManager.default.linkItem(atPath: path, toPath: hard)
            let plugins = try ServantPluginLoader.load(paths: [path, symbolic, hard])
            #expect(plugins.map(\.name) == ["linked"])
        }
    }

    @Test func aMissingFileIsNamed() {
        let error = #expect(throws: ServantPluginError.self) {
            try ServantPluginLoader.load(paths: ["/nonexistent/libmserve-servant-x.so"])
        }
        #expect(error?.code == .fileNotFound)
        #expect(error?.message.contains("/nonexistent/libmserve-servant-x.so") == true)
    }

    @Test func aFileThatIsNotALibraryIsRefused() throws {
        try withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            let path = directory.appendingPathComponent("libtext.so").path
            try "not a library".write(toFile: path, atomically: true, encoding: .utf8)
            let error = #expect(throws: ServantPluginError.self) { try ServantPluginLoader.load(paths: [path]) }
            #expect(error?.code == .openFailed)
            #expect(error?.message.hasPrefix(path) == true)
        }
    }

    /// dlopen runs a library's constructors at once: a plugin file, or a directory holding one,
    /// that another user could change is refused before the file is opened.
    @Test func aPluginOthersCouldChangeIsRefusedBeforeItsCodeRuns() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            let marker = directory.appendingPathComponent("constructor-ran").path
            let source = PluginFiles.cPlugin(name: "watched", functions: [("watched", 0, 1)]) + """

                #include <fcntl.h>
                #include <unistd.h>
                __attribute__((constructor)) static void mark_loaded(void) {
                    int descriptor = open("\(marker)", O_WRONLY | O_CREAT, 0600);
                    if (descriptor >= 0) close(descriptor);
                }
                """
            let path = try await PluginFiles.compile(source, named: "libwatched.so", in: directory)
            func refusal() -> ServantPluginError? {
                #expect(throws: ServantPluginError.self) { try ServantPluginLoader.load(paths: [path]) }
            }

            #expect(chmod(path, 0o646) == 0)
            let writableFile = refusal()
            #expect(writableFile?.code == .controlledByOthers)
            #expect(writableFile?.message.contains("the servant plugin file \(path) has mode 0646, so its group may read it and other users may read and write it") == true, "\(String(describing: writableFile))")
            #expect(writableFile?.message.contains("run chmod go-w \(path)") == true)
            #expect(!FileManager.default.fileExists(atPath: marker))

            #expect(chmod(path, 0o755) == 0)
            #expect(chmod(directory.path, 0o770) == 0)
            let writableDirectory = refusal()
            #expect(writableDirectory?.code == .controlledByOthers)
            #expect(writableDirectory?.message.contains("the directory \(directory.path) of the servant plugin file \(path) has mode 0770") == true, "\(String(describing: writableDirectory))")
            #expect(!FileManager.default.fileExists(atPath: marker))
            #expect(chmod(directory.path, 0o700) == 0)

            if geteuid() == 0 {
                #expect(chown(directory.path, 65_534, 65_534) == 0)
                let theirs = refusal()
                #expect(theirs?.message.contains("the directory \(directory.path) of the servant plugin file \(path) belongs to uid 65534") == true, "\(String(describing: theirs))")
                #expect(!FileManager.default.fileExists(atPath: marker))
                #expect(chown(directory.path, 0, 0) == 0)
            }

            #expect(try ServantPluginLoader.load(paths: [path]).map(\.name) == ["watched"])
            #expect(FileManager.default.fileExists(atPath: marker))
        }
    }

    @Test func aLibraryWithoutTheEntrySymbolIsRefused() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            let source = PluginFiles.cPlugin(functions: [("f", 0, 1)], entryName: "some_other_entry")
            let path = try await PluginFiles.compile(source, named: "libnoentry.so", in: directory)
            let error = #expect(throws: ServantPluginError.self) { try ServantPluginLoader.load(paths: [path]) }
            #expect(error?.code == .missingSymbol)
            #expect(error?.message.contains("libnoentry.so") == true)
            #expect(error?.message.contains("mserve_servant_plugin_entry") == true)
        }
    }

    @Test func anotherABIVersionIsRefused() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            let source = PluginFiles.cPlugin(functions: [("f", 0, 1)], abiVersion: "99")
            let path = try await PluginFiles.compile(source, named: "libversion99.so", in: directory)
            let error = #expect(throws: ServantPluginError.self) { try ServantPluginLoader.load(paths: [path]) }
            #expect(error?.code == .abiVersionMismatch)
            #expect(error?.message.contains("libversion99.so") == true)
            #expect(error?.message.contains("99") == true)
        }
    }

    @Test func twoPluginsServingOneNameAreRefused() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            let path = try await PluginFiles.compile(
                PluginFiles.cPlugin(name: "rival", functions: [("proc1", 1, 1)]), named: "librival.so", in: directory)
            let error = #expect(throws: ServantPluginError.self) {
                try ServantPluginLoader.load(paths: [PluginFiles.demoAPI, path])
            }
            #expect(error?.code == .duplicateFunction)
            #expect(error?.message.contains("librival.so") == true)
            #expect(error?.message.contains("proc1") == true)
        }
    }

    @Test func malformedTablesAreRefused() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            let cases: [(String, [(String, Int, Int)])] = [
                ("libbadname.so", [("1st", 0, 1)]),
                ("libbuiltin.so", [("sum", 1, 1)]),
                ("libreserved.so", [(".z.ts", 0, 1)]),
                // The broker answers `.mserve.*` itself: a servant's would never be called.
                ("libbrokers.so", [(".mserve.foo", 0, 1)]),
                ("libbrokersown.so", [(".mserve", 0, 1)]),
                ("libbadarity.so", [("f", 2, 1)]),
                ("libtwice.so", [("f", 0, 1), ("f", 1, 1)]),
            ]
            for (file, functions) in cases {
                let path = try await PluginFiles.compile(PluginFiles.cPlugin(functions: functions), named: file, in: directory)
                let error = #expect(throws: ServantPluginError.self, "\(file)") {
                    try ServantPluginLoader.load(paths: [path])
                }
                #expect(error?.code == .invalidTable || error?.code == .duplicateFunction, "\(file)")
                #expect(error?.message.contains(file) == true, "\(file)")
            }
        }
    }

    @Test func pathListsSplitOnColonsAndTheDefaultIsTheDemoPlugin() {
        #expect(ServantPluginLoader.paths(fromList: "/a.so::/b.so:") == ["/a.so", "/b.so"])
        let defaults = ServantPluginLoader.defaultPaths(executablePath: MServeProcess.executable.path)
        #expect(defaults.count == 1)
        #expect(defaults.first?.hasSuffix("/" + ServantPluginLoader.demoPluginFileName) == true)
    }
}
