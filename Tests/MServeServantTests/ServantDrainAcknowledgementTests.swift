import Foundation
import Logging
import MServeProtocol
import MServeServant
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

/// A stopping servant says goodbye to a broker only once it knows that no QUERY of that broker
/// can still reach it: one sent before the broker read the DRAIN, arriving after the BYE, would
/// be charged as a dispatch of a servant that left (with `--redispatch 0`, a failed query). The
/// broker acknowledges each DRAIN with a PING carrying `DRAIN`; an older broker's second plain
/// PING stands for it, and a broker silent for the broker's liveness time is not waited for.
struct ServantDrainAcknowledgementTests {
    /// What a stopping servant sent a broker, read up to its BYE.
    struct Stop {
        var commands: [[UInt8]] = []
        var handedBack: [UInt64?] = []
        var answered: [UInt64?] = []
        var bye: [UInt64?] = []
    }

    /// Reads what the servant sends `broker` until its BYE (each message within `timeout`).
    static func readToGoodbye(_ broker: BrokerPeer, within timeout: Duration = .seconds(30)) async throws -> Stop {
        var stop = Stop()
        while stop.commands.last != ServantCommand.bye.frame {
            let frames = try #require(try await broker.next(within: timeout), "the servant stopped without a goodbye: \(stop)")
            try #require(frames.count >= 2)
            stop.commands.append(frames[1])
            let body = Array(frames.dropFirst(2))
            switch frames[1] {
            case ServantCommand.drain.frame: stop.handedBack += body.map(WireInteger.decode)
            case ServantCommand.bye.frame: stop.bye = body.map(WireInteger.decode)
            case ServantCommand.reply.frame:
                stop.answered += stride(from: 0, to: body.count, by: 3).map { WireInteger.decode(body[$0]) }
            default: break
            }
        }
        return stop
    }

    /// A servant stopping with `configuration`'s long waits: neither the drain time nor the
    /// broker's silence ends a wait in these tests, however slowly a loaded machine runs them.
    static func patientConfiguration() -> ServantConfiguration {
        var configuration = ServantConfiguration()
        configuration.drainTimeout = .seconds(120)
        configuration.drainAcknowledgementSilence = .seconds(120)
        return configuration
    }

    /// A servant with the patient configuration, greeted by a scripted broker, then told to
    /// stop while idle: its task, the broker's context and peer, once the broker has read the
    /// servant's first DRAIN, which names nothing.
    static func idleServantStopping(
        logger: Logger
    ) async throws -> (running: Task<Void, any Error>, context: ZMQContext, broker: BrokerPeer) {
        let servant = try Servant(configuration: Self.patientConfiguration(), functions: .twice(), logger: logger)
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        let broker = try await BrokerPeer(context: context, endpoint: try await servant.endpoint)
        servant.stop()
        let drain = try #require(try await broker.next(within: .seconds(30)), "no DRAIN came")
        #expect(drain == [ServantLink.protocolMarker, ServantCommand.drain.frame])
        return (running, context, broker)
    }

    /// An idle servant told to stop while a broker's QUERY is on its way (sent after the DRAIN
    /// left, before the broker read it) waits for the broker's acknowledgement: the QUERY comes
    /// first, and is handed back in a DRAIN and named in the BYE, never run nor lost with the
    /// servant. (It used to say goodbye at once: the QUERY arrived after the BYE, unnamed.)
    @Test func aQueryCrossingAnIdleServantsDrainIsHandedBack() async throws {
        let (running, context, broker) = try await Self.idleServantStopping(logger: Logger(label: "servant"))
        // The broker has not read the DRAIN yet: a query goes out, then the acknowledgement.
        try broker.send(.query, [WireInteger.encode(5), QIPC.encode(.list([.atom(.long(5)), .string("twice 5")]), messageType: .async)])
        try broker.send(.ping, [ServantCommand.drain.frame])
        let stop = try await Self.readToGoodbye(broker)
        #expect(stop.handedBack == [5], "the query that crossed the DRAIN is handed back at once: \(stop)")
        #expect(stop.bye == [5], "the BYE names it too: \(stop)")
        #expect(stop.answered.isEmpty, "it is not run: \(stop)")
        #expect(stop.commands.contains(ServantCommand.pong.frame), "the acknowledgement is answered as a PING: \(stop)")
        try await running.value
        broker.socket.close()
        context.terminate()
    }

    /// A broker that does not acknowledge a DRAIN (an older one) heartbeats: its second plain
    /// PING since the DRAIN was sent after it read the DRAIN, so the servant says goodbye then,
    /// not after one, naming what crossed the DRAIN meanwhile; and logs why.
    @Test func anOlderBrokersSecondHeartbeatStandsForTheAcknowledgement() async throws {
        let log = LogRecorder()
        let (running, context, broker) = try await Self.idleServantStopping(logger: log.logger(label: "servant"))
        try broker.send(.ping)
        let pong = try #require(try await broker.next(within: .seconds(30)), "the first PING was not answered")
        #expect(pong.count >= 2 && pong[1] == ServantCommand.pong.frame, "\(pong)")
        // After one heartbeat the servant still waits: a query sent now is handed back.
        try broker.send(.query, [WireInteger.encode(6), QIPC.encode(.list([.atom(.long(6)), .string("twice 6")]), messageType: .async)])
        try broker.send(.ping)
        let stop = try await Self.readToGoodbye(broker)
        #expect(stop.handedBack == [6], "\(stop)")
        #expect(stop.bye == [6], "\(stop)")
        #expect(stop.answered.isEmpty, "\(stop)")
        try await running.value
        #expect(
            log.messages.contains(
                "a broker did not acknowledge the DRAIN (an older broker): its second heartbeat since is taken as its word that no more queries are on their way"),
            "\(log.messages)")
        broker.socket.close()
        context.terminate()
    }

    /// An idle servant whose broker is gone (killed: its session not yet forgotten) does not
    /// wait out its drain time for an acknowledgement that cannot come: once nothing has been
    /// heard from the broker for the broker's liveness time, it says goodbye and stops, and logs
    /// why. (The drain time here is far longer than any test waits.)
    @Test func anIdleServantWhoseBrokerIsGoneDoesNotWaitOutTheDrain() async throws {
        let log = LogRecorder()
        var configuration = ServantConfiguration()
        configuration.drainTimeout = .seconds(3_600)
        let servant = try Servant(configuration: configuration, functions: .twice(), logger: log.logger(label: "servant"))
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        let broker = try await BrokerPeer(context: context, endpoint: try await servant.endpoint)
        broker.socket.close()
        servant.stop()
        let stopped = Task {
            try await running.value
            return true
        }
        #expect(await eventually(timeout: .seconds(300)) { log.messages.contains("servant stopped") }, "\(log.messages)")
        #expect(try await stopped.value)
        #expect(
            log.messages.contains("stopped waiting for a broker to acknowledge the DRAIN: nothing heard from it for 1.6 s, taken as gone"),
            "\(log.messages)")
        #expect(
            !log.messages.contains { $0.hasPrefix("said goodbye to a broker before it acknowledged the DRAIN") }, "\(log.messages)")
        context.terminate()
    }

    /// When the drain time runs out before a broker acknowledges the DRAIN (a drain shorter than
    /// the broker's silence allowance, here), the servant leaves anyway and says so.
    @Test func aDrainTimeRunningOutBeforeTheAcknowledgementIsLogged() async throws {
        let log = LogRecorder()
        var configuration = ServantConfiguration()
        configuration.drainTimeout = .milliseconds(200)
        configuration.drainAcknowledgementSilence = .seconds(3_600)
        let servant = try Servant(configuration: configuration, functions: .twice(), logger: log.logger(label: "servant"))
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        let broker = try await BrokerPeer(context: context, endpoint: try await servant.endpoint)
        servant.stop()
        let stop = try await Self.readToGoodbye(broker)
        #expect(stop.commands == [ServantCommand.drain.frame, ServantCommand.bye.frame], "\(stop)")
        try await running.value
        let line = log.entries.first { $0.message.hasPrefix("said goodbye to a broker before it acknowledged the DRAIN") }
        #expect(
            line?.message
                == "said goodbye to a broker before it acknowledged the DRAIN: the drain time ran out; a query sent across the DRAIN and not yet arrived counts there as a dispatch to a servant that left (--redispatch)",
            "\(log.messages)")
        #expect(line?.level == .notice)
        broker.socket.close()
        context.terminate()
    }
}
