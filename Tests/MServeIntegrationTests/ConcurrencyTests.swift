import MServeClient
import QData
import MServeTestSupport
import Testing

extension IntegrationTests {
/// Several clients, several servants, many queries in flight: every query gets its own answer.
@Suite struct ConcurrencyTests {
    @Test func manyClientsManyQueriesEachGetTheirOwnAnswer() async throws {
        let cluster = try await ProcessCluster.start(servants: 3, threads: 2)
        defer { cluster.stop() }
        let clients = try (0..<4).map { _ in try QueryClient(endpoint: cluster.broker.endpoint) }
        defer { clients.forEach { $0.close() } }

        let servantsUsed = try await withThrowingTaskGroup(of: String.self) { group in
            for (clientIndex, client) in clients.enumerated() {
                for query in 0..<100 {
                    group.addTask {
                        let value = Int64(clientIndex * 1_000 + query)
                        let reply = try await client.send("echo \(value)")
                        #expect(reply.result == .atom(.long(value)))
                        return reply.servant ?? ""
                    }
                }
            }
            var used: [String] = []
            for try await servant in group { used.append(servant) }
            return used
        }
        #expect(servantsUsed.count == 400)
        #expect(Set(servantsUsed).isSubset(of: cluster.servantNames))
        #expect(Set(servantsUsed).count > 1)
    }
}
}
