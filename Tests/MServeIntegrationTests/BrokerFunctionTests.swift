import MServeClient
import MServeProtocol
import QData
import MServeTestSupport
import Testing

extension IntegrationTests {
/// A client asks a running broker about itself with `.mserve.status[]` and
/// `.mserve.servants[]`: the broker answers from its own state, whatever `--allow` lists, and
/// the query never reaches a servant.
@Suite struct BrokerFunctionTests {
    @Test func theBrokerAnswersItsOwnFunctions() async throws {
        let cluster = try await ProcessCluster.start(servants: 2, brokerArguments: ["--allow", "proc1,echo", "--algorithm", "match:nowait", "--routing", "function,arg:1"])
        defer { cluster.stop() }
        #expect(await cluster.allServantsReady())
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }
        for value in 1...5 { _ = try await client.send("echo \(value)") }

        let status = try await client.send(".mserve.status[]")
        let counters = Dictionary(uniqueKeysWithValues: try #require(status.result.symbolKeyedPairs))
        #expect(counters["broker"] == .atom(.symbol(cluster.broker.endpoint)))
        #expect(counters["algorithm"] == .atom(.symbol("match:nowait")))
        #expect(counters["routing"] == .atom(.symbol("function,arg:1")))
        #expect(counters["lookAhead"] == .atom(.long(16)))
        #expect(counters["deadline"] == .atom(.timespan(60_000_000_000)))
        #expect(counters["answered"] == .atom(.long(5)))
        #expect(counters["queued"] == .atom(.long(0)))
        #expect(counters["servantsReady"] == .atom(.long(2)))
        #expect(counters["servantsKnown"] == .atom(.long(2)))
        // Answered by the broker: no routing string, no servant.
        #expect(status.routing == "")
        #expect(status.servant == "")

        let servants = try await client.send(".mserve.servants[]")
        guard case .table(let table, _) = servants.result else {
            Issue.record("not a table: \(servants.result)")
            return
        }
        #expect(table.columns.first == "name")
        guard case .vector(.symbol(let names), _) = table.values[0], case .vector(.long(let served), _) = table.values[5]
        else {
            Issue.record("unexpected columns: \(table.values)")
            return
        }
        #expect(Set(names) == cluster.servantNames)
        // The servants ran the five echo queries and none of the broker's.
        #expect(served.reduce(0, +) == 5)

        // As a parse form too, the way q's parse would send it.
        let asParseForm = try await client.send(query: .list([.atom(.symbol(".mserve.servants")), .identity]))
        if case .table = asParseForm.result {} else { Issue.record("not a table: \(asParseForm.result)") }

        await #expect {
            try await client.send(".mserve.shutdown[]")
        } throws: { error in
            guard let error = error as? ClientError else { return false }
            return error.code == .queryFailed && error.message.contains("not a broker function")
        }
        // Every answer counts, the broker's own too: five echoes, three calls and one refusal.
        let after = try await client.send(".mserve.status[]")
        #expect(after.result.symbolKeyedPairs?.first { $0.0 == "answered" }?.1 == .atom(.long(9)))
    }
}
}
