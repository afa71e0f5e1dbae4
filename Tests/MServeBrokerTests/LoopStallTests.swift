import Foundation
import MServePlugin
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// When the broker's own loop was held up (a huge query to parse, a slow plugin), the
/// heartbeats its servants answered meanwhile wait unread in its socket. The broker reads
/// them before it judges any servant's liveness, so that its own pause does not make every
/// servant look dead.
struct LoopStallTests {
    /// The first free servant, after a pause of a second for the routing string `stall`.
    final class StallingAlgorithm: DispatchAlgorithm {
        var name: String { "stalling" }
        func choose(routing: String, servants: [ServantView]) -> Int? {
            if routing == "stall" { Thread.sleep(forTimeInterval: 1) }
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
                $0.servants.heartbeatInterval = .milliseconds(50)
                $0.servants.livenessTimeout = .milliseconds(300)
                $0.statusInterval = nil
            },
            algorithm: { StallingAlgorithm() },
            logger: log.logger(label: "mserve.broker", level: .info)
        ) { run in
            let servant = run.servants[0]
            let broker = try servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))

            try run.send(id: 1, "twice `stall")
            var poller = ZMQPoller()
            let clientIndex = poller.add(run.client)
            let servantIndex = poller.add(servant.socket)
            var answer: [UInt8]? = nil
            let deadline = ContinuousClock.now + .seconds(10)
            while answer == nil, ContinuousClock.now < deadline {
                _ = try poller.poll(timeoutMilliseconds: 100)
                if poller.returnedEvents(at: servantIndex).contains(.readable),
                    let frames = try servant.socket.receiveMultipartBytes(dontWait: true), frames.count >= 3
                {
                    if frames[2] == ServantCommand.ping.frame {
                        try servant.send(to: broker, .pong, [WireInteger.encode(9)])
                    } else if frames[2] == ServantCommand.query.frame, frames.count == 5 {
                        try servant.send(to: broker, .reply, [frames[3], ScriptedServant.answer(id: 1, .atom(.long(2)))])
                    }
                }
                if poller.returnedEvents(at: clientIndex).contains(.readable) {
                    answer = try run.client.receive(dontWait: true)?.bytes
                }
            }
            let bytes = try #require(answer, "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: bytes).result == .atom(.long(2)))
            #expect(!log.messages.contains("servant lost"), "\(log.messages)")
        }
    }
}
