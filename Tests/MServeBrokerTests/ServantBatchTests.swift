import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// The broker sends the queries it dispatches to one servant in the same turn in one QUERY
/// message, up to the servant's and its own limit, and reads several answers from one REPLY.
/// The servant here is a script on a real ZeroMQ socket, so that the test sees every message.
struct ServantBatchTests {
    /// Starts a broker over one scripted servant, sends it `count` queries `(n; "twice n")` from
    /// a DEALER, and runs `body` once all of them wait in its queue (no servant is ready yet).
    private static func withQueuedQueries(
        _ count: Int, _ body: (ScriptedServant, ZMQSocket) async throws -> Void
    ) async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            for n in 1...count { try run.send(id: Int64(n), "twice \(n)") }
            #expect(await eventually { await run.broker.snapshot().queued == count })
            try await body(run.servants[0], run.client)
        }
    }

    /// Reads QUERY messages until `count` queries came; returns the pairs per message and the
    /// queries in the order they came, as (tag, (id; query) message).
    private static func queries(_ count: Int, at servant: ScriptedServant) async throws -> (perMessage: [Int], queries: [(UInt64, [UInt8])]) {
        var perMessage: [Int] = []
        var queries: [(UInt64, [UInt8])] = []
        while queries.count < count {
            let (_, frames) = try await servant.next(.query)
            try #require(frames.count >= 2 && frames.count % 2 == 0, "a QUERY holds tag and message pairs")
            perMessage.append(frames.count / 2)
            for first in stride(from: 0, to: frames.count, by: 2) {
                queries.append((try #require(WireInteger.decode(frames[first])), frames[first + 1]))
            }
        }
        return (perMessage, queries)
    }

    @Test func queuedQueriesLeaveInBatchesOfTheServantsLimitAndOneReplyAnswersThemAll() async throws {
        try await Self.withQueuedQueries(6) { servant, client in
            let (broker, hello) = try await servant.next(.hello)
            #expect(hello.count == 3)
            #expect(hello.count == 3 ? WireInteger.decode(hello[1]) == 32 : false, "HELLO names the broker's batch limit")
            #expect(hello.count == 3 ? WireInteger.decode(hello[2]) == 64 << 20 : false, "and its largest REPLY")
            try servant.send(to: broker, .ready, [ScriptedServant.readyInfo(capacity: 8, batch: 4)])
            let (perMessage, queries) = try await Self.queries(6, at: servant)
            #expect(perMessage == [4, 2])
            // Forwarded byte for byte, in arrival order.
            let ids = try queries.map { query -> QValue in
                guard case .list(let items, _) = try QIPC.decode(query.1).value else { return .identity }
                return items[0]
            }
            #expect(ids == (1...6).map { .atom(.long(Int64($0))) })

            var triples: [[UInt8]] = []
            for (index, query) in queries.enumerated() {
                let n = Int64(index + 1)
                triples += [
                    WireInteger.encode(query.0), ScriptedServant.answer(id: n, .atom(.long(2 * n))),
                    WireInteger.encode(1_000),
                ]
            }
            try servant.send(to: broker, .reply, triples)
            var answers: [Int64: Int64] = [:]
            for _ in 1...6 {
                let message = try #require(try await client.receiveFrames(within: .seconds(5))?.last)
                guard case .list(let items, _) = try QIPC.decode(message).value, items.count == 3,
                    case .atom(.long(let id)) = items[0], case .atom(.long(let result)) = items[1]
                else {
                    Issue.record("expected (id; result; info)")
                    continue
                }
                answers[id] = result
            }
            #expect(answers == Dictionary(uniqueKeysWithValues: (1...6).map { (Int64($0), Int64(2 * $0)) }))
        }
    }

    @Test func aServantThatNamesNoBatchGetsOneQueryPerMessage() async throws {
        try await Self.withQueuedQueries(5) { servant, _ in
            _ = try await servant.becomeReady(capacity: 8, batch: nil)
            #expect(try await Self.queries(5, at: servant).perMessage == [1, 1, 1, 1, 1])
        }
    }

    @Test func aBatchNeverExceedsTheServantsFreeCapacity() async throws {
        try await Self.withQueuedQueries(7) { servant, _ in
            _ = try await servant.becomeReady(capacity: 3, batch: 64)
            #expect(try await Self.queries(3, at: servant).perMessage == [3])
        }
    }
}
