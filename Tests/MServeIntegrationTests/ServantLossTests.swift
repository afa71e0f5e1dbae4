import Foundation
import MServeClient
import MServeTestSupport
import QData
import Testing

extension IntegrationTests {
/// A servant that dies mid-query: its query goes to another servant; nothing is lost.
@Suite struct ServantLossTests {
    @Test func aQueryWhoseServantIsKilledIsAnsweredByAnother() async throws {
        let cluster = try await ProcessCluster.start(servants: 2, threads: 1, brokerArguments: ["--algorithm", "orig"])
        defer { cluster.stop() }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }
        // Make sure both servants are ready before the test starts.
        _ = try await client.send("echo 1")

        async let slow = client.send("sleep 1500")
        try await Task.sleep(for: .milliseconds(300))
        // orig sends the first query to the top servant.
        await cluster.servants[0].crash()

        let reply = try await slow
        #expect(reply.result == .atom(.long(1500)))
        #expect(reply.servant == cluster.servants[1].endpoint.replacingOccurrences(of: "tcp://", with: ""))
        #expect(cluster.broker.logs.contains("servant lost"))
    }

    @Test func withNoServantLeftTheQueryFailsAtItsDeadline() async throws {
        let cluster = try await ProcessCluster.start(servants: 1, threads: 1, brokerArguments: ["--deadline", "1"])
        defer { cluster.stop() }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }
        _ = try await client.send("echo 1")

        await cluster.servants[0].crash()
        try await Task.sleep(for: .milliseconds(200))

        await #expect {
            try await client.send("echo 2")
        } throws: { error in
            (error as? ClientError)?.message.contains("deadline exceeded") == true
        }
    }
}
}
