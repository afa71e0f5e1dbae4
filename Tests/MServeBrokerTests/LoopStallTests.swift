import Foundation
import MServePlugin
import MServeProtocol
import MServeTesting
import MServeTestSupport
import QData
import Synchronization
import Testing
import ZeroMQ

import Logging
@testable import MServeBroker

/// When the broker's own loop was held up (a huge query to parse, a slow plugin), the
/// heartbeats its servants answered meanwhile wait unread in its socket. The broker reads
/// them before it judges any servant's liveness, so that its own pause does not make every
/// servant look dead.
struct LoopStallTests {
    /// The first free servant; for the routing string `stall`, only once the test lets it go
    /// (``LoopHold``), which holds the broker's loop.
    final class StallingAlgorithm: DispatchAlgorithm, Sendable {
        let hold = LoopHold()
        /// Whether the loop comes to be held (waits up to 30 s).
        func holdsTheLoop() async -> Bool { await hold.isHeld() }
        /// Lets the held loop go on.
        func letGo() { hold.letGo() }
        var name: String { "stalling" }
        func choose(routing: String, servants: [ServantView]) -> Int? {
            if routing == "stall" { hold.hold() }
            return servants.firstIndex(where: \.isFree)
        }
        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}
        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
            nil
        }
    }

    /// Every servant holds its answer to a heartbeat until the loop is held up, then answers
    /// while it is: once the hold is over the liveness, each looks silent for longer than the
    /// liveness unless its answer is read first. Eight servants fill every heartbeat slot, so
    /// whichever slot the broker judges first after the hold, a servant in it has answered.
    @Test func aPauseOfTheBrokersLoopDoesNotMakeAnAnsweringServantLookDead() async throws {
        let log = LogRecorder()
        let algorithm = StallingAlgorithm()
        let liveness = Duration.seconds(5)  // over the test's steps from the first heartbeat to the hold, on a loaded machine too
        try await ScriptedBroker.run(
            servants: Int(HeartbeatSlots.count),
            configure: {
                $0.servants.heartbeatInterval = .milliseconds(100)
                $0.servants.livenessTimeout = liveness
                $0.statusInterval = nil
            },
            algorithm: { algorithm },
            logger: log.logger(label: "mserve.broker", level: .info)
        ) { run in
            var brokers: [[UInt8]] = []
            for servant in run.servants { brokers.append(try await servant.becomeReady(capacity: 1)) }
            // Each servant's first heartbeat after READY goes unanswered for now.
            for servant in run.servants { _ = try await servant.next(.ping) }
            try run.send(id: 1, "twice `stall")
            #expect(await algorithm.holdsTheLoop(), "the loop never stalled")
            for (servant, broker) in zip(run.servants, brokers) { try servant.send(to: broker, .pong, [WireInteger.encode(9)]) }
            // Past the liveness since every servant's unanswered heartbeat, then the loop goes on.
            try await Task.sleep(for: liveness + .milliseconds(500))
            let responders = zip(run.servants, brokers).map { servant, broker in
                ServantResponder(servant, broker: broker) { _, _ in ScriptedServant.answer(id: 1, .atom(.long(2))) }
            }
            algorithm.letGo()
            let answer = try await run.answer()
            for responder in responders { responder.stop() }
            #expect(!log.messages.contains("servant lost"), "\(log.messages)")
            let bytes = try #require(answer, "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: bytes).result == .atom(.long(2)))
        }
    }
}

/// Holds a broker's loop from inside a dispatch plugin until the test lets it go: at most a
/// minute, so that a test failing before it lets go still ends.
final class LoopHold: Sendable {
    private let held = Atomic(false)
    private let release = DispatchSemaphore(value: 0)

    /// Called on the loop's thread: holds it.
    func hold() {
        held.store(true, ordering: .sequentiallyConsistent)
        _ = release.wait(timeout: .now() + 60)
    }

    /// Whether the loop comes to be held (waits up to 30 s).
    func isHeld() async -> Bool { await eventually { held.load(ordering: .sequentiallyConsistent) } }

    /// Lets the held loop go on.
    func letGo() { release.signal() }
}
