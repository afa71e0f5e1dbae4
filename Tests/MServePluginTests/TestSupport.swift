import Foundation
import MServePlugin
import MServeTestSupport
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

/// Builds throwaway C plugins with the system C compiler, into a test's temporary directory
/// (`withTemporaryDirectory("mserve-plugin-tests")`: 0700, as the loader refuses a plugin in a
/// directory others may write).
enum CPluginCompiler {
    /// The header directory, `plugins/include`.
    static let includeDirectory = BuiltPlugins.packageRoot + "/plugins/include"

    /// Whether `cc` is there.
    static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/cc") }

    /// Compiles the C file `sourcePath` into `directory/fileName` as a shared library; returns its path.
    static func compile(sourcePath: String, into directory: String, fileName: String) async throws -> String {
        let output = directory + "/" + fileName
        let compiler = try await SpawnedProcess.run(
            URL(fileURLWithPath: "/usr/bin/cc"), ["-shared", "-fPIC", "-I", includeDirectory, "-o", output, sourcePath])
        try #require(compiler.status == 0, "cc failed on \(sourcePath): \(compiler.errors)")
        // Whatever the umask: the loader refuses a plugin its group or others may write.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: output)
        return output
    }

    /// Compiles C `source` text into `directory/fileName`; returns the library's path.
    static func compile(source: String, into directory: String, fileName: String) async throws -> String {
        let sourcePath = directory + "/" + fileName + ".c"
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        return try await compile(sourcePath: sourcePath, into: directory, fileName: fileName)
    }

    /// C text for a constructor that creates the file `marker` when the library is loaded: how a
    /// test sees whether a library's code ran.
    static func constructor(creating marker: String) -> String {
        """

        #include <fcntl.h>
        #include <unistd.h>
        __attribute__((constructor)) static void mark_loaded(void) {
            int descriptor = open("\(marker)", O_WRONLY | O_CREAT, 0600);
            if (descriptor >= 0) close(descriptor);
        }
        """
    }

    /// The source of a small plugin; each argument is C text for one part of the table.
    static func pluginSource(
        name: String,
        abiVersion: String = "2",
        createBody: String = "return &state;",
        chooseBody: String = "return count > 0 ? 0 : MSERVE_DISPATCH_WAIT;",
        chooseFunction: String = "choose",
        routeBody: String? = nil,
        takeBody: String? = nil
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
        static int64_t take(void *s, const mserve_servant_view *servant, const char *const *routings, size_t count) {
            (void)s; (void)servant; (void)routings; (void)count; \(takeBody ?? "return MSERVE_DISPATCH_WAIT;")
        }
        static const mserve_dispatch_plugin table = {
            \(abiVersion), "\(name)", "test plugin \(name)", create, \(chooseFunction), completed, destroy,
            \(routeBody == nil ? "NULL" : "route"), \(takeBody == nil ? "NULL" : "take")
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

    /// Asks the algorithm which of `routings` servant `name` takes; on a choice, marks that query
    /// in flight there and returns its index.
    mutating func take(_ name: String, from routings: [String]) -> Int? {
        let index = servants.firstIndex { $0.name == name }!
        guard let taken = algorithm.take(servant: servants[index], routings: routings) else { return nil }
        servants[index].inFlight += 1
        servants[index].lastRouting = routings[taken]
        return taken
    }

    /// Completes every query in flight.
    mutating func completeAll() {
        for servant in servants {
            for _ in 0..<servant.inFlight { complete(servant.name) }
        }
    }
}

/// Servants driven as the broker drives a plugin of ABI version 3: READY once, then for each
/// query `choose(routing:function:group:)` (group 0) and DISPATCHED, and COMPLETED when it is
/// answered; unlike ``ScriptedServants``, each query names its function.
struct ServantsByEvents {
    var servants: [ServantView]
    let algorithm: any DispatchAlgorithm

    /// `count` servants named s1, s2, … with `capacity` each, each told to `algorithm` as READY.
    init(_ algorithm: any DispatchAlgorithm, count: Int, capacity: Int = 1) {
        precondition(algorithm.followsEvents, "\(algorithm.name) does not follow events")
        self.algorithm = algorithm
        servants = (1...count).map {
            ServantView(id: UInt64($0), name: "s\($0)", host: "localhost", capacity: capacity)
        }
        for servant in servants { algorithm.observe(.ready(servant)) }
    }

    /// Asks the algorithm for a servant for a query of `function` routed `routing`; on a
    /// choice, marks it in flight there (DISPATCHED) and returns the servant's name.
    mutating func dispatch(_ function: String, _ routing: String) -> String? {
        guard let id = algorithm.choose(routing: routing, function: function, group: 0) else { return nil }
        let index = servants.firstIndex { $0.id == id }!
        precondition(servants[index].isFree, "\(algorithm.name) chose \(servants[index].name), which is not free")
        servants[index].inFlight += 1
        servants[index].lastRouting = routing
        algorithm.observe(.dispatched(servant: id, routing: routing, inFlight: servants[index].inFlight))
        return servants[index].name
    }

    /// Marks the query of `routing` at servant `name` answered after `nanoseconds` (COMPLETED).
    mutating func complete(_ name: String, routing: String, nanoseconds: UInt64) {
        let index = servants.firstIndex { $0.name == name }!
        servants[index].inFlight -= 1
        algorithm.observe(
            .completed(
                servant: servants[index].id, routing: routing, executionNanoseconds: nanoseconds,
                inFlight: servants[index].inFlight))
    }

    /// Dispatches a query and completes it at once, after `warm` nanoseconds when its servant
    /// held `routing` (a warm run), else after `cold`; returns the servant's name, nil when the
    /// query was made to wait.
    @discardableResult
    mutating func run(_ function: String, _ routing: String, warm: UInt64, cold: UInt64) -> String? {
        let holders = Set(servants.filter { $0.lastRouting == routing }.map(\.name))
        guard let name = dispatch(function, routing) else { return nil }
        complete(name, routing: routing, nanoseconds: holders.contains(name) ? warm : cold)
        return name
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

/// A deterministic random number generator (SplitMix64), so that a random sequence that fails
/// replays the same way.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// Strings that catch a servant string cache comparing or copying wrongly: empty; short ones
/// that differ in one byte but not in length; lengths around the 8-byte word and the 15-byte
/// limit of Swift's small strings; prefixes of one another; long ones (> 64 bytes); non-ASCII;
/// and two that Swift calls equal (canonically equivalent) but whose bytes differ.
enum TrickyStrings {
    static let all: [String] = [
        "", "a", "IBM", "IBN", "MSFT", "abcdefg", "abcdefgh", "abcdefghi",
        "fifteen-bytes-x", "sixteen-bytes-xx", "seventeen-bytes-x",
        "db1.example.net:5001", "db1.example.net:5002",
        String(repeating: "r", count: 64), String(repeating: "r", count: 65),
        String(repeating: "long", count: 75),
        "caf\u{E9}", "cafe\u{301}", "ÎBM ✓", "日本語のルーティング文字列",
    ]
}

/// A servant view compared byte for byte: `ServantView`'s `==` compares strings by canonical
/// equivalence, under which "caf\u{E9}" and "cafe\u{301}" are equal though a plugin sees
/// different bytes.
struct ExactServantView: Equatable, CustomStringConvertible {
    var id: UInt64
    var name: [UInt8]
    var host: [UInt8]
    var inFlight: Int
    var capacity: Int
    var lastRouting: [UInt8]
    var queriesServed: UInt64
    var meanExecutionNanoseconds: UInt64

    init(_ view: ServantView) {
        id = view.id
        name = Array(view.name.utf8)
        host = Array(view.host.utf8)
        inFlight = view.inFlight
        capacity = view.capacity
        lastRouting = Array(view.lastRouting.utf8)
        queriesServed = view.queriesServed
        meanExecutionNanoseconds = view.meanExecutionNanoseconds
    }

    var description: String {
        "[\(id) \(String(decoding: name, as: UTF8.self)) \(String(decoding: host, as: UTF8.self)) "
            + "\(inFlight)/\(capacity) \(String(decoding: lastRouting, as: UTF8.self)) "
            + "\(queriesServed) \(meanExecutionNanoseconds)]"
    }
}

/// Random changes to a list of servants, as the broker's list changes between dispatch calls
/// (and some it never makes, such as reusing an id), to drive the servant string caches.
struct ServantListChanges {
    var servants: [ServantView] = []
    var generator: SeededGenerator
    private var nextID: UInt64 = 1
    /// Ids of servants removed, some of which come back (at another index, with other strings).
    private var removedIDs: [UInt64] = []

    init(seed: UInt64) { generator = SeededGenerator(seed: seed) }

    /// A string from `TrickyStrings`.
    mutating func anyString() -> String { TrickyStrings.all.randomElement(using: &generator)! }

    /// A new servant (or a removed id back with new strings).
    mutating func makeServant() -> ServantView {
        let id: UInt64
        if !removedIDs.isEmpty, Bool.random(using: &generator) {
            id = removedIDs.remove(at: Int.random(in: 0..<removedIDs.count, using: &generator))
        } else {
            id = nextID
            nextID += 1
        }
        return ServantView(
            id: id, name: anyString(), host: anyString(), inFlight: Int.random(in: 0...3, using: &generator),
            capacity: Int.random(in: 1...4, using: &generator), lastRouting: anyString())
    }

    /// A servant to pass to `completed`: one the list does not hold, or one of the list, its
    /// numbers (and maybe its last routing string) changed in the list as well, as the broker
    /// updates a servant whose query completed.
    mutating func servantToComplete() -> ServantView {
        if servants.isEmpty || Int.random(in: 0..<4, using: &generator) == 0 { return makeServant() }
        let index = Int.random(in: 0..<servants.count, using: &generator)
        if Bool.random(using: &generator) { servants[index].lastRouting = anyString() }
        servants[index].inFlight = max(0, servants[index].inFlight - 1)
        servants[index].queriesServed &+= 1
        return servants[index]
    }

    /// One random change: a string replaced or mutated in place, numbers changed, a servant
    /// added, removed or moved; several changes at once now and then.
    mutating func change() {
        let kind = Int.random(in: 0..<12, using: &generator)
        if servants.isEmpty || kind == 0 {
            servants.insert(makeServant(), at: Int.random(in: 0...servants.count, using: &generator))
            return
        }
        let index = Int.random(in: 0..<servants.count, using: &generator)
        switch kind {
        case 1:
            removedIDs.append(servants.remove(at: index).id)
        case 2:
            servants.swapAt(index, Int.random(in: 0..<servants.count, using: &generator))
        case 3:
            servants[index].name = anyString()
        case 4:
            servants[index].host = anyString()
        case 5:
            // Mutated in place: same length, one byte different, when the string is not empty.
            if let last = servants[index].lastRouting.popLast() {
                servants[index].lastRouting.append(last == "x" ? "y" : "x")
            }
        case 6:
            servants[index].lastRouting.append("+")
        case 7:
            servants[index].inFlight = Int.random(in: 0...4, using: &generator)
            servants[index].queriesServed &+= 1
            servants[index].meanExecutionNanoseconds = UInt64.random(in: 0...1_000_000, using: &generator)
        case 8:
            for _ in 0..<3 { change() }
        default:
            servants[index].lastRouting = anyString()
        }
    }
}
