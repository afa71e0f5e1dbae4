import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A reply from a servant a query is no longer at — one the broker lost, whose queries went to
/// another servant — is dropped: the query stays in flight at the servant it went to, whose
/// answer is the one the client gets, once.
struct LateReplyTests {
    @Test func aLostServantsLateReplyLeavesTheQueryWithTheServantItWentTo() async throws {
        try await ScriptedBroker.run(servants: 2) { run in
            let (first, second) = (run.servants[0], run.servants[1])
            let firstBroker = try await first.becomeReady(capacity: 1)
            let secondBroker = try await second.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(2))

            try run.send(id: 7, "twice 7")
            // The first servant, first from the top, gets it; then says goodbye before answering.
            let (_, atFirst) = try await first.next(.query)
            try #require(atFirst.count == 2)
            try first.send(to: firstBroker, .bye, [])
            let (_, atSecond) = try await second.next(.query)
            try #require(atSecond.count == 2)
            #expect(atSecond[1] == atFirst[1], "the same query")
            #expect(atSecond[0] != atFirst[0], "under a tag of its own")

            // The first servant's answer comes late: it must not take the query from the second.
            try first.send(to: firstBroker, .reply, [atFirst[0], ScriptedServant.answer(id: 7, .atom(.long(-1)))])
            try second.send(to: secondBroker, .reply, [atSecond[0], ScriptedServant.answer(id: 7, .atom(.long(14)))])

            let answer = try #require(try await run.answer(), "the client got no answer")
            let (id, result) = try ScriptedServant.idAndResult(of: answer)
            #expect(id == .atom(.long(7)))
            #expect(result == .atom(.long(14)), "the answer of the servant the query is at")
            try run.client.setReceiveTimeout(milliseconds: 300)
            #expect(try await run.answer(within: .seconds(2)) == nil, "one answer per query")
        }
    }

    /// A servant's `served` (the status, `.mserve.servants[]`, `mserve_broker_servant_served_total`)
    /// counts the queries whose answer from it the broker passed on to their client, as the
    /// elapsed histogram does: a reply that comes after the query's deadline, once the client
    /// was told `deadline exceeded`, is not. Its execution time still counts in the servant's mean execution: the
    /// servant spent it.
    @Test func aReplyAfterTheDeadlineIsNotCountedAsServed() async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.client.send(
                QueryOptionsTests.query(id: 1, "twice 1", options: QueryOptionsTests.deadline(milliseconds: 200)))
            let (_, late) = try await servant.next(.query)
            try #require(late.count == 2)
            let expired = try #require(try await run.answer(), "the client got no answer")
            #expect("\(try QIPC.decode(expired).value)".contains("deadline exceeded"))
            // The servant answers after all, having worked 100 ms on it (less than the time since
            // the query was sent: the broker takes that figure as it is).
            try servant.send(
                to: broker, .reply,
                [late[0], ScriptedServant.answer(id: 1, .atom(.long(2))), WireInteger.encode(100_000_000)])
            #expect(await eventually { await run.broker.snapshot().inFlight == 0 }, "the late reply was not taken")
            var snapshot = await run.broker.snapshot()
            #expect(snapshot.servants.first?.served == 0, "its client never got it")
            #expect(snapshot.metrics.elapsed.count == 0)
            #expect(snapshot.metrics.queries(.deadline) == 1)

            // One answered in time is served, and in the histogram.
            try run.send(id: 2, "twice 2")
            let (_, onTime) = try await servant.next(.query)
            try #require(onTime.count == 2)
            try servant.send(
                to: broker, .reply, [onTime[0], ScriptedServant.answer(id: 2, .atom(.long(4))), WireInteger.encode(1)])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(4)))
            snapshot = await run.broker.snapshot()
            let status = try #require(snapshot.servants.first)
            #expect(status.served == 1)
            #expect(snapshot.metrics.elapsed.count == 1)
            #expect(status.meanExecution == .nanoseconds(50_000_000), "the mean of both replies' execution")
        }
    }
}
