import Foundation
import MServeClient
import QData
import MServeTestSupport
import Testing

extension IntegrationTests {
/// Application heartbeats: a wedged servant (SIGSTOP: the kernel and libzmq's I/O thread would
/// still answer, the servant does not) is taken out of dispatch within the liveness time, its
/// query goes to another servant, and it is used again once it answers again.
@Suite struct ServantLivenessTests {
    /// Runs `body` with a broker (`orig`, heartbeats every 0.2 s, liveness 2 s) over two
    /// servants of one thread each, both ready, a client, and the servants' names; the first
    /// servant, which a test may stop, is continued at the end.
    private static func withTwoServants(
        _ body: (ProcessCluster, QueryClient, [String]) async throws -> Void
    ) async throws {
        let cluster = try await ProcessCluster.start(
            servants: 2, threads: 1,
            // Ten heartbeats of liveness: the servant that keeps running must not look wedged
            // because a loaded machine held it back for a moment.
            brokerArguments: ["--algorithm", "orig", "--heartbeat", "0.2", "--liveness", "2"])
        defer {
            kill(cluster.servants[0].pid, SIGCONT)
            cluster.stop()
        }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }
        let names = cluster.servants.map { $0.endpoint.replacingOccurrences(of: "tcp://", with: "") }
        #expect(await eventually { cluster.broker.logs.occurrences(of: "servant ready") >= 2 })
        try await body(cluster, client, names)
    }

    @Test func aWedgedServantIsDroppedAndItsQueryRedispatched() async throws {
        try await Self.withTwoServants { cluster, client, names in
            // orig sends to the top free servant: the first. The query runs long enough to be
            // running still when the servant is stopped, however late this task gets to it.
            async let first = client.send("sleep 1500")
            try await Task.sleep(for: .milliseconds(50))
            kill(cluster.servants[0].pid, SIGSTOP)
            let reply = try await first
            #expect(reply.servant == names[1])
            #expect(cluster.broker.logs.contains("missed heartbeats"))

            // While it is stopped, every query goes to the other one.
            for index in 0..<3 {
                #expect(try await client.send("echo \(index)").servant == names[1])
            }

            kill(cluster.servants[0].pid, SIGCONT)
            #expect(await eventually { cluster.broker.logs.occurrences(of: "servant ready") >= 3 })
            // Two slow queries at once need both servants.
            async let one = client.send("sleep 300")
            async let two = client.send("sleep 300")
            let used = Set([try await one.servant, try await two.servant])
            #expect(used == Set(names))
        }
    }

    /// A wedged servant lost while it ran a query runs it on once it runs again: back in
    /// session, its READY says so, and the broker counts the query as holding its one place.
    /// The query, sent again when the servant was lost, then waits for the other servant
    /// rather than be queued at the wedged one behind its own first sending.
    @Test func aServantBackFromAPauseIsNotSentTheQueryItStillRuns() async throws {
        try await Self.withTwoServants { cluster, client, names in
            // orig sends the long one to the first servant, the other to the second.
            async let long = client.send("sleep 8000")
            try await Task.sleep(for: .milliseconds(100))
            async let short = client.send("sleep 3000")
            try await Task.sleep(for: .milliseconds(100))
            kill(cluster.servants[0].pid, SIGSTOP)
            #expect(await eventually(timeout: .seconds(30)) { cluster.broker.logs.contains("missed heartbeats") })
            // Running again, it is greeted on a new connection, and says it still runs the long one.
            kill(cluster.servants[0].pid, SIGCONT)

            #expect(try await short.servant == names[1])
            // Sent again, the long query went to the second servant once it was free, not back to
            // the first behind itself.
            let reply = try await long
            #expect(reply.servant == names[1], "\(cluster.broker.logs)")
        }
    }

    @Test func aServantRestartedOnTheSamePortIsUsedAgain() async throws {
        let cluster = try await ProcessCluster.start(servants: 1, threads: 1)
        defer { cluster.stop() }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }
        let before = try await client.send("pid[]")
        #expect(before.result == .atom(.int(cluster.servants[0].pid)))

        let endpoint = cluster.servants[0].endpoint
        await cluster.servants[0].crash()
        let restarted = try await MServeProcess("restarted servant", ["servant", "--bind", endpoint])
        defer { restarted.stop() }

        let after = try await client.send("pid[]")
        #expect(after.result == .atom(.int(restarted.pid)))
        #expect(after.servant == endpoint.replacingOccurrences(of: "tcp://", with: ""))
    }
}
}
