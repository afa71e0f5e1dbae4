import Glibc
import Logging
import MServePlugin
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A dispatch plugin runs on the broker's loop: a call that blocks holds up the whole broker.
/// One that took 100 ms or more is logged, naming the plugin, the function and how long it
/// took, and counted in the metrics.
struct SlowPluginCallTests {
    /// The first free servant; `choose` sleeps for the routing string `slow`, `completed` for
    /// the routing string `slowdone`, as a plugin doing I/O or waiting on a lock would.
    final class SleepingAlgorithm: DispatchAlgorithm {
        var name: String { "sleepy" }
        func choose(routing: String, servants: [ServantView]) -> Int? {
            if routing == "slow" { usleep(250_000) }
            return servants.firstIndex(where: \.isFree)
        }
        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {
            if routing == "slowdone" { usleep(250_000) }
        }
        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
            nil
        }
    }

    /// Sends `twice ROUTING` through a broker dispatching with ``SleepingAlgorithm``, answers
    /// it, and returns the slow-call lines logged and the slow calls counted.
    private static func run(routing: String) async throws -> (lines: [LogRecorder.Entry], counted: UInt64) {
        let recorder = LogRecorder()
        var counted: UInt64 = 0
        try await ScriptedBroker.run(
            servants: 1, algorithm: { SleepingAlgorithm() }, logger: recorder.logger(label: "broker")
        ) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice `\(routing)")
            let (_, frames) = try await servant.next(.query)
            try servant.send(to: broker, .reply, [frames[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer) == (.atom(.long(1)), .atom(.long(2))))
            counted = await run.broker.snapshot().metrics.slowPluginCalls
        }
        return (recorder.entries.filter { $0.message.hasPrefix("the dispatch plugin sleepy took ") }, counted)
    }

    // At least one line and count: on a loaded machine another call may be held up too.
    @Test func aChooseThatBlocksIsLoggedAndCounted() async throws {
        let (lines, counted) = try await Self.run(routing: "slow")
        let line = try #require(lines.first { $0.metadata["function"] == "choose" }, "no line about the slow call")
        #expect(line.level == .warning)
        #expect(line.message.contains(" in choose; the broker did nothing else meanwhile"), "\(line.message)")
        #expect(line.metadata["algorithm"] == "sleepy")
        #expect(counted >= 1)
    }

    @Test func aCompletedThatBlocksIsLoggedAndCounted() async throws {
        let (lines, counted) = try await Self.run(routing: "slowdone")
        #expect(lines.contains { $0.metadata["function"] == "completed" }, "\(lines.map(\.message))")
        #expect(counted >= 1)
    }
}
