import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A burst of client messages that takes the broker longer to read than a servant's liveness
/// timeout must not make it take a servant that answered every heartbeat for dead: between
/// reads of clients, the loop reads its servants and runs its timers.
struct ClientBurstTests {
    @Test func aLongBurstOfClientsDoesNotMakeAHealthyServantLookDead() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(
            servants: 1,
            configure: {
                $0.servants.heartbeatInterval = .milliseconds(30)
                $0.servants.livenessTimeout = .milliseconds(300)
                $0.statusInterval = nil
            },
            logger: log.logger(label: "mserve.broker", level: .info)
        ) { run in
            let servant = run.servants[0]
            let broker = try servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))

            // Malformed messages, each answered with an error reply: seconds of reading. The
            // servant meanwhile answers every heartbeat.
            try run.client.setSendHighWaterMark(0)
            let burst = 100_000
            for _ in 0..<burst { try run.client.send([1, 2, 3]) }
            var poller = ZMQPoller()
            let clientIndex = poller.add(run.client)
            let servantIndex = poller.add(servant.socket)
            var replies = 0
            // Heartbeats are answered until two liveness timeouts after the last reply, so
            // that a loss the burst caused shows in the log by then.
            var answerUntil = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < answerUntil {
                _ = try poller.poll(timeoutMilliseconds: 100)
                if poller.returnedEvents(at: servantIndex).contains(.readable),
                    let frames = try servant.socket.receiveMultipartBytes(dontWait: true), frames.count >= 3,
                    frames[2] == ServantCommand.ping.frame
                {
                    try servant.send(to: broker, .pong, [WireInteger.encode(9)])
                }
                if poller.returnedEvents(at: clientIndex).contains(.readable),
                    try run.client.receive(dontWait: true) != nil
                {
                    replies += 1
                    if replies == burst { answerUntil = ContinuousClock.now + .milliseconds(600) }
                }
            }
            #expect(replies == burst, "every malformed message gets its error reply")
            #expect(!log.messages.contains("servant lost"), "\(log.messages.filter { $0.contains("servant") })")
            #expect(await run.broker.snapshot().servants.map(\.state) == ["ready"])
        }
    }
}
