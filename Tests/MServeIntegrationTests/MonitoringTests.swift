import Foundation
import MServeClient
import MServeTestSupport
import POSIXSockets
import QData
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension IntegrationTests {
    /// `--http` on real processes: a hub, servants and a broker on loopback, their metrics, the
    /// status page in a real browser (headless Chromium), and the safety rules of the flag.
    @Suite struct MonitoringTests {
        /// Headless Chromium (Debian's `chromium`, installed by scripts/setup).
        static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }

        static func get(_ port: Int, _ path: String) async throws -> (status: Int, body: String) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.timeoutInterval = 10
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as! HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
        }

        /// Runs Chromium headless on `url` with `arguments` (`--dump-dom`, `--screenshot=…`),
        /// giving the page's scripts `budget` milliseconds of virtual time; its standard output.
        static func browse(_ url: String, _ arguments: [String], budget: Int = 3_000) async throws -> String {
            try await withTemporaryDirectory("mserve-chromium") { profile in
                let run = try await CommandRun.run(
                    URL(fileURLWithPath: try #require(chromium)),
                    [
                        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)",
                        "--window-size=1280,860", "--virtual-time-budget=\(budget)",
                    ] + arguments + [url], timeout: 60)
                return run.output
            }
        }

        /// The servant rows the page drew: `name` → `state`.
        static func servantRows(_ dom: String) -> [String: String] {
            var rows: [String: String] = [:]
            let pattern = try! NSRegularExpression(pattern: #"<tr class="servant" data-name="([^"]*)" data-state="([^"]*)""#)
            for match in pattern.matches(in: dom, range: NSRange(dom.startIndex..., in: dom)) {
                let name = String(dom[Range(match.range(at: 1), in: dom)!])
                rows[name] = String(dom[Range(match.range(at: 2), in: dom)!])
            }
            return rows
        }

        @Test(.enabled(if: chromium != nil, "needs headless Chromium (scripts/setup installs it)"))
        func theStatusPageShowsTheServantsAndDropsOneKilled() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let hubHTTP = LoopbackPort.free()
                let hub = try await MServeProcess(
                    "hub",
                    ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory, "--liveness", "2", "--http", "\(hubHTTP)"])
                defer { hub.stop() }
                var servants: [MServeProcess] = []
                defer { for servant in servants { servant.stop() } }
                for index in 0..<2 {
                    servants.append(
                        try await MServeProcess(
                            "servant \(index + 1)", ["servant", "--bind", "tcp://127.0.0.1:0", "--hub", hub.endpoint]))
                }
                let brokerHTTP = LoopbackPort.free()
                let broker = try await MServeProcess(
                    "broker",
                    ["broker", "--clients", "tcp://127.0.0.1:0", "--hub", hub.endpoint, "--http", "127.0.0.1:\(brokerHTTP)"])
                defer { broker.stop() }
                let names = Set(servants.map { $0.endpoint.replacingOccurrences(of: "tcp://", with: "") })
                let ready = await eventually(timeout: .seconds(60)) {
                    (try? await Self.get(brokerHTTP, "/readyz"))?.body == "ready: 2 servant(s) ready\n"
                }
                #expect(ready, "\(broker.logs)")
                let client = try QueryClient(endpoint: broker.endpoint)
                defer { client.close() }
                for _ in 0..<20 { _ = try await client.send("proc1 `IBM") }

                // The page, once its script ran, shows both servants, ready.
                let page = "http://127.0.0.1:\(brokerHTTP)/"
                let dom = try await Self.browse(page, ["--dump-dom"])
                #expect(Self.servantRows(dom) == Dictionary(uniqueKeysWithValues: names.map { ($0, "ready") }), "\(dom)")
                #expect(dom.contains("MServe broker · default"))
                #expect(dom.contains(#"class="badge ok" id="readiness">ready<"#))

                // A screenshot for the README (MSERVE_UPDATE_SCREENSHOT=1 writes img/status-page.png).
                let update = ProcessInfo.processInfo.environment["MSERVE_UPDATE_SCREENSHOT"] == "1"
                try await withTemporaryDirectory("mserve-screenshot") { shotDirectory in
                    let shot = update ? packageRoot + "/img/status-page.png" : shotDirectory + "/status-page.png"
                    for _ in 0..<5 {
                        for _ in 0..<20 { _ = try await client.send("proc2 `MSFT") }
                        try await Task.sleep(for: .seconds(2))
                    }
                    _ = try await Self.browse(page, ["--screenshot=\(shot)"])
                    let png = try Data(contentsOf: URL(fileURLWithPath: shot))
                    #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))

                    // A servant killed: the hub drops it from the service, the broker lets it go, and
                    // the page no longer shows it.
                    let killed = servants[0].endpoint.replacingOccurrences(of: "tcp://", with: "")
                    await servants[0].crash()
                    var rows: [String: String] = [:]
                    let dropped = try await eventually(timeout: .seconds(60)) {
                        rows = Self.servantRows(try await Self.browse(page, ["--dump-dom"], budget: 1_000))
                        return rows.count == 1 && rows[killed] == nil
                    }
                    #expect(dropped, "\(rows)")

                    // The hub's page lists its spokes and the crash report.
                    let hubDOM = try await Self.browse("http://127.0.0.1:\(hubHTTP)/", ["--dump-dom"])
                    #expect(hubDOM.contains("MServe hub"))
                    #expect(hubDOM.components(separatedBy: #"<tr class="spoke""#).count - 1 >= 3, "\(hubDOM)")
                    #expect(hubDOM.contains(#"<tr class="crash">"#), "\(hubDOM)")
                    let metrics = try await Self.get(hubHTTP, "/metrics").body
                    #expect(metrics.contains(#"mserve_hub_spokes{role="servant",state="up"} 1"#), "\(metrics)")
                    #expect(metrics.contains("mserve_hub_crash_reports 1"), "\(metrics)")
                }
            }
        }

        @Test func theBrokersMetricsCountItsQueries() async throws {
            let port = LoopbackPort.free()
            let cluster = try await ProcessCluster.start(servants: 1, brokerArguments: ["--http", "127.0.0.1:\(port)"])
            defer { cluster.stop() }
            let client = try QueryClient(endpoint: cluster.broker.endpoint)
            defer { client.close() }
            for _ in 0..<3 { _ = try await client.send("echo 1") }
            await #expect(throws: (any Error).self) { try await client.send("fail 1") }
            let metrics = try await Self.get(port, "/metrics").body
            #expect(metrics.contains(#"mserve_broker_queries_total{service="default",outcome="answered"} 3"#), "\(metrics)")
            #expect(metrics.contains(#"mserve_broker_queries_total{service="default",outcome="servant_error"} 1"#))
            #expect(metrics.contains("# TYPE mserve_broker_query_elapsed_seconds histogram"))
            #expect(metrics.contains(#"mserve_broker_query_elapsed_seconds_count{service="default",algorithm="match"} 4"#), "\(metrics)")
            // A broker that serves no hub shows none of the hub's series.
            #expect(!metrics.contains("mserve_hub_"), "\(metrics)")
            #expect(try await Self.get(port, "/healthz").status == 200)
        }

        /// On SIGTERM the HTTP side stops after the broker: while the broker drains a running
        /// query, `/healthz` answers `503 stopped` and `/readyz` 503, where the listener used to
        /// close at once.
        @Test func theHTTPSideAnswersWhileTheBrokerDrains() async throws {
            let port = LoopbackPort.free()
            let cluster = try await ProcessCluster.start(servants: 1, brokerArguments: ["--http", "127.0.0.1:\(port)"])
            defer { cluster.stop() }
            #expect(await cluster.allServantsReady())
            let client = try QueryClient(endpoint: cluster.broker.endpoint)
            defer { client.close() }
            // Longer than the broker's drain (2 s): the broker drains for all of it.
            let running = Task { try? await client.send("sleep 5000") }
            let started = await eventually {
                let metrics = (try? await Self.get(port, "/metrics").body) ?? ""
                return metrics.contains(#"mserve_broker_queries_in_flight{service="default"} 1"#)
            }
            #expect(started)
            kill(cluster.broker.pid, SIGTERM)
            let stopped = await eventually(timeout: .seconds(10)) { (try? await Self.get(port, "/healthz"))?.status == 503 }
            #expect(stopped, "\(cluster.broker.logs)")
            #expect((try? await Self.get(port, "/healthz").body) == "stopped\n")
            #expect((try? await Self.get(port, "/readyz").status) == 503)
            _ = await running.value
            #expect(await eventually { !cluster.broker.isRunning })
        }

        /// Connections that send half a request and wait cannot take the broker's descriptors:
        /// beyond the HTTP side's cap (64 by default) they are closed at once, the others when
        /// they have sent no whole request for 10 seconds, and the broker answers its ZeroMQ
        /// clients throughout.
        @Test func halfRequestsBeyondTheCapAreRefusedAndTheRestTimeOut() async throws {
            let port = LoopbackPort.free()
            let cluster = try await ProcessCluster.start(servants: 1, brokerArguments: ["--http", "127.0.0.1:\(port)"])
            defer { cluster.stop() }
            // The endpoint line may come before the HTTP side listens.
            #expect(await eventually(timeout: .seconds(60)) { (try? await Self.get(port, "/healthz").status) == 200 })
            var halfRequests: [RawTCPConnection] = []
            for _ in 0..<(64 + 8) {
                let connection = try RawTCPConnection(port: port)
                connection.send("GET / HTTP/1.1\r\n")
                halfRequests.append(connection)
            }
            #expect(
                await eventually(timeout: .seconds(60)) { cluster.broker.logs.contains("refused an HTTP connection: too many open") },
                "\(cluster.broker.logs)")
            // The peer as the other lines write one: HOST:PORT.
            #expect(
                cluster.broker.logs.contains("peer=127.0.0.1:") && !cluster.broker.logs.contains("[IPv4]"),
                "\(cluster.broker.logs)")
            let client = try QueryClient(endpoint: cluster.broker.endpoint)
            defer { client.close() }
            #expect(try await client.send("echo 5").result == .atom(.long(5)))
            #expect(await eventually(timeout: .seconds(90)) { halfRequests.allSatisfy { $0.hasClosed } })
            #expect(try await Self.get(port, "/healthz").status == 200)
        }

        @Test func aBrokerServingTheHubInAutoModeShowsItOnItsListener() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let hubEndpoint = "tcp://127.0.0.1:\(LoopbackPort.free())"
                let environment = ["MSERVE_HUB_DIR": directory]
                let http = LoopbackPort.free()
                // Started first, the broker wins the hub's port and serves the hub.
                let broker = try await MServeProcess(
                    "broker",
                    [
                        "broker", "--clients", "tcp://127.0.0.1:0", "--hub", "auto", "--hub-endpoint", hubEndpoint,
                        "--http", "127.0.0.1:\(http)",
                    ], environment: environment)
                defer { broker.stop() }
                let servant = try await MServeProcess(
                    "servant", ["servant", "--bind", "tcp://127.0.0.1:0", "--hub", "auto", "--hub-endpoint", hubEndpoint],
                    environment: environment)
                defer { servant.stop() }
                var metrics = ""
                let shown = await eventually(timeout: .seconds(60)) {
                    metrics = (try? await Self.get(http, "/metrics").body) ?? ""
                    return metrics.contains(#"mserve_hub_spokes{role="servant",state="up"} 1"#)
                        && metrics.contains(#"mserve_hub_spokes{role="broker",state="up"} 1"#)
                }
                #expect(shown, "\(metrics)\n\(broker.logs)")
                #expect(metrics.contains("mserve_hub_database_open 1"), "\(metrics)")
                #expect(metrics.contains(#"mserve_broker_queries_total{service="default",outcome="answered"} 0"#), "\(metrics)")
                // status.json: the broker's, with the hub's beside it; health is the broker's.
                let status = try await Self.get(http, "/status.json").body
                let json = try #require(try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any])
                #expect(json["role"] as? String == "broker")
                let hub = try #require(json["hub"] as? [String: Any], "\(status)")
                #expect(hub["role"] as? String == "hub")
                #expect((hub["spokes"] as? [[String: Any]])?.count == 2, "\(status)")
                // Ready once the broker has its servant ready, which may come after the hub lists
                // the servant: the broker hears of it from the hub, then greets it.
                #expect(await eventually { (try? await Self.get(http, "/readyz").status) == 200 }, "\(broker.logs)")
                // The page shows the hub's spokes below the servants.
                if Self.chromium != nil {
                    let dom = try await Self.browse("http://127.0.0.1:\(http)/", ["--dump-dom"])
                    #expect(dom.contains("MServe broker · default"))
                    #expect(dom.components(separatedBy: #"<tr class="spoke""#).count - 1 == 2, "\(dom)")
                }
            }
        }

        /// The endpoint line means everything asked for is up: with `--http` on a taken port, a
        /// broker or hub prints nothing on standard output and fails with the HTTP error, found
        /// before it starts, so its log does not read as if it had run.
        @Test(arguments: ["broker", "hub"])
        func aTakenHTTPPortFailsBeforeTheEndpointIsPrinted(command: String) async throws {
            let taken = try TCPSocket.listen(host: "127.0.0.1", port: 0)
            defer { TCPSocket.close(taken.descriptor) }
            try await withTemporaryDirectory("mserve-hub") { directory in
                let endpoint = "tcp://127.0.0.1:\(LoopbackPort.free())"
                let arguments =
                    command == "broker"
                    ? ["broker", "--clients", endpoint, "--http", "\(taken.port)"]
                    : ["hub", "--bind", endpoint, "--dir", directory, "--http", "\(taken.port)"]
                let run = try await CommandRun.mserve(arguments)
                #expect(run.status == 1)
                #expect(run.output.isEmpty, "\(run.output)")
                #expect(run.errors.contains("Error: cannot serve HTTP on 127.0.0.1:\(taken.port) (--http)"), "\(run.errors)")
                // It never served: no start line, nor the stop lines of a run.
                for line in ["broker listening for clients", "hub serving", "stopping", "stopped"] {
                    #expect(!run.errors.contains(line), "\(line): \(run.errors)")
                }
            }
        }

        /// An HTTP side other machines can reach (bound to anything but loopback) says so once
        /// at start, at warning level: what anyone who reaches it can read, and how to protect
        /// it. A loopback bind, or a remote one accepted with `--http-allow-remote`, says nothing.
        @Test(arguments: ["broker", "hub"])
        func aBindOthersCanReachIsWarnedOf(command: String) async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                // The process's logs, from start to stop.
                func logs(_ http: [String]) async throws -> String {
                    let arguments =
                        command == "broker"
                        ? ["broker", "--clients", "tcp://127.0.0.1:0"] + http
                        : ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory] + http
                    let process = try await MServeProcess(command, arguments)
                    await process.stop()
                    return process.logs
                }
                let open = try await logs(["--http", "0.0.0.0:0"])
                let listening = try #require(open.range(of: "address=0.0.0.0:"), "\(open)")
                let port = try #require(Int(open[listening.upperBound...].prefix { $0.isNumber }), "\(open)")
                let warning =
                    "the HTTP side listens on 0.0.0.0:\(port) without authentication: anyone who reaches it can read "
                    + "the metrics and the status page (servant and spoke endpoints, hosts, pids, crash reasons); bind it "
                    + "to loopback (--http PORT) and let a local scraper or an authenticating proxy reach it, or firewall "
                    + "the port to the scrapers (--http-allow-remote accepts the bind without this warning)"
                let lines = open.split(separator: "\n").filter { $0.contains(warning) }
                #expect(lines.count == 1, "\(open)")
                #expect(lines.allSatisfy { $0.contains(" warning ") }, "\(lines)")
                for http in [["--http", "127.0.0.1:0"], ["--http", "0"], ["--http", "0.0.0.0:0", "--http-allow-remote"]] {
                    let quiet = try await logs(http)
                    #expect(quiet.contains("HTTP monitoring listening"), "\(http): \(quiet)")
                    #expect(!quiet.contains("the HTTP side listens on"), "\(http): \(quiet)")
                }
            }
        }

        /// The error names where the taken address came from: `MSERVE_HTTP` here.
        @Test func aTakenHTTPPortFromTheEnvironmentIsNamedSo() async throws {
            let taken = try TCPSocket.listen(host: "127.0.0.1", port: 0)
            defer { TCPSocket.close(taken.descriptor) }
            let run = try await CommandRun.mserve(
                ["broker", "--clients", "tcp://127.0.0.1:\(LoopbackPort.free())"], environment: ["MSERVE_HTTP": "\(taken.port)"])
            #expect(run.status == 1)
            #expect(run.errors.contains("Error: cannot serve HTTP on 127.0.0.1:\(taken.port) (MSERVE_HTTP)"), "\(run.errors)")
        }

        /// A hub whose endpoint is taken never starts its HTTP side: the user sees that one
        /// error, no error lines from the HTTP server's teardown.
        @Test func aHubWhoseEndpointIsTakenStartsNoHTTP() async throws {
            let taken = try TCPSocket.listen(host: "127.0.0.1", port: 0)
            defer { TCPSocket.close(taken.descriptor) }
            try await withTemporaryDirectory("mserve-hub") { directory in
                let run = try await CommandRun.mserve(
                    ["hub", "--bind", "tcp://127.0.0.1:\(taken.port)", "--dir", directory, "--http", "\(LoopbackPort.free())"])
                #expect(run.status == 1)
                #expect(run.output.isEmpty, "\(run.output)")
                #expect(run.errors.hasSuffix("Error: the hub endpoint tcp://127.0.0.1:\(taken.port) is in use\n"), "\(run.errors)")
                #expect(!run.errors.contains("HTTP monitoring listening"), "\(run.errors)")
                #expect(!run.errors.contains(" error "), "\(run.errors)")
            }
        }

        @Test func aRemoteBindUnderKeysIsRefusedWithoutTheAllowFlag() async throws {
            try await withTemporaryDirectory("mserve-keys") { keys in
                let refused = try await CommandRun.mserve(["broker", "--keys", keys, "--http", "0.0.0.0:0"])
                #expect(refused.status != 0)
                #expect(refused.errors.contains("--http-allow-remote"), "\(refused.errors)")
                // A port alone binds loopback: no flag needed (the broker then fails later, for
                // want of keys in the empty directory, not for --http).
                let loopback = try await CommandRun.mserve(["broker", "--keys", keys, "--http", "0"])
                #expect(!loopback.errors.contains("--http-allow-remote"), "\(loopback.errors)")
            }
        }
    }
}
