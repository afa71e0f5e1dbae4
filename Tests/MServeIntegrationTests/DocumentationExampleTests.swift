import Foundation
import MServeClient
import MServeTestSupport
import QData
import Testing

extension IntegrationTests {
    /// The C plugins docs/PLUGINS.md shows are compiled as printed, with the command it gives,
    /// and do what it says in a real broker and servant: a reader who copies them gets working
    /// code.
    @Suite struct DocumentationExampleTests {
        /// The ```c blocks of docs/PLUGINS.md, in order.
        static func cExamples() throws -> [String] {
            let text = try String(contentsOfFile: packageRoot + "/docs/PLUGINS.md", encoding: .utf8)
            var examples: [String] = []
            var current: [Substring]? = nil
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if current == nil, line == "```c" {
                    current = []
                } else if current != nil, line == "```" {
                    examples.append(current!.joined(separator: "\n") + "\n")
                    current = nil
                } else {
                    current?.append(line)
                }
            }
            return examples
        }

        /// The one example that defines `entrySymbol`, compiled into `directory`.
        static func compileExample(defining entrySymbol: String, named name: String, in directory: String) async throws -> String {
            let matching = try cExamples().filter { $0.contains("*\(entrySymbol)(void)") }
            try #require(matching.count == 1, "docs/PLUGINS.md should have one C example defining \(entrySymbol)")
            return try await DispatchPluginTests.compilePlugin(matching[0], named: name, in: directory)
        }

        /// README.md's servant and client, as printed, type-check against the modules this
        /// build made, with `MemberImportVisibility` on: a reader who copies them (with the
        /// dependencies the README names) gets a program.
        @Test(arguments: [
            ("## Writing a servant", "func priceOf(_ symbol: String) throws -> Double { 0 }\n"),  // the reader's own code
            ("## Writing a client", ""),
            (
                "### Registering a servant with the hub",
                "import Logging\nimport MServeServant\nlet functions = FunctionRegistry()\nlet logger = Logger(label: \"vwap-servant\")\n"
            ),
        ])
        func theReadmesExamplesTypeCheck(section heading: String, prelude: String) async throws {
            try await Self.typeCheck(prelude + Self.firstSwiftExample(in: "README.md", after: heading))
        }

        /// docs/PLUGINS.md's servant side of servant plugins, as printed, type-checks with the
        /// reader's own plugin API (the section before it) and a plugin list: it uses only what
        /// the products export.
        @Test func theServantPluginsServantSideExampleTypeChecks() async throws {
            let api = try Self.firstSwiftExample(in: "docs/PLUGINS.md", after: "### Writing a servant plugin in Swift")
            let servantSide = try Self.firstSwiftExample(
                in: "docs/PLUGINS.md", after: "### Using servant plugins from Swift (the servant's side)")
            try await Self.typeCheck(api + "let list = \"\"\n" + servantSide)
        }

        /// The first ```swift block after `heading` in the package's file `path`.
        static func firstSwiftExample(in path: String, after heading: String) throws -> String {
            let text = try String(contentsOfFile: packageRoot + "/" + path, encoding: .utf8)
            let section = try #require(text.range(of: heading), "\(path) has no section \(heading)")
            let rest = text[section.upperBound...]
            let start = try #require(rest.range(of: "```swift\n"))
            let end = try #require(rest[start.upperBound...].range(of: "```"))
            return String(rest[start.upperBound..<end.lowerBound])
        }

        /// Type-checks `source` as a program's main.swift against the modules this build made.
        static func typeCheck(_ source: String) async throws {
            try await withTemporaryDirectory("mserve-doc-readme") { directory in
                try source.write(toFile: directory + "/main.swift", atomically: true, encoding: .utf8)
                let build = MServeProcess.buildDirectory.path
                let moduleMaps = try FileManager.default.contentsOfDirectory(atPath: build)
                    .filter { $0.hasSuffix(".build") }
                    .map { build + "/" + $0 + "/module.modulemap" }
                    .filter { FileManager.default.fileExists(atPath: $0) }
                    .flatMap { ["-Xcc", "-fmodule-map-file=" + $0] }
                // With the upcoming feature the package's own targets build with: an example
                // must import every module whose members it uses (`.sigterm`: UnixSignals).
                let arguments =
                    ["swiftc", "-typecheck", "-enable-upcoming-feature", "MemberImportVisibility", "-I", build + "/Modules"]
                    + ["Sources/CZeroMQ", "Sources/CMalloc", "plugins/include"].flatMap { ["-I", packageRoot + "/" + $0] }
                    // The hub's database library's system module (MServeHub imports GRDB).
                    + ["-I", packageRoot + "/.build/checkouts/GRDB.swift/Sources/GRDBSQLite"]
                    + moduleMaps + [directory + "/main.swift"]
                // The driver leaves a TemporaryDirectory.* of its own in TMPDIR: this test's directory.
                let run = try await CommandRun.run(
                    URL(fileURLWithPath: "/usr/bin/env"), arguments, environment: ["TMPDIR": directory], timeout: 120)
                #expect(run.status == 0, "swiftc: \(run.errors)")
            }
        }

        @Test func theCDispatchPluginExampleDispatchesQueries() async throws {
            try await withTemporaryDirectory("mserve-doc-dispatch") { directory in
                let library = try await Self.compileExample(
                    defining: "mserve_dispatch_plugin_entry", named: "mserve-algorithm-first-free", in: directory)

                let cluster = try await ProcessCluster.start(
                    servants: 2, environment: ["MSERVE_PLUGINS": library, "MSERVE_ALGO": "first-free"])
                defer { cluster.stop() }
                let client = try QueryClient(endpoint: cluster.broker.endpoint)
                defer { client.close() }
                let reply = try await client.send("proc1 `IBM")
                #expect(reply.routing == "IBM")
                #expect(cluster.servantNames.contains(reply.servant ?? ""), "\(reply.info)")
                #expect(cluster.broker.logs.contains("first-free"))
            }
        }

        @Test func theCServantPluginExampleServesItsFunctions() async throws {
            try await withTemporaryDirectory("mserve-doc-servant") { directory in
                let library = try await Self.compileExample(defining: "mserve_servant_plugin_entry", named: "example", in: directory)

                let listed = try await CommandRun.mserve(["servant", "--plugins", library, "--list-functions"])
                #expect(listed.status == 0)
                #expect(listed.output.contains("total"), "\(listed.output)")
                #expect(listed.output.contains("hello"), "\(listed.output)")

                let cluster = try await ProcessCluster.start(
                    servants: 1, servantEnvironment: ["MSERVE_SERVANT_PLUGINS": library])
                defer { cluster.stop() }
                let client = try QueryClient(endpoint: cluster.broker.endpoint)
                defer { client.close() }
                #expect(try await client.send("total 1 2 3").result == .atom(.long(6)))
                #expect(try await client.send("hello[]").result == .string("hello from C"))
                await #expect {
                    try await client.send("total `a`b")
                } throws: { error in
                    (error as? ClientError)?.message == "total: type: expected longs"
                }
            }
        }
    }
}
