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

/// Under `MSERVE_ROUTING=plugin:NAME` the broker gives the routing hook the default routing
/// string (the first argument), and a plugin without a hook routes by that default. What a hook
/// returns is held to the routing strings' length bound, as any routing string is.
struct RoutingHookFallbackTests {
    /// Records the routing strings it is offered and the default routings its hook is given;
    /// with `hooks`, routes every query to `prefix` and its default, else has no hook.
    private final class RecordingHook: DispatchAlgorithm, @unchecked Sendable {
        // Unchecked: called on the broker's loop thread only, read by the test after the answer.
        let hooks: Bool
        let prefix: String
        let seen = Mutex<(routings: [String], defaults: [String])>(([], []))

        init(hooks: Bool, prefix: String = "hook:") {
            self.hooks = hooks
            self.prefix = prefix
        }

        var name: String { "recording-hook" }

        func choose(routing: String, servants: [ServantView]) -> Int? {
            seen.withLock { $0.routings.append(routing) }
            return servants.firstIndex(where: \.isFree)
        }

        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}

        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
            guard hooks else { return nil }
            seen.withLock { $0.defaults.append(defaultRouting) }
            return .routing(prefix + defaultRouting)
        }
    }

    /// The routing the client's answer reports.
    private static func routing(of answer: [UInt8]) throws -> QValue? {
        guard case .list(let items, _) = try QIPC.decode(answer).value, items.count == 3 else { return nil }
        let entries = try #require(InfoDictionary.symbolKeyedEntries(items[2]))
        return entries.first { $0.0 == "routing" }?.1
    }

    /// Runs `twice[`IBM;`MSFT]` and `twice[]` through a broker over one scripted servant, with
    /// `hook` as its dispatch algorithm and routing plugin; returns the answers' routings.
    private func run(
        with hook: RecordingHook, queries: [(Int64, String)] = [(1, "twice[`IBM;`MSFT]"), (2, "twice[]")]
    ) async throws -> [QValue?] {
        var routings: [QValue?] = []
        try await ScriptedBroker.run(
            servants: 1, configure: { $0.dispatch.routing = try! RoutingSpec(parsing: "plugin:recording-hook") },
            algorithm: { hook }
        ) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            for (id, text) in queries {
                try run.send(id: id, text)
                let (_, query) = try await servant.next(.query)
                try #require(query.count == 2)
                try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: id, .atom(.long(2)))])
                let answer = try #require(try await run.answer(), "no answer to \(text)")
                routings.append(try Self.routing(of: answer))
            }
        }
        return routings
    }

    @Test func aPluginWithoutAHookRoutesByTheFirstArgument() async throws {
        let hook = RecordingHook(hooks: false)
        let routings = try await run(with: hook)
        #expect(routings == [.atom(.symbol("IBM")), .atom(.symbol("twice"))])
        #expect(hook.seen.withLock { $0.routings } == ["IBM", "twice"])
    }

    @Test func theHookIsGivenTheFirstArgumentAsTheDefaultRouting() async throws {
        let hook = RecordingHook(hooks: true)
        let routings = try await run(with: hook)
        #expect(hook.seen.withLock { $0.defaults } == ["IBM", "twice"])
        #expect(hook.seen.withLock { $0.routings } == ["hook:IBM", "hook:twice"])
        #expect(routings == [.atom(.symbol("hook:IBM")), .atom(.symbol("hook:twice"))])
    }

    @Test func aHooksRoutingStringIsHeldToTheLengthBound() async throws {
        let hook = RecordingHook(hooks: true, prefix: String(repeating: "R", count: 5_000))
        let routings = try await run(with: hook)
        let expected = ["IBM", "twice"].map { RoutingSpec.bounded(hook.prefix + $0) }
        #expect(expected.allSatisfy { $0.utf8.count <= RoutingSpec.longestRoutingString })
        #expect(hook.seen.withLock { $0.routings } == expected)
        #expect(routings == expected.map { .atom(.symbol($0)) })
    }

    /// A hook may route the same query elsewhere the next time: a query sent again is given to
    /// it again, not routed by what the broker kept of its first check.
    @Test func aQuerySentAgainIsGivenToTheHookAgain() async throws {
        let hook = RecordingHook(hooks: true)
        let routings = try await run(with: hook, queries: [(1, "twice[`IBM]"), (2, "twice[`IBM]"), (3, "twice[`IBM]")])
        #expect(hook.seen.withLock { $0.defaults } == ["IBM", "IBM", "IBM"])
        #expect(routings == Array(repeating: .atom(.symbol("hook:IBM")), count: 3))
    }
}
