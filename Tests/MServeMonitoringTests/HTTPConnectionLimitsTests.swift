import Foundation
import Logging
import MServeMonitoring
import MServeTesting
import MServeTestSupport
import ServiceLifecycle
import Testing

/// The HTTP side keeps its connections bounded: one that does not send a whole request in time
/// is closed, and connections beyond the cap are closed at once while the others are served.
struct HTTPConnectionLimitsTests {
    /// Runs a broker's HTTP side with `limits` on a free loopback port.
    static func withHTTP(
        limits: MonitoringServer.ConnectionLimits, _ body: @Sendable (MonitoringServer, Int) async throws -> Void
    ) async throws {
        try await LocalCluster.run(functions: BrokerMetricsTests.functions(), servants: 1) { cluster in
            let server = MonitoringServer(
                address: HTTPBindAddress(host: "127.0.0.1", port: 0),
                process: BrokerMonitor(broker: cluster.broker, service: "web"), sampleInterval: .milliseconds(100),
                limits: limits, logger: MonitoringServerTests.quiet)
            let group = ServiceGroup(services: [server], logger: MonitoringServerTests.quiet)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let port = try await server.port
                do {
                    try await body(server, port)
                } catch {
                    await group.triggerGracefulShutdown()
                    throw error
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    /// `GET path` on a connection of its own, closed by the server after the answer.
    static func get(_ path: String, port: Int) async throws -> String {
        let connection = try RawTCPConnection(port: port)
        connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return await connection.readUntilClosed(timeout: .seconds(60)) ?? "(the connection stayed open)"
    }

    @Test func aConnectionThatSendsHalfARequestIsClosedAfterTheRequestTimeout() async throws {
        var limits = MonitoringServer.ConnectionLimits()
        limits.requestTimeout = .milliseconds(300)
        try await Self.withHTTP(limits: limits) { server, port in
            let halfRequest = try RawTCPConnection(port: port)
            halfRequest.send("GET / HTTP/1.1\r\n")
            let silent = try RawTCPConnection(port: port)
            #expect(await halfRequest.waitForClose(timeout: .seconds(60)))
            #expect(await silent.waitForClose(timeout: .seconds(60)))
            #expect(await eventually { server.openConnections == 0 })
            // A whole request is still answered.
            #expect(try await Self.get("/healthz", port: port).contains("200 OK"))
        }
    }

    @Test func connectionsBeyondTheCapAreClosedAtOnceWhileTheOthersAreServed() async throws {
        var limits = MonitoringServer.ConnectionLimits()
        limits.maxConnections = 4
        limits.requestTimeout = .seconds(600)
        try await Self.withHTTP(limits: limits) { server, port in
            // Three connections hold half a request each: one place is left.
            var idle: [RawTCPConnection] = []
            for _ in 0..<3 {
                let connection = try RawTCPConnection(port: port)
                connection.send("GET / HTTP/1.1\r\n")
                idle.append(connection)
                let open = idle.count
                #expect(await eventually { server.openConnections == open })
            }
            let health = try await Self.get("/healthz", port: port)
            #expect(health.contains("200 OK") && health.hasSuffix("ok\n"), "\(health)")
            #expect(await eventually { server.openConnections == 3 })

            // The fourth fills the cap; a fifth is closed without an answer.
            let fourth = try RawTCPConnection(port: port)
            fourth.send("GET / HTTP/1.1\r\n")
            idle.append(fourth)
            #expect(await eventually { server.openConnections == 4 })
            let refused = try RawTCPConnection(port: port)
            refused.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            #expect(await refused.readUntilClosed(timeout: .seconds(60)) == "")
            #expect(server.openConnections == 4)

            // A place freed is a place taken again.
            idle.removeFirst().close()
            #expect(await eventually { server.openConnections == 3 })
            #expect(try await Self.get("/healthz", port: port).contains("200 OK"))
        }
    }
}
