import Foundation
import Logging
import MServeProtocol
import MServeServant
import MServeTestSupport
import MServeTesting
import QData
import Synchronization
import Testing
import ZeroMQ

/// A servant told to stop finishes the queries it is running and sends their answers before
/// it says goodbye. Meanwhile it still answers heartbeats, so that a broker does not take the
/// running queries for lost and run them again elsewhere, and starts no new query: those go
/// back to the broker's other servants at the goodbye.
struct ServantStopTests {
    @Test func aStoppingServantAnswersHeartbeatsAndItsRunningQueriesButStartsNoNewOne() async throws {
        let hold = HeldFunction()
        defer { hold.release(2) }  // a failing test leaves no worker held
        let functions = hold.registry
        var configuration = ServantConfiguration()
        configuration.acceptsDirectQueries = true
        // The test's steps while the query runs may take longer than the default drain on a
        // loaded machine; the drain still ends as soon as the query is answered.
        configuration.drainTimeout = .seconds(60)
        let servant = try Servant(configuration: configuration, functions: functions)
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        let broker = try await BrokerPeer(context: context, endpoint: try await servant.endpoint)
        try broker.query(tag: 1, "hold 1")
        #expect(await eventually { hold.started }, "the query never started")
        servant.stop()
        // The servant tells the broker first: no more queries.
        let drain = try #require(try await broker.next(), "no DRAIN came")
        #expect(drain == [ServantLink.protocolMarker, ServantCommand.drain.frame])
        try broker.send(.ping)
        try broker.query(tag: 2, "hold 2")  // crossed the DRAIN: not run, named in the BYE
        // A direct client is told at once.
        let direct = try ZMQSocket(context: context, type: .dealer)
        try direct.setLinger(milliseconds: 0)
        try direct.connect(try await servant.endpoint)
        try direct.send(QIPC.encode(.list([.atom(.long(77)), .string("hold 3")]), messageType: .async))
        let refusal = try #require(try await direct.receiveFrames(within: .seconds(10)), "the direct query got no answer")
        guard case .list(let refused, _)? = try refusal.last.map({ try QIPC.decode($0).value }), refused.count == 3,
            let reason = ReplyAssembly.failure(result: refused[1], info: refused[2]), refused[1] == .string(reason)
        else {
            Issue.record("expected (77; \"error\"; info), got \(refusal)")
            return
        }
        #expect(refused[0] == .atom(.long(77)))
        #expect(reason.contains("stopping"), "\(reason)")
        direct.close()

        var commands: [[UInt8]] = []
        var answeredTags: [UInt64] = []
        var bye: [[UInt8]] = []
        var handedBack: [UInt64?] = []
        while commands.last != ServantCommand.bye.frame {
            let frames = try #require(
                try await broker.next(), "the servant stopped without a goodbye")
            try #require(frames.count >= 2)
            commands.append(frames[1])
            if frames[1] == ServantCommand.pong.frame { hold.release(1) }
            if frames[1] == ServantCommand.reply.frame {
                for first in stride(from: 2, to: frames.count, by: 3) {
                    answeredTags.append(try #require(WireInteger.decode(frames[first])))
                }
            }
            if frames[1] == ServantCommand.bye.frame { bye = Array(frames.dropFirst(2)) }
            if frames[1] == ServantCommand.drain.frame { handedBack += frames.dropFirst(2).map(WireInteger.decode) }
        }
        #expect(commands.first == ServantCommand.pong.frame, "the heartbeat is answered while the query runs")
        #expect(answeredTags == [1], "the running query is answered, the new one not started")
        #expect(handedBack == [2], "the query that crossed the DRAIN is handed back at once")
        #expect(bye.map(WireInteger.decode) == [2], "the BYE names the query it did not start")
        try await running.value
        broker.socket.close()
        context.terminate()
    }

    /// Queries waiting for a thread when the servant is told to stop go back in its DRAIN, at
    /// once, not after the running ones finish: the broker sends them elsewhere meanwhile.
    @Test func queriesWaitingForAThreadAreHandedBackInTheDrain() async throws {
        let hold = HeldFunction()
        defer { hold.release(3) }
        var configuration = ServantConfiguration()
        configuration.threads = 1
        configuration.capacity = 3
        configuration.drainTimeout = .seconds(60)
        let servant = try Servant(configuration: configuration, functions: hold.registry)
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        let broker = try await BrokerPeer(context: context, endpoint: try await servant.endpoint)
        for tag in 1...3 { try broker.query(tag: UInt64(tag), "hold \(tag)") }
        #expect(await eventually { hold.started }, "the first query never started")
        servant.stop()
        // While query 1 still runs (nothing is released yet): in the DRAIN, or in a second one
        // for a query the servant read only after the stop.
        var handedBack: [UInt64?] = []
        while handedBack.count < 2 {
            let frames = try #require(try await broker.next(), "queries 2 and 3 were not handed back: \(handedBack)")
            try #require(frames.count >= 2 && frames[1] == ServantCommand.drain.frame, "\(frames)")
            handedBack += frames.dropFirst(2).map(WireInteger.decode)
        }
        #expect(handedBack == [2, 3])
        hold.release(1)
        var bye: [[UInt8]] = []
        var answeredTags: [UInt64] = []
        while bye.isEmpty {
            let frames = try #require(try await broker.next(), "the servant stopped without a goodbye")
            try #require(frames.count >= 2)
            if frames[1] == ServantCommand.reply.frame {
                for first in stride(from: 2, to: frames.count, by: 3) {
                    answeredTags.append(try #require(WireInteger.decode(frames[first])))
                }
            }
            if frames[1] == ServantCommand.bye.frame { bye = [frames[1]] + frames.dropFirst(2) }
        }
        #expect(answeredTags == [1])
        #expect(bye.dropFirst().map(WireInteger.decode) == [2, 3], "the BYE names them too")
        try await running.value
        broker.socket.close()
        context.terminate()
    }

    /// A query still running at the end of the drain (`drainTimeout`) is left: the servant says
    /// goodbye without its answer, and its broker runs it elsewhere. The servant's log says so,
    /// with the count and the drain time: on its host, the only log there is.
    @Test func aQueryRunningPastTheDrainIsLeftBehind() async throws {
        let hold = HeldFunction()
        defer { hold.release(1) }
        let functions = hold.registry
        var configuration = ServantConfiguration()
        configuration.drainTimeout = .milliseconds(100)
        let recorder = LogRecorder()
        let servant = try Servant(configuration: configuration, functions: functions, logger: recorder.logger(label: "servant"))
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        let broker = try await BrokerPeer(context: context, endpoint: try await servant.endpoint)
        try broker.query(tag: 1, "hold 1")
        #expect(await eventually { hold.started }, "the query never started")
        servant.stop()
        // The default drain (5 s) would still be waiting; this one is long over.
        var commands: [[UInt8]] = []
        while commands.last != ServantCommand.bye.frame {
            let frames = try #require(try await broker.next(within: .seconds(4)), "no goodbye within 4 s: \(commands)")
            try #require(frames.count >= 2)
            commands.append(frames[1])
        }
        #expect(commands == [ServantCommand.drain.frame, ServantCommand.bye.frame], "no answer: the query was still running")
        try await running.value
        let left = recorder.entries.filter { $0.message.hasPrefix("the drain time ran out with ") }
        #expect(left.map(\.level) == [.warning], "\(recorder.messages)")
        #expect(
            left.first?.message
                == "the drain time ran out with 1 query still running, left unanswered: a broker sends such a query again elsewhere (as its --redispatch allows), so it may run twice")
        #expect(left.first?.metadata["running"] == "1")
        #expect(left.first?.metadata["drain"] == "\(Duration.milliseconds(100))")
        // Before the servant's last line.
        #expect(recorder.messages.last == "servant stopped", "\(recorder.messages)")
        broker.socket.close()
        context.terminate()
    }
}
