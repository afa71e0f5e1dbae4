import MServeProtocol
import MServeQuery
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A query with an argument too large to decode is checked in the frame it came in
/// (``QueryParser/check(queryIn:range:routing:decodingArgumentsUpTo:)``): through a real broker,
/// it reaches the servant as the client wrote it (the options taken off), its routing string is
/// the one the decoded argument gives, and a call hidden in a large argument is refused.
struct LargeQueryCheckTests {
    static let longs = QValue.vector(.long((0..<200_000).map { Int64($0) * 3 }))

    @Test func aLargeArgumentGoesThroughCheckedInPlaceWithItsOptionsTakenOff() async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            let query = QValue.list([.atom(.symbol("twice")), Self.longs])
            let options = QValue.dictionary(["deadline": .atom(.timespan(5_000_000_000))])
            try run.client.send(QIPC.encode(.list([.atom(.long(7)), query, options])))

            let (_, forwarded) = try await servant.next(.query)
            try #require(forwarded.count == 2)
            // `(id; query)` without the options, the query's bytes as the client wrote them.
            #expect(forwarded[1] == QIPC.encode(.list([.atom(.long(7)), query])))
            try servant.send(to: broker, .reply, [forwarded[0], ScriptedServant.answer(id: 7, .atom(.long(1)))])

            let answer = try #require(try await run.answer(), "the client got no answer")
            guard case .list(let items, _) = try QIPC.decode(answer).value, items.count == 3,
                case .dictionary(_, .list(let values, _), _) = items[2]
            else {
                Issue.record("not (id; result; info)")
                return
            }
            let expected = RoutingSpec.default.routingString(for: ParsedQuery(function: "twice", arguments: [Self.longs]))
            #expect(values.first == .atom(.symbol(expected.value)))
        }
    }

    @Test func aCallHiddenInALargeArgumentIsRefused() async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            _ = try await run.servants[0].becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            let hidden = QValue.list([Self.longs, .list([.atom(.symbol("system")), .string("rm -rf /")])])
            try run.client.send(QIPC.encode(.list([.atom(.long(8)), .list([.atom(.symbol("twice")), hidden])])))
            let answer = try #require(try await run.answer(), "the client got no answer")
            let (id, result) = try ScriptedServant.idAndResult(of: answer)
            #expect(id == .atom(.long(8)))
            guard case .error(let text) = result else {
                Issue.record("not refused: \(result)")
                return
            }
            #expect(text.contains("would be evaluated as a call to `system`"), "\(text)")
        }
    }
}
