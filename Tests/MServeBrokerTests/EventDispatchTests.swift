import MServePlugin
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Synchronization
import Testing
import ZeroMQ

@testable import MServeBroker

/// An algorithm following events (ABI version 3) is told every change and asked for a servant
/// id among the query's candidate group: every ready servant (group 0) when all serve the
/// function, else the function's own group, whose members it is told of.
struct EventDispatchTests {
    /// The first free member of the group, from `ReadyServants`; records the events and groups.
    final class FirstFreeByEvents: DispatchAlgorithm, @unchecked Sendable {
        private var ready = ReadyServants()
        let events = Mutex<[DispatchEvent]>([])
        let groupsAsked = Mutex<[UInt32]>([])
        /// Overrides the choice, by the group asked.
        let override: (@Sendable (UInt32) -> UInt64?)?
        init(override: (@Sendable (UInt32) -> UInt64?)? = nil) { self.override = override }
        var name: String { "by-events" }
        var followsEvents: Bool { true }
        func observe(_ event: DispatchEvent) {
            ready.apply(event)
            events.withLock { $0.append(event) }
        }
        func choose(routing: String, function: String, group: UInt32) -> UInt64? {
            groupsAsked.withLock { $0.append(group) }
            if let override { return override(group) }
            return ready.firstFree(in: group)
        }
        func choose(routing: String, servants: [ServantView]) -> Int? { nil }
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

    @Test func queriesGoByIDAmongTheFunctionsCandidateGroup() async throws {
        let algorithm = FirstFreeByEvents()
        try await ScriptedBroker.run(servants: 2, algorithm: { algorithm }) { run in
            let old = run.servants[0], new = run.servants[1]
            try await old.becomeReady(capacity: 4, functions: ["twice"])
            let newBroker = try await new.becomeReady(capacity: 4, functions: ["twice", "thrice"], incarnation: 10)
            #expect(await run.servantsBecomeReady(2))

            // Only the new servant serves `thrice`: a group of its own, the new servant its member.
            try run.send(id: 1, "thrice 1")
            let (_, thrice) = try await new.next(.query)
            #expect(try Self.queryID(thrice) == .atom(.long(1)))
            // Both serve `twice`: every ready servant (group 0); the first free is the old one.
            try run.send(id: 2, "twice 2")
            let (_, twice) = try await old.next(.query)
            #expect(try Self.queryID(twice) == .atom(.long(2)))
            try new.send(to: newBroker, .reply, [thrice[0], ScriptedServant.answer(id: 1, .atom(.long(3)))])
            _ = try #require(try await run.answer())

            #expect(algorithm.groupsAsked.withLock { $0 } == [1, 0])
            let events = algorithm.events.withLock { $0 }
            let kinds = events.map { event -> String in
                switch event {
                case .ready: "ready"
                case .joined(_, let group): "joined \(group)"
                case .dispatched(_, let routing, let inFlight): "dispatched \(routing) \(inFlight)"
                case .completed(_, let routing, _, let inFlight): "completed \(routing) \(inFlight)"
                default: "\(event)"
                }
            }
            #expect(kinds == ["ready", "ready", "joined 1", "dispatched 1 1", "dispatched 2 1", "completed 1 0"])
        }
    }

    @Test func anIDOutsideTheGroupFailsTheQueryAtOnce() async throws {
        // Asked among `thrice`'s group, it names the old servant, which does not serve `thrice`.
        let algorithm = FirstFreeByEvents { _ in 1 }
        let recorder = LogRecorder()
        try await ScriptedBroker.run(servants: 2, algorithm: { algorithm }, logger: recorder.logger(label: "broker")) { run in
            let old = run.servants[0], new = run.servants[1]
            try await old.becomeReady(capacity: 4, functions: ["twice"])
            try await new.becomeReady(capacity: 4, functions: ["twice", "thrice"], incarnation: 10)
            #expect(await run.servantsBecomeReady(2))
            try run.send(id: 1, "thrice 1")
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(
                try ScriptedServant.idAndResult(of: answer)
                    == (.atom(.long(1)), .error("mserve: the dispatch algorithm by-events returned an invalid servant")))
        }
        // The log names the id the algorithm returned, not an index it never gave.
        let logged = recorder.entries.first { $0.message.hasPrefix("the dispatch algorithm chose no ready servant") }
        #expect(
            logged?.metadata["returned"] == "servant id 1 for group 1 (thrice), not a ready servant that serves it",
            "\(recorder.messages)")
    }

    /// A C plugin's negative choice (here -5) reaches the broker as a huge id: the query fails
    /// at once, and the log shows the value as the plugin returned it.
    @Test func aNegativeIDFailsTheQueryAndIsLoggedAsReturned() async throws {
        let algorithm = FirstFreeByEvents { _ in UInt64(bitPattern: -5) }
        let recorder = LogRecorder()
        try await ScriptedBroker.run(servants: 1, algorithm: { algorithm }, logger: recorder.logger(label: "broker")) { run in
            try await run.servants[0].becomeReady(capacity: 1, functions: ["twice"])
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(
                try ScriptedServant.idAndResult(of: answer)
                    == (.atom(.long(1)), .error("mserve: the dispatch algorithm by-events returned an invalid servant")))
        }
        let logged = recorder.entries.first { $0.message.hasPrefix("the dispatch algorithm chose no ready servant") }
        #expect(logged?.metadata["returned"] == "servant id -5, not a ready servant that serves it", "\(recorder.messages)")
    }
}
