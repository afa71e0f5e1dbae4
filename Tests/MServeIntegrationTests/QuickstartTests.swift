import Foundation
import MServeProtocol
import MServeClient
import QData
import MServeTestSupport
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
}
}
