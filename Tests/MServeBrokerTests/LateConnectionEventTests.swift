import Logging
import MServeProtocol
import MServeTesting
import Synchronization
import MServeTestSupport
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// The loop reads its servant socket between polls without its connection monitor, so a
/// servant's READY (to a HELLO queued while it was not connected, sent as its connection came
/// up) can be read before the event of the connection it came on. That event is not a new
/// connection: greeted again, the servant would start a new session and drop, unrun, the
/// queries sent it since its READY, which would then wait out their deadline.
struct LateConnectionEventTests {
    /// The run's servant, greeted, and the broker's routing id there, with the loop put back
    /// to not having seen the servant connected: as when what the servant sends next is read
    /// before its connection's event.
    private static func greetedWithItsConnectionEventUnread(
        _ run: ScriptedBroker
    ) async throws -> (servant: ScriptedServant, broker: [UInt8]) {
        let servant = run.servants[0]
        let endpoint = servant.endpoint
        let (broker, _) = try await servant.next(.hello)
        #expect(
            await run.broker.onLoop { loop in
                guard let id = loop.servantByEndpoint[endpoint] else { return }
                loop.servants[id]?.connected = false
            })
        return (servant, broker)
    }

    @Test func aServantInSessionIsNotGreetedAgainForTheConnectionItAnsweredOn() async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            let (servant, broker) = try await Self.greetedWithItsConnectionEventUnread(run)
            let endpoint = servant.endpoint
            try servant.send(to: broker, .ready, [ScriptedServant.readyInfo(capacity: 1, batch: nil)])
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            let (_, query) = try await servant.next(.query)

            // The connection's event, read now.
            #expect(
                await run.broker.onLoop { loop in
                    loop.handleConnectionEvents([ZMQMonitorEvent(event: .connected, value: 99, endpoint: endpoint)])
                })
            var greetedAgain = false
            let until = ContinuousClock.now + .seconds(2)
            while let frames = try await servant.socket.receiveFrames(within: until - ContinuousClock.now) {
                if frames.count >= 3, frames[2] == ServantCommand.hello.frame { greetedAgain = true }
            }
            #expect(!greetedAgain, "a HELLO starts a new session, and the servant drops query 1 unrun")

            try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let answer = try #require(try await run.answer(), "query 1 got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer) == (.atom(.long(1)), .atom(.long(2))))
            #expect(await run.broker.snapshot().servants.first?.state == "ready")
        }
    }

    /// A servant not yet in session when its connection's event is read is greeted, as any
    /// connection that comes up is: its READY may have been refused, or said nothing yet.
    @Test func aServantNotInSessionIsGreetedWhenItsConnectionEventComes() async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            let (servant, broker) = try await Self.greetedWithItsConnectionEventUnread(run)
            let endpoint = servant.endpoint
            // Heard from (a PONG), but not in session.
            try servant.send(to: broker, .pong, [WireInteger.encode(UInt64(9))])
            let heard = Mutex(false)
            #expect(
                await eventually {
                    await run.broker.onLoop { loop in
                        let record = loop.servantByEndpoint[endpoint].flatMap { loop.servants[$0] }
                        heard.withLock { $0 = record?.heardBeforeItsConnectionEvent == true }
                    }
                    return heard.withLock { $0 }
                })
            #expect(
                await run.broker.onLoop { loop in
                    loop.handleConnectionEvents([ZMQMonitorEvent(event: .connected, value: 99, endpoint: endpoint)])
                })
            _ = try await servant.next(.hello, within: .seconds(30))
        }
    }

    /// A heartbeat visit reads the connection events first, and a HELLO it sends to a
    /// connection that came up is stamped after the clock the visit was given: measured from
    /// that clock, unsigned, the HELLO looked older than the liveness time, and the servant was
    /// reported silent (`answered nothing for the liveness time`) a moment after it was added.
    @Test func aConnectionThatComesUpDuringAHeartbeatVisitIsNotJudgedSilentAtOnce() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 1, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let servant = run.servants[0]
            let endpoint = servant.endpoint
            _ = try await servant.next(.hello)
            #expect(
                await run.broker.onLoop { loop in
                    let visit = QueryClock.monotonicNanoseconds()
                    // The event the visit's first read brings (the connection coming up again).
                    loop.handleConnectionEvents([ZMQMonitorEvent(event: .connected, value: 99, endpoint: endpoint)])
                    for _ in 0..<HeartbeatSlots.count {
                        loop.nextHeartbeat = 0
                        loop.timers(now: visit)
                    }
                })
            #expect(!log.messages.contains { $0.contains("answered nothing for the liveness time") }, "\(log.messages)")
            // Greeted once for the event, and not again at once.
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(!broker.isEmpty)
            #expect(await run.servantsBecomeReady(1))
        }
    }
}
