import Foundation
import MServeProtocol
import MServeClient
import QData
import MServeTestSupport
import POSIXSockets
import Testing

extension IntegrationTests {
/// The seed's sequence across real processes: a client sends (id; "proc1 `IBM"),
/// the broker routes it to a servant, the reply carries the table and the info dictionary.
@Suite struct QuickstartTests {
    @Test func proc1ReturnsTheTableAndTheInfoDictionary() async throws {
        let cluster = try await ProcessCluster.start(servants: 2)
        defer { cluster.stop() }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }

        let reply = try await client.send("proc1 `IBM")

        guard case .table(let table, _) = reply.result else {
            Issue.record("expected a table, got \(reply.result)")
            return
        }
        #expect(table.columns == ["time", "sym", "price", "size"])
        guard case .vector(.symbol(let symbols), _) = table.values[1] else {
            Issue.record("sym column is not symbols")
            return
        }
        #expect(symbols == Array(repeating: "IBM", count: 5))

        let keys = reply.infoEntries.map(\.0)
        #expect(keys == ["routing", "servant", "elapsed", "execution", "queued", "received"])
        #expect(reply.routing == "IBM")
        #expect(cluster.servantNames.contains(reply.servant ?? "none"))
        guard case .atom(.timespan(let elapsed)) = reply.info("elapsed"),
            case .atom(.timespan(let execution)) = reply.info("execution"),
            case .atom(.timespan(let queued)) = reply.info("queued"),
            case .atom(.timestamp(let received)) = reply.info("received")
        else {
            Issue.record("info types are wrong: \(reply.info)")
            return
        }
        #expect(elapsed >= execution)
        #expect(elapsed >= queued)
        #expect(execution > 0)
        let now = (Int64(Date().timeIntervalSince1970) - 946_684_800) * 1_000_000_000
        #expect(abs(now - received) < 60 * 1_000_000_000)
        #expect(reply.id == .atom(.long(1)))
    }

    @Test func aParseFormQueryIsRoutedLikeAString() async throws {
        let cluster = try await ProcessCluster.start(servants: 1)
        defer { cluster.stop() }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }

        let reply = try await client.send(query: .list([.atom(.symbol("proc2")), .vector(.symbol(["IBM", "MSFT"]))]))

        guard case .table(let table, _) = reply.result else {
            Issue.record("expected a table, got \(reply.result)")
            return
        }
        #expect(table.columns == ["sym", "vwap", "volume"])
        #expect(reply.result.description.contains("MSFT"))
    }

    @Test func theServantsOwnInfoIsKeptAndTheRoutingAdded() async throws {
        let cluster = try await ProcessCluster.start(servants: 1)
        defer { cluster.stop() }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }

        let reply = try await client.send("proc3 `AAPL")

        #expect(reply.info("rows") == .atom(.long(5)))
        #expect(reply.info("source") == .atom(.symbol("demo")))
        #expect(reply.routing == "AAPL")
        #expect(reply.info("elapsed") != nil)
        #expect(reply.infoEntries.first?.0 == "rows")
    }

    @Test func theDemoCommandShowsTheWholeSequence() async throws {
        let run = try await CommandRun.mserve(["demo"], timeout: 120)
        let text = run.output
        #expect(run.status == 0, "\(run.errors)")
        #expect(text.contains("q)send proc1 `IBM"))
        #expect(text.contains("time"))
        #expect(text.contains("routing"))
        #expect(text.contains("execution"))
        // The broker's own view: both servants, with what they served.
        #expect(text.contains("q)send .mserve.servants[]"))
        #expect(text.contains("lastRouting"))
        #expect(text.contains("q)select pid,port,role,service,up from spoke"))
        // The table lists the two servants and the broker (it is printed once the broker has
        // registered).
        let table = text.components(separatedBy: "q)select pid,port,role,service,up from spoke").last ?? ""
        #expect(table.components(separatedBy: " servant ").count - 1 == 2, "\(table)")
        #expect(table.components(separatedBy: " broker ").count - 1 == 1, "\(table)")
    }

    /// Ctrl-C (SIGINT) or SIGTERM while the demo waits for a query stops its servants and
    /// broker, which are in process groups of their own, and removes the hub's directory;
    /// the demo then ends by the signal, printing nothing more (not the query's failure as
    /// its broker stops, nor the spoke table). What it printed reaches a pipe line by line.
    @Test(arguments: [SIGINT, SIGTERM, SIGHUP])
    func aStoppedDemoStopsWhatItStartedAndRemovesItsHubDirectory(signal: Int32) async throws {
        try await withTemporaryDirectory("mserve-demo-stop") { temporary in
            let (demo, text, output) = try await Self.demoWaitingForItsQuery(temporary: temporary)
            defer { demo.kill() }
            // "servant 1 up at tcp://127.0.0.1:PORT …", "broker up at tcp://127.0.0.1:PORT …"
            let ports = text.split(separator: "\n").compactMap { line -> Int? in
                guard line.contains(" up at tcp://127.0.0.1:") else { return nil }
                return line.split(separator: ":").dropFirst(2).first.flatMap { Int($0.prefix { $0.isNumber }) }
            }
            #expect(ports.count == 3, "\(text)")
            let hubDirectory = try #require(Self.hubDirectory(of: demo.pid, in: temporary))
            #expect(FileManager.default.fileExists(atPath: hubDirectory))

            kill(demo.pid, signal)
            let ended = await eventually(timeout: .seconds(30)) { !demo.isRunning }
            #expect(ended)
            #expect(demo.terminationStatus == signal, "ends by the signal")
            _ = await output.waitForEnd()
            let after = String(String(decoding: output.bytes, as: UTF8.self).dropFirst(text.count))
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(after.isEmpty, "printed after the signal: \(after)")
            for port in ports {
                #expect(!TCPProbe.canConnect(host: "127.0.0.1", port: port, timeoutMilliseconds: 1_000), "port \(port)")
            }
            #expect(!FileManager.default.fileExists(atPath: hubDirectory))
            #expect(Self.processesStarted(by: demo.pid).isEmpty)
        }
    }

    /// A demo killed outright (`kill -9`) cannot stop its processes: they stop by themselves
    /// once it is gone (`MSERVE_STOP_WITH_PARENT`). The hub directory it left is removed by the
    /// next demo, which leaves alone a directory whose process runs, and a link.
    @Test func aKilledDemosProcessesStopByThemselves() async throws {
        try await withTemporaryDirectory("mserve-demo-kill") { temporary in
            let (demo, _, _) = try await Self.demoWaitingForItsQuery(temporary: temporary)
            defer { demo.kill() }
            #expect(Self.processesStarted(by: demo.pid).count == 3)

            demo.kill()
            await demo.waitUntilExit()
            let stopped = await eventually(timeout: .seconds(30)) { Self.processesStarted(by: demo.pid).isEmpty }
            #expect(stopped, "still running: \(Self.processesStarted(by: demo.pid))")
            let leftBehind = try #require(Self.hubDirectory(of: demo.pid, in: temporary))
            #expect(FileManager.default.fileExists(atPath: leftBehind))
            // One an older demo left, named for its process alone, is removed too.
            let olderLeftBehind = temporary + "/mserve-demo-\(demo.pid)"
            try FileManager.default.createDirectory(atPath: olderLeftBehind, withIntermediateDirectories: false)

            let running = temporary + "/mserve-demo-\(getpid())"
            let runningNamedSo = temporary + "/mserve-demo-\(getpid())-AbCdEf"
            for directory in [running, runningNamedSo] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            }
            let target = temporary + "/kept"
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
            let links = [temporary + "/mserve-demo-\(demo.pid + 100_000)", temporary + "/mserve-demo-\(demo.pid + 100_000)-AbCdEf"]
            for link in links {
                try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
            }

            let (next, _, _) = try await Self.demoWaitingForItsQuery(temporary: temporary)
            defer { next.kill() }
            #expect(!FileManager.default.fileExists(atPath: leftBehind))
            #expect(!FileManager.default.fileExists(atPath: olderLeftBehind))
            #expect(FileManager.default.fileExists(atPath: running))
            #expect(FileManager.default.fileExists(atPath: runningNamedSo))
            for link in links {
                #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target)
            }
            #expect(FileManager.default.fileExists(atPath: target))
            #expect(try FileManager.default.contentsOfDirectory(atPath: target).isEmpty, "the hub ran in the link's target")
            kill(next.pid, SIGTERM)
            #expect(await eventually(timeout: .seconds(30)) { !next.isRunning })
        }
    }

    /// The hub directory of the demo `pid` under `temporary`: `mserve-demo-PID-XXXXXX`, six
    /// random characters making its name one no other user could plant a link at beforehand.
    /// It must be a directory (not a link) of this user's alone (0700); nil when there is
    /// none, or more than one.
    static func hubDirectory(of pid: Int32, in temporary: String) -> String? {
        let prefix = "mserve-demo-\(pid)-"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []).filter { $0.hasPrefix(prefix) }
        guard names.count == 1, let name = names.first, name.utf8.count == prefix.utf8.count + 6 else { return nil }
        let path = temporary + "/" + name
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR, status.st_mode & 0o7777 == 0o700,
            status.st_uid == geteuid()
        else { return nil }
        return path
    }

    /// Starts `mserve demo 'sleep 15000'` with `temporary` as its TMPDIR and returns it once it
    /// has sent its query, with what it printed by then and the collector of its output.
    static func demoWaitingForItsQuery(temporary: String) async throws -> (SpawnedProcess, String, ByteCollector) {
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = temporary
        let demo = try SpawnedProcess(
            executable: MServeProcess.executable, arguments: ["demo", "sleep 15000"], environment: environment)
        let output = ByteCollector()
        output.collect(from: demo.standardOutput)
        ByteCollector().collect(from: demo.standardError)
        let waiting = await eventually(timeout: .seconds(60)) {
            String(decoding: output.bytes, as: UTF8.self).contains("q)send sleep 15000")
        }
        let text = String(decoding: output.bytes, as: UTF8.self)
        #expect(waiting, "\(text)")
        return (demo, text, output)
    }

    /// The processes whose environment says they stop with the process `parent`.
    static func processesStarted(by parent: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            return environment.split(separator: 0).contains { Array($0) == Array("MSERVE_STOP_WITH_PARENT=\(parent)".utf8) }
        }
    }
}
}
