import MServePlugin
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A query goes only to a servant that serves its function (the `functions` of its READY), and
/// a query calling a function that no known servant serves is refused at once, saying why.
struct FunctionAwareDispatchTests {
    /// The id of the query in a QUERY's `(id; query)` frame.
    private static func queryID(_ frames: [[UInt8]]) throws -> QValue {
        try #require(frames.count == 2)
        guard case .list(let items, _) = try QIPC.decode(frames[1]).value, items.count == 2 else {
            throw TestFailure("a query that is not (id; query)")
        }
        return items[0]
    }

    @Test func aQueryGoesOnlyToAServantServingItsFunction() async throws {
        // The first free servant would take everything; the first serves only `twice`.
        try await ScriptedBroker.run(servants: 2) { run in
            let old = run.servants[0], new = run.servants[1]
            try await old.becomeReady(capacity: 4, functions: ["twice"])
            try await new.becomeReady(capacity: 4, functions: ["twice", "thrice"], incarnation: 10)
            #expect(await run.servantsBecomeReady(2))

            try run.send(id: 1, "thrice 1")
            let (_, thrice) = try await new.next(.query)
            #expect(try Self.queryID(thrice) == .atom(.long(1)))
            try run.send(id: 2, "twice 2")
            let (_, twice) = try await old.next(.query)
            #expect(try Self.queryID(twice) == .atom(.long(2)))
        }
    }

    @Test func aQueryWaitsForItsServantWhileOthersAreFree() async throws {
        try await ScriptedBroker.run(servants: 2) { run in
            let old = run.servants[0], new = run.servants[1]
            try await old.becomeReady(capacity: 1, functions: ["twice"])
            let newBroker = try await new.becomeReady(capacity: 1, functions: ["twice", "thrice"], incarnation: 10)
            #expect(await run.servantsBecomeReady(2))

            // The new servant is busy: the second `thrice` waits for it, beside a free servant.
            try run.send(id: 1, "thrice 1")
            let (_, first) = try await new.next(.query)
            try run.send(id: 2, "thrice 2")
            #expect(await eventually { await run.broker.snapshot().queued == 1 })
            // A `twice` behind it goes to the free servant meanwhile.
            try run.send(id: 3, "twice 3")
            let (_, twice) = try await old.next(.query)
            #expect(try Self.queryID(twice) == .atom(.long(3)))

            try new.send(to: newBroker, .reply, [first[0], ScriptedServant.answer(id: 1, .atom(.long(3)))])
            let (_, second) = try await new.next(.query)
            #expect(try Self.queryID(second) == .atom(.long(2)))
        }
    }

    @Test func aFunctionNoKnownServantServesIsRefusedAtOnceNamingTheServicesFunctions() async throws {
        try await ScriptedBroker.run(servants: 2) { run in
            // Before any servant announced its functions, a query waits as any query does.
            try run.send(id: 1, "vwap `IBM")
            #expect(await eventually { await run.broker.snapshot().queued == 1 })

            let old = run.servants[0], new = run.servants[1]
            try await old.becomeReady(capacity: 1, functions: ["twice"])
            try await new.becomeReady(capacity: 1, functions: ["twice", "thrice"], incarnation: 10)
            #expect(await run.servantsBecomeReady(2))
            // The waiting query is refused once the announcements show no servant serves it.
            let waited = try #require(try await run.answer())
            #expect(try ScriptedServant.idAndResult(of: waited).id == .atom(.long(1)))

            try run.send(id: 2, "vwap `MSFT")
            let answer = try #require(try await run.answer())
            let (id, result) = try ScriptedServant.idAndResult(of: answer)
            #expect(id == .atom(.long(2)))
            #expect(
                result == .error("mserve: no servant of this service serves the function vwap; its functions: thrice twice"))
            // The query never went to a servant.
            #expect(await run.broker.snapshot().inFlight == 0)

            // The very query that passed the checks before the announcements is refused now: a
            // query sent again skips its parse (CheckedQueryCache), not this check.
            try run.send(id: 3, "vwap `IBM")
            let again = try #require(try await run.answer(), "the repeated query was not refused")
            #expect(
                try ScriptedServant.idAndResult(of: again)
                    == (
                        .atom(.long(3)),
                        .error("mserve: no servant of this service serves the function vwap; its functions: thrice twice")
                    ))
        }
    }

    /// A query that came before any servant announced its functions waits; once a READY shows
    /// that no servant serves its function, it is refused with the error it would have had on
    /// arrival, not left to wait out its deadline. The queries behind it that a servant serves
    /// go on.
    @Test func aWaitingQueryNoAnnouncedServantServesIsRefusedAtTheReady() async throws {
        try await ScriptedBroker.run(
            servants: 1,
            // Longer than the test waits for an answer: only the refusal can answer in time.
            configure: { $0.dispatch.queryDeadline = .seconds(300) }
        ) { run in
            try run.send(id: 1, "nosuch `IBM")
            try run.send(id: 2, "twice 2")
            #expect(await eventually { await run.broker.snapshot().queued == 2 })
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)  // announces `twice`

            let refused = try #require(try await run.answer(), "the waiting query was not refused")
            let (id, result) = try ScriptedServant.idAndResult(of: refused)
            #expect(id == .atom(.long(1)))
            #expect(result == .error("mserve: no servant of this service serves the function nosuch; its functions: twice"))
            let (_, query) = try await servant.next(.query)
            guard case .list(let items, _) = try QIPC.decode(query[1]).value else {
                Issue.record("the servant got no query list")
                return
            }
            #expect(items.first == .atom(.long(2)), "the served query goes on")
            try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: 2, .atom(.long(4)))])
            let answered = try #require(try await run.answer())
            #expect(try ScriptedServant.idAndResult(of: answered) == (.atom(.long(2)), .atom(.long(4))))
        }
    }

    /// A query waiting for the only servant serving its function, which was lost, is refused
    /// at once when that servant is removed (the hub saw it go, or the operator removed it):
    /// no servant is coming for it, and a new query calling the function is refused so too.
    @Test func aWaitingQueryIsRefusedWhenTheLastServantServingItsFunctionIsRemoved() async throws {
        try await ScriptedBroker.run(
            servants: 2,
            // Longer than the test waits for an answer: only the refusal can answer in time.
            configure: {
                $0.dispatch.queryDeadline = .seconds(300)
                $0.dispatch.servantWait = .seconds(300)
            }
        ) { run in
            let twice = run.servants[0], thrice = run.servants[1]
            try await twice.becomeReady(capacity: 1, functions: ["twice"])
            let thriceBroker = try await thrice.becomeReady(capacity: 1, functions: ["thrice"], incarnation: 10)
            #expect(await run.servantsBecomeReady(2))
            // The servant serving `thrice` goes: a `thrice` query waits for it to come back.
            try thrice.send(to: thriceBroker, .bye, [])
            #expect(await eventually { await run.broker.snapshot().servants.map(\.state) == ["ready", "lost"] })
            try run.send(id: 1, "thrice 1")
            #expect(await eventually { await run.broker.snapshot().queued == 1 })

            run.broker.removeServant(endpoint: thrice.endpoint)
            let refused = try #require(try await run.answer(within: .seconds(20)), "the waiting query was not refused")
            #expect(
                try ScriptedServant.idAndResult(of: refused)
                    == (.atom(.long(1)), .error("mserve: no servant of this service serves the function thrice; its functions: twice")))
            #expect(await run.broker.snapshot().queued == 0)
        }
    }

    @Test func aServantAnnouncingNoFunctionsServesEveryFunction() async throws {
        try await ScriptedBroker.run(servants: 2) { run in
            let listed = run.servants[0], unlisted = run.servants[1]
            try await listed.becomeReady(capacity: 1, functions: ["twice"])
            try await unlisted.becomeReady(capacity: 1, functions: [], incarnation: 10)
            #expect(await run.servantsBecomeReady(2))

            // Both are free: the first `vwap` goes to the servant that announced no list, the
            // second waits for it, beside the free servant whose list lacks `vwap`.
            try run.send(id: 1, "vwap `IBM")
            let (_, query) = try await unlisted.next(.query)
            #expect(try Self.queryID(query) == .atom(.long(1)))
            try run.send(id: 2, "vwap `MSFT")
            #expect(await eventually { await run.broker.snapshot().queued == 1 })
            #expect(await run.broker.snapshot().inFlight == 1)
        }
    }

    /// Takes the newest waiting query it is offered; `choose` takes the first free servant.
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

    @Test func aServantTakesOnlyQueriesCallingItsFunctions() async throws {
        try await ScriptedBroker.run(servants: 2, algorithm: { NewestFirstAlgorithm() }) { run in
            let old = run.servants[0], new = run.servants[1]
            let newBroker = try await new.becomeReady(capacity: 1, functions: ["twice", "thrice"], incarnation: 10)
            #expect(await run.servantsBecomeReady(1))
            // The new servant is kept busy; then a `twice` and, newest, a `thrice` wait.
            try run.send(id: 1, "twice 1")
            let (_, first) = try await new.next(.query)
            try run.send(id: 2, "twice 2")
            try run.send(id: 3, "thrice 3")
            #expect(await eventually { await run.broker.snapshot().queued == 2 })

            // The old servant, free, is offered only the `twice`, though `thrice` is newest.
            try await old.becomeReady(capacity: 1, functions: ["twice"])
            let (_, taken) = try await old.next(.query)
            #expect(try Self.queryID(taken) == .atom(.long(2)))
            try new.send(to: newBroker, .reply, [first[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let (_, last) = try await new.next(.query)
            #expect(try Self.queryID(last) == .atom(.long(3)))
        }
    }
}
