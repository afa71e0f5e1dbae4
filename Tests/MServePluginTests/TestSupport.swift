import Foundation
import MServePlugin
import Synchronization
import Testing

/// Where the plugins built by SwiftPM are, and a registry of them.
enum BuiltPlugins {
    /// The names of the plugins the package builds.
    static let names = ["chbl", "even", "least-loaded", "match", "orig", "route-by-function"]

    /// The package root, from this file's path.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The build directory holding `libmserve-algorithm-*.so`: the test runner's own directory
    /// (the tests run from the build directory), else `.build/debug` under the package root.
    static let directory: String? = {
        var candidates = DispatchPluginRegistry.defaultDirectories()
        candidates.append(packageRoot + "/.build/debug")
        return candidates.first { directory in
            names.allSatisfy { FileManager.default.fileExists(atPath: "\(directory)/libmserve-algorithm-\($0).so") }
        }
    }()

    /// Whether every plugin has been built (`swift build` before `swift test`).
    static var available: Bool { directory != nil }

    /// Why tests of built plugins are skipped.
    static let skipReason: Comment = "plugins not built: run `swift build` before `swift test` (no libmserve-algorithm-*.so next to the test runner nor in .build/debug)"

    /// A registry of the built plugins.
    static func registry() throws -> DispatchPluginRegistry {
        try DispatchPluginRegistry(directories: [try #require(directory)], extraPaths: [])
    }

    /// A fresh algorithm from the built plugins.
    static func algorithm(_ spec: String) throws -> any DispatchAlgorithm {
        try registry().makeAlgorithm(spec)
    }
}

/// Builds throwaway C plugins with the system C compiler.
enum CPluginCompiler {
    /// The header directory, `plugins/include`.
    static let includeDirectory = BuiltPlugins.packageRoot + "/plugins/include"

    /// Whether `cc` is there.
    static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/cc") }

    /// A new empty directory under the temporary directory.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "mserve-plugin-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Compiles the C file `sourcePath` into `directory/fileName` as a shared library; returns its path.
    static func compile(sourcePath: String, into directory: String, fileName: String) throws -> String {
        let output = directory + "/" + fileName
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        process.arguments = ["-shared", "-fPIC", "-I", includeDirectory, "-o", output, sourcePath]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "cc failed on \(sourcePath)")
        return output
    }

    /// Compiles C `source` text into `directory/fileName`; returns the library's path.
    static func compile(source: String, into directory: String, fileName: String) throws -> String {
        let sourcePath = directory + "/" + fileName + ".c"
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        return try compile(sourcePath: sourcePath, into: directory, fileName: fileName)
    }

    /// The source of a small plugin; each argument is C text for one part of the table.
    static func pluginSource(
        name: String,
        abiVersion: String = "MSERVE_PLUGIN_ABI_VERSION",
        createBody: String = "return &state;",
        chooseBody: String = "return count > 0 ? 0 : MSERVE_DISPATCH_WAIT;",
        chooseFunction: String = "choose",
        routeBody: String? = nil
    ) -> String {
        """
        #include "mserve_plugin.h"
        #include <string.h>
        #include <stdio.h>
        static char state;
        static void *create(const char *config) { (void)config; \(createBody) }
        static int64_t choose(void *s, const char *routing, const mserve_servant_view *servants, size_t count) {
            (void)s; (void)routing; (void)servants; \(chooseBody)
        }
        static void completed(void *s, const mserve_servant_view *v, const char *r, uint64_t ns) {
            (void)s; (void)v; (void)r; (void)ns;
        }
        static void destroy(void *s) { (void)s; }
        static int64_t route(void *s, const mserve_query_view *query, char *out, size_t capacity) {
            (void)s; (void)query; (void)out; (void)capacity; \(routeBody ?? "return -1;")
        }
        static const mserve_dispatch_plugin table = {
            \(abiVersion), "\(name)", "test plugin \(name)", create, \(chooseFunction), completed, destroy,
            \(routeBody == nil ? "NULL" : "route")
        };
        const mserve_dispatch_plugin *mserve_dispatch_plugin_entry(void) { return &table; }
        """
    }
}

/// A stand-in for the broker's servant table: dispatches and completes queries the way the broker
/// does, so a test scripts a sequence and reads which servant took each query.
struct ScriptedServants {
    var servants: [ServantView]
    let algorithm: any DispatchAlgorithm

    /// `count` servants named s1, s2, … with `capacity` each.
    init(_ algorithm: any DispatchAlgorithm, count: Int, capacity: Int = 1) {
        self.algorithm = algorithm
        servants = (1...count).map {
            ServantView(id: UInt64($0), name: "s\($0)", host: "localhost", capacity: capacity)
        }
    }

    /// Asks the algorithm for a servant; on a choice, marks the query in flight there and returns its name.
    mutating func dispatch(_ routing: String) -> String? {
        guard let index = algorithm.choose(routing: routing, servants: servants) else { return nil }
        servants[index].inFlight += 1
        servants[index].lastRouting = routing
        return servants[index].name
    }

    /// Marks one query of servant `name` answered and tells the algorithm.
    mutating func complete(_ name: String, routing: String = "", nanoseconds: UInt64 = 1_000) {
        let index = servants.firstIndex { $0.name == name }!
        servants[index].inFlight -= 1
        let served = servants[index].queriesServed
        servants[index].meanExecutionNanoseconds =
            (servants[index].meanExecutionNanoseconds * served + nanoseconds) / (served + 1)
        servants[index].queriesServed += 1
        algorithm.completed(servant: servants[index], routing: routing, executionNanoseconds: nanoseconds)
    }

    /// Completes every query in flight.
    mutating func completeAll() {
        for servant in servants {
            for _ in 0..<servant.inFlight { complete(servant.name) }
        }
    }
}

/// Messages gathered from a `@Sendable` callback.
final class MessageLog: Sendable {
    private let messages = Mutex<[String]>([])

    /// Records one message.
    func append(_ message: String) { messages.withLock { $0.append(message) } }

    /// Everything recorded so far.
    var all: [String] { messages.withLock { $0 } }
}
