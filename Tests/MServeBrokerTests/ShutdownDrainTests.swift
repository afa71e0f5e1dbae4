import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A broker that stops waits a little for the queries in flight, then answers what is left
/// with an error: every query gets its one answer, also one whose servant is lost meanwhile.
struct ShutdownDrainTests {
    @Test func aQueryWhoseServantIsLostWhileTheBrokerStopsIsAnsweredWithAnError() async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            let servant = run.servants[0]
            let brokerID = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 7, "twice 7")
            _ = try await servant.next(.query)

            // The broker stops and waits for the query; its servant leaves without answering.
            run.broker.stop()
            try await Task.sleep(for: .milliseconds(300))
            try servant.send(to: brokerID, .bye, [])

            let answer = try #require(try await run.answer(), "the client got no answer")
            let (id, result) = try ScriptedServant.idAndResult(of: answer)
            #expect(id == .atom(.long(7)))
            guard case .error(let message) = result else {
                Issue.record("expected an error, got \(result)")
                return
            }
            #expect(message.hasPrefix("mserve: "), "a broker's error says it is the broker's: \(message)")
            try await run.ended()
            try run.client.setReceiveTimeout(milliseconds: 300)
            #expect(try await run.answer(within: .seconds(2)) == nil, "one answer per query")
        }
    }

    @Test func aQueryStillRunningWhenTheDrainEndsGetsTheBrokersError() async throws {
        // A liveness far longer than the drain and this test's steps on a loaded machine (the
        // scripted servant's default): the servant stays, silent, with its query.
        try await ScriptedBroker.run(servants: 1) { run in
            let servant = run.servants[0]
            _ = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 8, "twice 8")
            _ = try await servant.next(.query)

            // The servant never answers: the broker's drain ends and it answers for it.
            run.broker.stop()
            let answer = try #require(try await run.answer(), "the client got no answer")
            let (id, result) = try ScriptedServant.idAndResult(of: answer)
            #expect(id == .atom(.long(8)))
            #expect(result == .error("mserve: the broker shut down before the servant answered"))
            // The info names the servant the query ran at.
            guard case .list(let items, _) = try QIPC.decode(answer).value, items.count == 3 else {
                Issue.record("expected (id; error; info), got \(answer)")
                return
            }
            #expect(items[2]["servant"] == .atom(.symbol(String(servant.endpoint.dropFirst("tcp://".count)))))
            try await run.ended()
        }
    }
}
