import MServePlugin
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Synchronization
import Testing
import ZeroMQ

@testable import MServeBroker

/// An algorithm that takes queries for a free servant (the plugin's `take`) is asked, for each
/// free servant, before the waiting queries are offered to `choose` in arrival order, and the
/// query it takes goes to that servant.
struct QueryTakingTests {
    /// Takes the newest waiting query for any free servant; `choose` takes the first free one.
    private final class NewestFirstAlgorithm: DispatchAlgorithm {
        var name: String { "newest-first" }
        var takesQueries: Bool { true }

        func take(servant: ServantView, routings: [String]) -> Int? { routings.indices.last }

        func choose(routing: String, servants: [ServantView]) -> Int? { servants.firstIndex(where: \.isFree) }

        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}

        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
            nil
        }
    }

    @Test func theQueryAnAlgorithmTakesGoesToTheFreeServantFirst() async throws {
        try await ScriptedBroker.run(servants: 1, algorithm: { NewestFirstAlgorithm() }) { run in
            let servant = run.servants[0]
            // Three queries wait before the servant is ready.
            for n in 1...3 { try run.send(id: Int64(n), "twice \(n)") }
            #expect(await eventually { await run.broker.snapshot().queued == 3 })

            let brokerID = try await servant.becomeReady(capacity: 1)
            var order: [QValue] = []
            for _ in 1...3 {
                let (_, frames) = try await servant.next(.query)
                try #require(frames.count == 2)
                guard case .list(let items, _) = try QIPC.decode(frames[1]).value else {
                    Issue.record("a query that is not (id; query)")
                    return
                }
                order.append(items[0])
                try servant.send(
                    to: brokerID, .reply, [frames[0], QIPC.encode(.list([items[0], .atom(.long(0))]), messageType: .async)])
            }
            #expect(order == [.atom(.long(3)), .atom(.long(2)), .atom(.long(1))], "newest first, as the algorithm takes them")
        }
    }

    /// Records the servants `take` is asked for; takes the newest waiting query once accepting.
    /// `choose` gives the first free servant while choosing, and makes queries wait after.
    private final class RecordingTaker: DispatchAlgorithm, @unchecked Sendable {
        let asked = Mutex<[UInt64]>([])
        /// The names of the servants asked, accepting or not.
        let everAsked = Mutex<Set<String>>([])
        let choosing = Mutex(true)
        /// Whether the test asked for taking to start, whether it has, and the servant asked last.
        private let taking = Mutex((armed: false, accepting: false, lastAsked: UInt64?.none))
        var name: String { "recording-taker" }
        var takesQueries: Bool { true }

        /// Starts taking at the broker's next pass over the free servants, never in the middle
        /// of one: the loop's thread may be in a pass while the test's thread calls this.
        func acceptFromTheNextPass() { taking.withLock { $0.armed = true } }

        func take(servant: ServantView, routings: [String]) -> Int? {
            everAsked.withLock { $0.insert(servant.name) }
            let accepting = taking.withLock { state in
                // Servants are asked in list order (ascending ids): an id below the last one
                // asked begins a pass.
                if state.armed, !state.accepting, let last = state.lastAsked, servant.id < last {
                    state.accepting = true
                }
                state.lastAsked = servant.id
                return state.accepting
            }
            guard accepting else { return nil }
            asked.withLock { $0.append(servant.id) }
            return routings.indices.last
        }

        func choose(routing: String, servants: [ServantView]) -> Int? {
            choosing.withLock { $0 } ? servants.firstIndex(where: \.isFree) : nil
        }

        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}

        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
            nil
        }
    }

    /// The id of the query in a QUERY's `(id; query)` frame.
    private static func queryID(_ frames: [[UInt8]]) throws -> QValue {
        try #require(frames.count == 2)
        guard case .list(let items, _) = try QIPC.decode(frames[1]).value, items.count == 2 else {
            throw TestFailure("a query that is not (id; query)")
        }
        return items[0]
    }

    /// The free servants are asked in the order of the list, a busy one is passed over, and one
    /// with room for more is asked again until it is busy: with the first servant free for two
    /// queries, the second busy and the third free for one, `take` is asked for the first, the
    /// first again, then the third, and the queries it takes go there (the newest first).
    @Test func freeServantsAreAskedInListOrderPassingOverBusyOnes() async throws {
        let algorithm = RecordingTaker()
        try await ScriptedBroker.run(servants: 3, algorithm: { algorithm }) { run in
            let (first, second, third) = (run.servants[0], run.servants[1], run.servants[2])
            // The second servant, alone ready, gets query 1 from `choose` and keeps it: busy.
            _ = try await second.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            #expect(try Self.queryID(try await second.next(.query).frames) == .atom(.long(1)))

            // Queries 2 to 5 wait while the first (room for two) and the third (one) are free.
            algorithm.choosing.withLock { $0 = false }
            _ = try await first.becomeReady(capacity: 2)
            _ = try await third.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(3))
            for n in 2...5 { try run.send(id: Int64(n), "twice \(n)") }
            #expect(await eventually { await run.broker.snapshot().queued == 4 })

            // The waiting queries are offered again within a millisecond while a servant is
            // free: now `take` takes them, asked for each free servant in list order.
            algorithm.acceptFromTheNextPass()
            #expect(try Self.queryID(try await first.next(.query).frames) == .atom(.long(5)))
            #expect(try Self.queryID(try await first.next(.query).frames) == .atom(.long(4)))
            #expect(try Self.queryID(try await third.next(.query).frames) == .atom(.long(3)))
            #expect(await eventually { await run.broker.snapshot().queued == 1 })
            let asked = algorithm.asked.withLock { $0 }
            try #require(asked.count == 3)
            #expect(asked[0] == asked[1] && asked[1] < asked[2], "the first servant twice, then the third: \(asked)")
        }
    }

    /// Only the free servants that serve the function a waiting query calls are asked: with
    /// servants announcing `other`, `twice` and `other`, `twice`, and `other` alone, queries of
    /// `twice` are offered to the second and third (in list order), never to the first and
    /// fourth, which stay free and get nothing.
    @Test func onlyServantsServingAWaitingQuerysFunctionAreAsked() async throws {
        let algorithm = RecordingTaker()
        algorithm.choosing.withLock { $0 = false }
        try await ScriptedBroker.run(servants: 4, algorithm: { algorithm }) { run in
            let functions = [["other"], ["twice", "other"], ["twice"], ["other"]]
            for (index, (servant, served)) in zip(run.servants, functions).enumerated() {
                _ = try await servant.becomeReady(capacity: 1, functions: served, name: "s\(index)")
            }
            #expect(await run.servantsBecomeReady(4))
            for n in 1...2 { try run.send(id: Int64(n), "twice \(n)") }
            #expect(await eventually { await run.broker.snapshot().queued == 2 })

            algorithm.acceptFromTheNextPass()
            #expect(try Self.queryID(try await run.servants[1].next(.query).frames) == .atom(.long(2)))
            #expect(try Self.queryID(try await run.servants[2].next(.query).frames) == .atom(.long(1)))
            #expect(await eventually { await run.broker.snapshot().queued == 0 })
            #expect(algorithm.everAsked.withLock { $0 } == ["s1", "s2"])
        }
    }
}
