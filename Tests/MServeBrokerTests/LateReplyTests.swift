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
}
