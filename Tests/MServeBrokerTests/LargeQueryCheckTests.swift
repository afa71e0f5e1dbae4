import MServePlugin
import MServeProtocol
import MServeQuery
import MServeTestSupport
import MServeTesting
import QData
import Synchronization
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
            // A deadline the check of the large argument cannot run past on a loaded machine
            // (a debug build checks the 1 MB at a fraction of the release build's speed).
            let options = QValue.dictionary(["deadline": .atom(.timespan(120_000_000_000))])
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

    /// A routing hook that records the argument messages and default routing it is given.
    private final class RecordingHook: DispatchAlgorithm, @unchecked Sendable {
        // Unchecked: called on the broker's loop thread only, read by the test after the answer.
        let seen = Mutex<(arguments: [[UInt8]], defaultRouting: String)>(([], ""))
        var name: String { "recording-hook" }
        func choose(routing: String, servants: [ServantView]) -> Int? { servants.firstIndex(where: \.isFree) }
        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}
        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
            seen.withLock { $0 = (argumentMessages, defaultRouting) }
            return nil
        }
    }

    /// A routing plugin gets a large argument as the IPC message of the value, made from its
    /// bytes in the frame, and the default routing the decoded value gives.
    @Test func aRoutingHookGetsALargeArgumentAsItsMessage() async throws {
        let hook = RecordingHook()
        try await ScriptedBroker.run(
            servants: 1, configure: { $0.dispatch.routing = try! RoutingSpec(parsing: "plugin:recording-hook") },
            algorithm: { hook }
        ) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.client.send(QIPC.encode(.list([.atom(.long(9)), .list([.atom(.symbol("twice")), Self.longs, .atom(.symbol("IBM"))])])))
            let (_, forwarded) = try await servant.next(.query)
            try #require(forwarded.count == 2)
            try servant.send(to: broker, .reply, [forwarded[0], ScriptedServant.answer(id: 9, .atom(.long(1)))])
            _ = try #require(try await run.answer(), "the client got no answer")
        }
        let (arguments, defaultRouting) = hook.seen.withLock { $0 }
        #expect(arguments == [QIPC.encode(Self.longs), QIPC.encode(.atom(.symbol("IBM")))])
        let expected = RoutingSpec.default.routingString(for: ParsedQuery(function: "twice", arguments: [Self.longs]))
        #expect(defaultRouting == expected.value)
    }
}
