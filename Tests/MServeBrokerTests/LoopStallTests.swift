import Foundation
import MServePlugin
import MServeProtocol
import MServeTesting
import MServeTestSupport
import QData
import Testing
import ZeroMQ

import Logging
@testable import MServeBroker

/// When the broker's own loop was held up (a huge query to parse, a slow plugin), the
/// heartbeats its servants answered meanwhile wait unread in its socket. The broker reads
/// them before it judges any servant's liveness, so that its own pause does not make every
/// servant look dead.
struct LoopStallTests {
    /// The first free servant, after a pause of 3 seconds (over the liveness) for the
    /// routing string `stall`.
    final class StallingAlgorithm: DispatchAlgorithm {
        var name: String { "stalling" }
        func choose(routing: String, servants: [ServantView]) -> Int? {
            if routing == "stall" { Thread.sleep(forTimeInterval: 3) }
            return servants.firstIndex(where: \.isFree)
        }
        func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}
        func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
            nil
        }
    }

    @Test func aPauseOfTheBrokersLoopDoesNotMakeAnAnsweringServantLookDead() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(
            servants: 1,
            configure: {
                $0.servants.heartbeatInterval = .milliseconds(100)
                // Two seconds, not 600 ms: the servant's answers come from the test's task until
                // the responder starts, and then from a thread a loaded machine may hold back.
                $0.servants.livenessTimeout = .seconds(2)
                $0.statusInterval = nil
            },
            algorithm: { StallingAlgorithm() },
            logger: log.logger(label: "mserve.broker", level: .info)
        ) { run in
            let servant = run.servants[0]
            // From READY on, the servant answers every heartbeat, on a thread of its own; the
            // query goes at once (it waits in the broker's queue if the READY is not read yet).
            let broker = try await servant.becomeReady(capacity: 1)
            let responder = ServantResponder(servant, broker: broker) { _, _ in
                ScriptedServant.answer(id: 1, .atom(.long(2)))
            }
            try run.send(id: 1, "twice `stall")
            let answer = try await run.client.receiveFrames(within: .seconds(30))
            responder.stop()
            let bytes = try #require(answer, "the client got no answer")[0]
            #expect(try ScriptedServant.idAndResult(of: bytes).result == .atom(.long(2)))
            #expect(!log.messages.contains("servant lost"), "\(log.messages)")
        }
    }
}
