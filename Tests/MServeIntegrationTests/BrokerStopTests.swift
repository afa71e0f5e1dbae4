import Foundation
import MServeClient
import MServeTestSupport
import QData
import Testing

extension IntegrationTests {
/// A broker stopped on SIGTERM answers every query it holds: the queued ones with its shutdown
/// error, the running one with its result once the servant gives it, and it keeps its
/// connections open long enough for clients to read those last replies.
@Suite struct BrokerStopTests {
    /// `QueryClient` sets `ZMQ_IMMEDIATE`, with which libzmq drops a message received but not
    /// yet read when its connection ends: a broker closing right after its last reply lost it
    /// now and then (the client then reported no connection to the broker).
    @Test func theLastRepliesReachTheirClientBeforeTheBrokerCloses() async throws {
        for round in 1...3 {
            let cluster = try await ProcessCluster.start(servants: 1)
            defer { cluster.stop() }
            #expect(await cluster.allServantsReady())
            var configuration = ClientConfiguration()
            configuration.deadline = .seconds(60)
            let client = try QueryClient(endpoint: cluster.broker.endpoint, configuration: configuration)
            defer { client.close() }

            // One query runs at the servant (one thread), the other waits in the queue.
            let first = Task { try await client.send("sleep 1000") }
            let second = Task { try await client.send("sleep 1000") }
            try await Task.sleep(for: .milliseconds(300))
            kill(cluster.broker.pid, SIGTERM)
            var results: [QValue] = []
            var errors: [String] = []
            for query in [first, second] {
                do {
                    results.append(try await query.value.result)
                } catch let error as ClientError {
                    errors.append(error.message)
                }
            }
            let lastReplyAt = Date()
            #expect(results == [.atom(.long(1000))], "round \(round): \(results), \(errors)")
            #expect(errors.count == 1 && errors[0].contains("the broker is shutting down"), "round \(round): \(errors)")
            // The broker kept its sockets open a while after that last reply (a lower bound:
            // a loaded machine only makes it later).
            let exited = await eventually(timeout: .seconds(30)) { !cluster.broker.isRunning }
            #expect(exited)
            #expect(Date().timeIntervalSince(lastReplyAt) >= 0.15, "round \(round): the broker closed at once")
        }
    }
}
}
