import Logging
import MServeBroker
import MServeClient
import MServeServant
import MServeTesting
import QData
import Testing

struct LocalClusterTests {
    @Test func aLocalClusterAnswersThroughABrokerAndServants() async throws {
        let servants = try await LocalCluster.run(functions: DemoFunctions.registry(), servants: 2) { cluster in
            var used: Set<String> = []
            for index in 0..<20 {
                let reply = try await cluster.client.send("echo \(index)")
                #expect(reply.result == .atom(.long(Int64(index))))
                #expect(reply.routing == "\(index)")
                used.insert(reply.servant ?? "")
            }
            let snapshot = await cluster.broker.snapshot()
            #expect(snapshot.servants.count == 2)
            #expect(snapshot.servants.allSatisfy { $0.state == "ready" })
            return used
        }
        #expect(!servants.isEmpty)
    }

    @Test func logsCanBeRecordedInMemory() async throws {
        let recorder = LogRecorder()
        let logger = recorder.logger(label: "test")
        try await LocalCluster.run(functions: DemoFunctions.registry(), servants: 1, logger: logger) { cluster in
            _ = try await cluster.client.send("echo 1")
        }
        #expect(recorder.messages.contains("servant ready"))
    }

    @Test func aStoppedBrokerAnswersSnapshotsAtOnce() async throws {
        let broker = try await LocalCluster.run(functions: DemoFunctions.registry(), servants: 1) { cluster in
            _ = try await cluster.client.send("echo 1")
            return cluster.broker
        }
        // What it held and counted when it stopped, marked stopping: a last scrape sees it.
        let snapshot = await broker.snapshot()
        #expect(snapshot.stopping)
        #expect(snapshot.inFlight == 0)
        #expect(snapshot.servants.map(\.served) == [1])
    }
}
