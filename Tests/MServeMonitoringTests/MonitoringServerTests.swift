import Foundation
import Logging
import MServeBroker
import MServeClient
import MServeMonitoring
import MServeServant
import MServeTesting
import MServeTestSupport
import POSIXSockets
import ServiceLifecycle
import Testing

/// The HTTP side of a broker: what each path answers, and only to GET.
struct MonitoringServerTests {
    static let quiet = Logger(label: "mserve.test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs a broker with `servants` servants and its HTTP side on a free loopback port.
    static func withBrokerHTTP(
        servants: Int, limits: MonitoringServer.ConnectionLimits = MonitoringServer.ConnectionLimits(),
        _ body: @Sendable (LocalCluster, Int) async throws -> Void
    ) async throws {
        try await LocalCluster.run(functions: BrokerMetricsTests.functions(), servants: servants) {
            cluster in
            let server = MonitoringServer(
                address: HTTPBindAddress(host: "127.0.0.1", port: 0),
                process: BrokerMonitor(broker: cluster.broker, service: "web"), sampleInterval: .milliseconds(100),
                limits: limits, logger: quiet)
            let group = ServiceGroup(services: [server], logger: quiet)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let port = try await server.port
                do {
                    try await body(cluster, port)
                } catch {
                    await group.triggerGracefulShutdown()
                    throw error
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    @Test func metricsStatusAndHealthOfABrokerWithServants() async throws {
        try await Self.withBrokerHTTP(servants: 2) { cluster, port in
            _ = await eventually { await cluster.broker.snapshot().servants.allSatisfy { $0.state == "ready" } }
            for value in 1...5 { _ = try await cluster.client.send("echo \(value)") }

            let metrics = try await http(port: port, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.contentType.hasPrefix("text/plain; version=0.0.4"))
            #expect(sample(metrics.body, "mserve_broker_queries_total", ["service": "web", "outcome": "answered"]) == 5)
            #expect(sample(metrics.body, "mserve_broker_servants", ["service": "web", "state": "ready"]) == 2)
            #expect(sample(metrics.body, "mserve_broker_queue_length", ["service": "web"]) == 0)
            let name = cluster.servantEndpoints[0].replacingOccurrences(of: "tcp://", with: "")
            #expect(sample(metrics.body, "mserve_broker_servant_state", ["service": "web", "servant": name, "state": "ready"]) == 1)
            let served = cluster.servantEndpoints.map {
                sample(metrics.body, "mserve_broker_servant_served_total", [
                    "service": "web", "servant": $0.replacingOccurrences(of: "tcp://", with: ""),
                ]) ?? -1
            }
            #expect(served.reduce(0, +) == 5)
            #expect((sample(metrics.body, "process_resident_memory_bytes") ?? 0) > 1_000_000)
            // A second scrape adds nothing that did not happen.
            let again = try await http(port: port, "/metrics")
            #expect(sample(again.body, "mserve_broker_queries_total", ["service": "web", "outcome": "answered"]) == 5)
            let servedAgain = cluster.servantEndpoints.map {
                sample(again.body, "mserve_broker_servant_served_total", [
                    "service": "web", "servant": $0.replacingOccurrences(of: "tcp://", with: ""),
                ]) ?? -1
            }
            #expect(servedAgain == served)

            let status = try await http(port: port, "/status.json")
            #expect(status.status == 200)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any])
            #expect(json["role"] as? String == "broker")
            #expect(json["service"] as? String == "web")
            #expect(json["answered"] as? Int == 5)
            let servants = try #require(json["servants"] as? [[String: Any]])
            #expect(servants.count == 2)
            #expect(servants.allSatisfy { $0["state"] as? String == "ready" })
            #expect(servants.compactMap { $0["lastRouting"] as? String }.contains("5"))

            // The history fills as the sampler runs.
            _ = try await eventually {
                let text = try await http(port: port, "/status.json").body
                let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                return (object?["history"] as? [Any])?.isEmpty == false
            }

            #expect(try await http(port: port, "/healthz").status == 200)
            let ready = try await http(port: port, "/readyz")
            #expect(ready.status == 200)
            #expect(ready.body == "ready: 2 servant(s) ready\n")

            let page = try await http(port: port, "/")
            #expect(page.status == 200)
            #expect(page.contentType.hasPrefix("text/html"))
            #expect(page.body.contains("status.json"))
            // Nothing from the network: no external script, style or font.
            #expect(!page.body.contains("http://") || !page.body.contains("src=\"http"))
            #expect(!page.body.contains("https://"))
        }
    }

    @Test func aBrokerWithoutAReadyServantIsNotReady() async throws {
        try await Self.withBrokerHTTP(servants: 0) { _, port in
            let ready = try await http(port: port, "/readyz")
            #expect(ready.status == 503)
            #expect(ready.body == "not ready: no servant is ready\n")
            #expect(try await http(port: port, "/healthz").status == 200)
        }
    }

    @Test(arguments: ["POST", "PUT", "DELETE", "PATCH"])
    func onlyGetIsServed(_ method: String) async throws {
        try await Self.withBrokerHTTP(servants: 0) { _, port in
            for path in ["/metrics", "/", "/healthz", "/nothing-here"] {
                let answer = try await http(method, port: port, path)
                #expect(answer.status == 405, "\(method) \(path)")
            }
            #expect(try await http(port: port, "/nothing-here").status == 404)
        }
    }

    /// HEAD is answered as GET, without the body (RFC 9110): a probe that uses it sees the
    /// status a GET gets.
    @Test func headIsAnsweredAsGetWithoutTheBody() async throws {
        try await Self.withBrokerHTTP(servants: 0) { _, port in
            for path in ["/healthz", "/metrics", "/", "/status.json"] {
                let answer = try await http("HEAD", port: port, path)
                #expect(answer.status == 200, "\(path)")
                #expect(answer.body.isEmpty, "\(path)")
            }
            // No servant: not ready, as a GET says.
            #expect(try await http("HEAD", port: port, "/readyz").status == 503)
            #expect(try await http("HEAD", port: port, "/nothing-here").status == 404)
        }
    }

    /// A GET with `Host: host` over a raw connection: the status code and the whole answer.
    static func get(port: Int, _ path: String, host: String) async throws -> (status: Int, answer: String) {
        try await send(port: port, "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
    }

    /// `request` (a whole request head) over a raw connection: the status code and the whole
    /// answer.
    static func send(port: Int, _ request: String) async throws -> (status: Int, answer: String) {
        let connection = try RawTCPConnection(port: port)
        defer { connection.close() }
        connection.send(request)
        let answer = await connection.readUntilClosed(timeout: .seconds(30)) ?? ""
        let status = answer.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? -1
        return (status, answer)
    }

    /// Bound to loopback, the HTTP side serves a loopback `Host` alone: a page whose name was
    /// rebound to 127.0.0.1 (DNS rebinding) cannot read the status or the metrics.
    @Test func aLoopbackBindRefusesAnotherHost() async throws {
        try await Self.withBrokerHTTP(servants: 0) { _, port in
            for host in ["evil.example", "evil.example:\(port)", "10.0.0.1", "127.0.0.1.evil.example", "[::2]:\(port)"] {
                for path in ["/status.json", "/metrics", "/"] {
                    let refused = try await Self.get(port: port, path, host: host)
                    #expect(refused.status == 421, "\(host) \(path): \(refused.answer)")
                    #expect(refused.answer.contains("serves only a loopback Host"), "\(host) \(path)")
                    #expect(!refused.answer.contains("mserve_broker"), "\(host) \(path)")
                }
            }
            for host in ["localhost", "localhost:\(port)", "LOCALHOST", "127.0.0.1", "127.0.0.1:\(port)", "[::1]", "[::1]:\(port)", "127.0.0.2"] {
                let served = try await Self.get(port: port, "/metrics", host: host)
                #expect(served.status == 200, "\(host): \(served.answer)")
                #expect(served.answer.contains("mserve_broker_queue_length"), "\(host)")
            }
        }
    }

    /// Bound to loopback, a request with more than one `Host` is refused with 400 (RFC 9110
    /// §7.2), whichever comes first: the one checked must be the one a client meant.
    @Test func aLoopbackBindRefusesMoreThanOneHost() async throws {
        try await Self.withBrokerHTTP(servants: 0) { _, port in
            for hosts in [["127.0.0.1", "evil.example"], ["evil.example", "127.0.0.1"], ["localhost", "localhost"]] {
                let head = hosts.map { "Host: \($0)\r\n" }.joined()
                let refused = try await Self.send(port: port, "GET /metrics HTTP/1.1\r\n\(head)Connection: close\r\n\r\n")
                #expect(refused.status == 400, "\(hosts): \(refused.answer)")
                #expect(refused.answer.contains("refused: the request has more than one Host"), "\(hosts)")
                #expect(!refused.answer.contains("mserve_broker"), "\(hosts)")
            }
        }
    }

    /// Bound to loopback, an absolute-form request target (`GET http://HOST/path`) is taken at
    /// its authority, not at its `Host` (RFC 9112 §3.2.2): a loopback one is served, another
    /// refused with 421 as another `Host` is, and one holding a user (`127.0.0.1@evil`) with 400.
    @Test func aLoopbackBindTakesTheAuthorityOfAnAbsoluteFormTarget() async throws {
        try await Self.withBrokerHTTP(servants: 0) { _, port in
            for (target, host) in [
                ("http://evil.example/metrics", "127.0.0.1"),
                ("HTTP://evil.example:\(port)/metrics", "localhost"), ("https://10.0.0.1/metrics", "127.0.0.1"),
                ("ftp://evil.example/metrics", "127.0.0.1"), ("http:///metrics", "127.0.0.1"),
            ] as [(String, String?)] {
                let head = host.map { "Host: \($0)\r\n" } ?? ""
                let refused = try await Self.send(port: port, "GET \(target) HTTP/1.1\r\n\(head)Connection: close\r\n\r\n")
                #expect(refused.status == 421, "\(target) \(host ?? "no Host"): \(refused.answer)")
                #expect(refused.answer.contains("serves only a loopback Host"), "\(target)")
                #expect(!refused.answer.contains("mserve_broker"), "\(target)")
            }
            // Without a Host, absolute-form or not, an HTTP/1.1 request is refused (RFC 9112 §3.2).
            for target in ["http://evil.example/metrics", "http://localhost/metrics"] {
                let noHost = try await Self.send(port: port, "GET \(target) HTTP/1.1\r\nConnection: close\r\n\r\n")
                #expect(noHost.status == 400, "\(target): \(noHost.answer)")
                #expect(noHost.answer.contains("refused: the request has no Host header"), "\(target)")
            }
            let invalid = try await Self.send(
                port: port, "GET http://127.0.0.1@evil.example/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            #expect(invalid.status == 400, "\(invalid.answer)")
            #expect(invalid.answer.contains("refused: the request's Host is not a host name or address"))
            for (target, host) in [
                ("http://127.0.0.1:\(port)/metrics", "evil.example"), ("http://localhost/metrics", "localhost"),
                ("http://[::1]:\(port)/metrics?x=1", "127.0.0.1"),
            ] as [(String, String?)] {
                let head = host.map { "Host: \($0)\r\n" } ?? ""
                let served = try await Self.send(port: port, "GET \(target) HTTP/1.1\r\n\(head)Connection: close\r\n\r\n")
                #expect(served.status == 200, "\(target) \(host ?? "no Host"): \(served.answer)")
                #expect(served.answer.contains("mserve_broker_queue_length"), "\(target)")
            }
        }
    }

    /// Bound to loopback, a request without `Host` is refused with 400, in HTTP/1.1 (RFC 9110
    /// §7.2) and HTTP/1.0 alike: it names no host to check. HTTP/1.0 with a `Host` is served.
    @Test func aLoopbackBindRefusesARequestWithoutHost() async throws {
        try await Self.withBrokerHTTP(servants: 0) { _, port in
            for version in ["HTTP/1.1", "HTTP/1.0"] {
                let refused = try await Self.send(port: port, "GET /metrics \(version)\r\nConnection: close\r\n\r\n")
                #expect(refused.status == 400, "\(version): \(refused.answer)")
                #expect(refused.answer.contains("refused: the request has no Host"), "\(version)")
                #expect(!refused.answer.contains("mserve_broker"), "\(version)")
            }
            let served = try await Self.send(port: port, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n")
            #expect(served.status == 200, "\(served.answer)")
            #expect(served.answer.contains("mserve_broker_queue_length"))
        }
    }

    /// A request after which the connection is to close (HTTP/1.0 without keep-alive, or
    /// `Connection: close` among other tokens) gets its answer and the connection closed at
    /// once. The server's idle timeout is 10 minutes here, so a connection closed within the
    /// reads' minute was closed for the request. HTTP/1.0 asking to be kept alive, and HTTP/1.1,
    /// are kept open, each request answered.
    @Test func aConnectionIsClosedAfterTheAnswerWhenTheRequestSaysSo() async throws {
        var limits = MonitoringServer.ConnectionLimits()
        limits.requestTimeout = .seconds(600)
        try await Self.withBrokerHTTP(servants: 0, limits: limits) { _, port in
            for request in [
                "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close, te\r\nTE: trailers\r\n\r\n",
            ] {
                let connection = try RawTCPConnection(port: port)
                defer { connection.close() }
                connection.send(request)
                let answer = await connection.readUntilClosed(timeout: .seconds(60))
                #expect(answer?.contains("200 OK") == true, "\(request): \(answer ?? "still open after a minute")")
            }
            for request in [
                "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n",
                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            ] {
                let connection = try RawTCPConnection(port: port)
                defer { connection.close() }
                connection.send(request + request)
                var answers = ""
                let giveUp = ContinuousClock.now + .seconds(60)
                while answers.components(separatedBy: "200 OK").count < 3, ContinuousClock.now < giveUp {
                    answers += String(decoding: await connection.receive(count: 1, timeout: .seconds(1)), as: UTF8.self)
                }
                #expect(answers.components(separatedBy: "200 OK").count == 3, "\(request): \(answers)")
                #expect(await connection.readUntilClosed(timeout: .milliseconds(200)) == nil, "\(request): closed")
            }
        }
    }

    /// Bound to loopback, a `Host` that is not `host[:port]` is refused with 400 (RFC 9110
    /// §7.2): a user part, a path, a port that is not a number.
    @Test func aLoopbackBindRefusesAnInvalidHost() async throws {
        try await Self.withBrokerHTTP(servants: 0) { _, port in
            for host in ["127.0.0.1@evil.example", "evil.example@127.0.0.1", "127.0.0.1/x", "localhost:http", "[::1", "127.0.0.1:\(port):1"] {
                let refused = try await Self.get(port: port, "/metrics", host: host)
                #expect(refused.status == 400, "\(host): \(refused.answer)")
                #expect(refused.answer.contains("refused: the request's Host is not a host name or address"), "\(host)")
                #expect(!refused.answer.contains("mserve_broker"), "\(host)")
            }
        }
    }

    @Test func aServantRemovedLeavesTheMetrics() async throws {
        try await Self.withBrokerHTTP(servants: 1) { cluster, port in
            _ = await eventually { await cluster.broker.snapshot().servants.first?.state == "ready" }
            cluster.broker.removeServant(endpoint: cluster.servantEndpoints[0])
            let gone = try await eventually {
                let metrics = try await http(port: port, "/metrics").body
                return sample(metrics, "mserve_broker_servants", ["service": "web", "state": "ready"]) == 0
                    && !metrics.contains("servant=\"")
            }
            #expect(gone)
            #expect(try await http(port: port, "/readyz").status == 503)
        }
    }

    @Test func aStoppedBrokerIsNotHealthy() async throws {
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        let broker = try Broker(configuration: configuration, logger: Self.quiet) { _ in InProcessFirstFreeAlgorithm() }
        let running = Task { try await broker.run() }
        _ = try await broker.clientEndpoint
        #expect(await BrokerMonitor(broker: broker, service: "web").refresh().live)
        broker.stop()
        try await running.value
        let monitor = BrokerMonitor(broker: broker, service: "web")
        let state = await monitor.refresh()
        #expect(!state.live)
        #expect(!state.ready)
    }

    /// A stopping broker (draining what it holds after SIGTERM) says so: `/healthz` answers
    /// `503 stopped` and `/readyz` 503, and the queries its stop ended are counted in what the
    /// HTTP side, which stops after it, shows; once the broker has stopped they stay.
    @Test func aStoppingBrokerSaysSoAndItsLastCountsAreShown() async throws {
        let hold = HeldFunction()
        defer { hold.release(1) }  // a failing test leaves no worker held
        var servantConfiguration = ServantConfiguration()
        servantConfiguration.endpoint = "tcp://127.0.0.1:0"
        let servant = try Servant(configuration: servantConfiguration, functions: hold.registry, logger: Self.quiet)
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        let broker = try Broker(configuration: configuration, logger: Self.quiet) { _ in InProcessFirstFreeAlgorithm() }
        let monitor = BrokerMonitor(broker: broker, service: "web")
        let server = MonitoringServer(
            address: HTTPBindAddress(host: "127.0.0.1", port: 0), process: monitor, sampleInterval: .milliseconds(100),
            logger: Self.quiet)
        // The HTTP side first, so that it stops last, as `mserve broker --http` runs it.
        let group = ServiceGroup(services: [server, servant, broker], logger: Self.quiet)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            broker.addServant(endpoint: try await servant.endpoint)
            let port = try await server.port
            let client = try QueryClient(endpoint: try await broker.clientEndpoint)
            defer { client.close() }
            _ = await eventually { await broker.snapshot().servants.first?.state == "ready" }
            async let held = try? client.send("hold 1")
            #expect(await eventually { hold.started }, "the query never started")
            // As SIGTERM does: the broker drains the held query (2 s), then the servant stops.
            await group.triggerGracefulShutdown()
            let stopped = await eventually { (try? await http(port: port, "/healthz"))?.status == 503 }
            #expect(stopped)
            #expect(try await http(port: port, "/healthz").body == "stopped\n")
            let ready = try await http(port: port, "/readyz")
            #expect(ready.status == 503)
            #expect(ready.body == "not ready: the broker is stopping\n")
            // The running query, ended when the drain time is up, is counted and shown.
            let counted = try await eventually {
                let metrics = try await http(port: port, "/metrics").body
                return sample(metrics, "mserve_broker_queries_total", ["service": "web", "outcome": "failed"]) == 1
            }
            #expect(counted)
            hold.release(1)
            _ = await held
            try await tasks.next()
            // Once the broker has stopped, its last counts stay.
            let metrics = String(decoding: await monitor.metrics(), as: UTF8.self)
            #expect(sample(metrics, "mserve_broker_queries_total", ["service": "web", "outcome": "failed"]) == 1)
            #expect(!(await monitor.refresh().live))
        }
    }

    /// An address already taken fails the start with a message naming the address, the flag
    /// and the system's reason, as a taken client endpoint does: not the event loop's own
    /// description of its `bind` call.
    @Test func anAddressInUseIsNamedWithTheFlagAndTheReason() async throws {
        let taken = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { TCPSocket.close(taken.descriptor) }
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        let broker = try Broker(configuration: configuration, logger: Self.quiet) { _ in InProcessFirstFreeAlgorithm() }
        let running = Task { try await broker.run() }
        defer { broker.stop() }
        _ = try await broker.clientEndpoint
        let server = MonitoringServer(
            address: HTTPBindAddress(host: "127.0.0.1", port: taken.port),
            process: BrokerMonitor(broker: broker, service: "web"), logger: Self.quiet)
        let expected = "cannot serve HTTP on 127.0.0.1:\(taken.port) (--http): Address already in use"
        let error = await #expect(throws: MonitoringError.self) { try await server.run() }
        #expect(error?.message == expected)
        let portError = await #expect(throws: MonitoringError.self) { _ = try await server.port }
        #expect(portError?.message == expected)
        broker.stop()
        try await running.value
    }

    /// `checkAvailable` tells a taken port before the server runs, in the words the server
    /// would fail with; a free port, or port 0, passes.
    @Test func aTakenAddressIsFoundBeforeTheServerRuns() async throws {
        let taken = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { TCPSocket.close(taken.descriptor) }
        let broker = try Broker(configuration: BrokerConfiguration(), logger: Self.quiet) { _ in InProcessFirstFreeAlgorithm() }
        let server = { (port: Int) in
            MonitoringServer(
                address: HTTPBindAddress(host: "127.0.0.1", port: port),
                process: BrokerMonitor(broker: broker, service: "web"), logger: Self.quiet)
        }
        let error = #expect(throws: MonitoringError.self) { try server(taken.port).checkAvailable() }
        #expect(error?.message == "cannot serve HTTP on 127.0.0.1:\(taken.port) (--http): Address already in use")
        #expect(throws: Never.self) { try server(0).checkAvailable() }
        #expect(throws: Never.self) { try server(LoopbackPort.free()).checkAvailable() }
    }
}
