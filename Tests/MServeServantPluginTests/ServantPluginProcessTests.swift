import Foundation
import MServeClient
import QData
import MServeTestScheduling
import MServeTestSupport
import Testing

/// Real `mserve servant` processes serving plugins, behind a real broker. Each test starts
/// processes: they share the integration tests' two slots (``SlotTrait/processCluster``).
@Suite(.processCluster)
struct ServantPluginProcessTests {
    @Test func theCStatsPluginIsServedEndToEnd() async throws {
        let cluster = try await ProcessCluster.start(
            servants: 1, servantArguments: ["--plugins", PluginFiles.stats])
        defer { cluster.stop() }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }

        let reply = try await client.send("stats 1.0 2.0 3.0")
        let stats = ServantPluginCallTests.statistics(reply.result)
        #expect(stats["count"] == .atom(.long(3)))
        #expect(stats["mean"] == .atom(.float(2)))
        #expect(stats["min"] == .atom(.float(1)))
        #expect(stats["max"] == .atom(.float(3)))
        #expect(reply.servant != nil)

        // Only the plugin's functions are served: the demo API is not loaded.
        await #expect(throws: ClientError.self) { try await client.send("proc1 `IBM") }
    }

    @Test func errorsFromPluginFunctionsReachTheClientAndTheServantKeepsServing() async throws {
        let cluster = try await ProcessCluster.start(
            servants: 1,
            servantEnvironment: ["MSERVE_SERVANT_PLUGINS": "\(PluginFiles.stats):\(PluginFiles.demoAPI)"])
        defer { cluster.stop() }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }

        for (query, text) in [("stats `IBM", "stats: type:"), ("fail \"boom\"", "boom")] {
            do {
                let reply = try await client.send(query)
                Issue.record("\(query) was answered: \(reply.result)")
            } catch let error as ClientError {
                #expect(error.code == .queryFailed, "\(query)")
                #expect(error.message.hasPrefix(text), "\(query): \(error.message)")
            }
        }
        let stats = try await client.send(query: .list([.atom(.symbol("stats")), .vector(.long([2, 4]))]))
        #expect(ServantPluginCallTests.statistics(stats.result)["mean"] == .atom(.float(3)))
        #expect(try await client.send("echo 7").result == .atom(.long(7)))
        #expect(cluster.servants[0].isRunning)
    }

    @Test func withNoPluginsConfiguredTheDemoAPIIsServed() async throws {
        let cluster = try await ProcessCluster.start(
            servants: 1,
            servantEnvironment: ["MSERVE_SERVANT_PLUGINS": "", "Q_PLUGINS": ""])
        defer { cluster.stop() }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }

        let reply = try await client.send("proc1 `IBM")
        guard case .table(let table, _) = reply.result else {
            Issue.record("expected a table, got \(reply.result)")
            return
        }
        #expect(table.columns == ["time", "sym", "price", "size"])
        #expect(cluster.servants[0].logs.contains("demo-api"))
    }

    /// Unset, empty or only empty entries (`:`), MSERVE_SERVANT_PLUGINS names no file, and
    /// Q_PLUGINS is read.
    @Test(arguments: ["", ":", "::"])
    func qPluginsIsReadWhenMServeServantPluginsNamesNoFile(servantPlugins: String) async throws {
        let run = try await CommandRun.mserve(
            ["servant", "--list-functions"], environment: ["MSERVE_SERVANT_PLUGINS": servantPlugins, "Q_PLUGINS": PluginFiles.stats])
        #expect(run.status == 0)
        #expect(run.output.hasPrefix("stats\tarity 1\tstats\t"))
        #expect(!run.output.contains("proc1"))
    }

    /// Q_PLUGINS set for the original q mserve's servants names q scripts: refused at start
    /// as such, saying where q code runs and how to give this servant its plugins.
    @Test func aQScriptInQPluginsIsSaidToBeOne() async throws {
        let run = try await CommandRun.mserve(["servant", "--list-functions"], environment: ["Q_PLUGINS": "/opt/mserve/api.q"])
        #expect(run.status == 64)
        #expect(
            run.errors.contains(
                "Error: Q_PLUGINS: /opt/mserve/api.q is a q script (Q_PLUGINS lists q scripts for the original q mserve); an MServe servant loads shared libraries (docs/PLUGINS.md), and q code runs in a q servant given to the broker as kdb://HOST:PORT (docs/KDB.md); set MSERVE_SERVANT_PLUGINS (or --plugins) for this servant, or unset Q_PLUGINS"),
            "\(run.errors)")
    }

    @Test func listFunctionsPrintsWhatWouldBeServed() async throws {
        let run = try await CommandRun.mserve(
            ["servant", "--plugins", "\(PluginFiles.demoAPI):\(PluginFiles.stats)", "--list-functions"],
            environment: ["Q_PLUGINS": "/nonexistent.so"])
        #expect(run.status == 0)
        let names = run.output.split(separator: "\n").map { $0.split(separator: "\t")[0] }
        #expect(names == ["proc1", "proc2", "proc3", "echo", "sleep", "fail", "pid", "stats"])
    }

    /// `--plugins` given twice serves the plugins of both, as one colon-separated list would.
    @Test func pluginsGivenTwiceAreAllServed() async throws {
        let run = try await CommandRun.mserve(
            ["servant", "--plugins", PluginFiles.demoAPI, "--plugins", PluginFiles.stats, "--list-functions"])
        #expect(run.status == 0, "\(run.errors)")
        let names = run.output.split(separator: "\n").map { $0.split(separator: "\t")[0] }
        #expect(names == ["proc1", "proc2", "proc3", "echo", "sleep", "fail", "pid", "stats"])
    }

    @Test func aPluginOthersMayWriteStopsTheLaunchAsAUsageError() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            let path = directory.appendingPathComponent("libmserve-servant-stats.so").path
            try FileManager.default.copyItem(atPath: PluginFiles.stats, toPath: path)
            #expect(chmod(path, 0o666) == 0)
            let run = try await CommandRun.mserve(["servant", "--list-functions"], environment: ["MSERVE_SERVANT_PLUGINS": path])
            #expect(run.status == 64)
            #expect(run.errors.contains("MSERVE_SERVANT_PLUGINS: the servant plugin file \(path) has mode 0666"), "\(run.errors)")
            #expect(run.errors.contains("run chmod go-w \(path)"))
        }
    }

    @Test func aBadPluginStopsTheLaunchNamingTheFile() async throws {
        let run = try await CommandRun.mserve(["servant", "--plugins", "/nonexistent/libmserve-servant-gone.so"])
        #expect(run.status != 0)
        #expect(run.errors.contains("/nonexistent/libmserve-servant-gone.so"))
        #expect(run.output.isEmpty)
    }
}
