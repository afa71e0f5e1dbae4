import Logging
import MServeProtocol
import MServeTestSupport
import Testing
import ZeroMQ

@testable import MServeServant

/// A worker sends its own answer only while the loop sleeps, sends it as the loop would, and
/// wakes the loop when a message waits that its send may have taken the signal of.
struct DirectAnswersTests {
    /// The servant's ROUTER with a broker peer (a DEALER named `peer`) that has said something,
    /// so the ROUTER can route to it.
    func withSocketAndPeer(_ body: (ZMQSocket, ZMQSocket, ZMQMailbox<ServantControl>) async throws -> Void) async throws {
        let context = try ZMQContext()
        let servantSocket = try ZMQSocket(context: context, type: .router)
        let peer = try ZMQSocket(context: context, type: .dealer)
        try servantSocket.setLinger(milliseconds: 0)
        try peer.setLinger(milliseconds: 0)
        try peer.setRoutingId(Array("peer".utf8))
        try servantSocket.bind("tcp://127.0.0.1:0")
        try peer.connect(try servantSocket.lastEndpoint)
        try peer.send(multipart: [ServantLink.protocolMarker, ServantCommand.ping.frame])
        let hello = try await servantSocket.receiveFrames(within: .seconds(10))
        try #require(hello?.first == Array("peer".utf8), "the peer's first message did not arrive")
        let mailbox = try ZMQMailbox<ServantControl>()
        try await body(servantSocket, peer, mailbox)
        servantSocket.close()
        peer.close()
        context.terminate()
    }

    func completion(tag: UInt64, envelope: [[UInt8]]? = nil) -> ServantJob.Completion {
        .init(
            broker: Array("peer".utf8), session: envelope == nil ? 7 : ServantJob.directSession, tag: WireInteger.encode(tag),
            reply: [1, 2, 3], executionNanoseconds: 42, directEnvelope: envelope)
    }

    @Test func anAnswerLeavesOnlyWhileTheLoopSleeps() async throws {
        try await withSocketAndPeer { socket, peer, mailbox in
            let direct = DirectAnswers(socket: socket, mailbox: mailbox, logger: Logger(label: "test"))
            direct.loopStarts()
            #expect(!direct.send(completion(tag: 1)), "the loop is at work: the answer goes through the mailbox")
            direct.willSleep()
            #expect(direct.send(completion(tag: 2)))
            let reply = try #require(try await peer.receiveFrames(within: .seconds(10)), "no REPLY came")
            #expect(reply == [ServantLink.protocolMarker, ServantCommand.reply.frame, WireInteger.encode(2), [1, 2, 3], WireInteger.encode(42)])
            #expect(direct.send(completion(tag: 3, envelope: [[], [9]])))
            let directReply = try #require(try await peer.receiveFrames(within: .seconds(10)), "no direct answer came")
            #expect(directReply == [[], [9], [1, 2, 3]])
            #expect(direct.count == 2)
            #expect(mailbox.takeAll().isEmpty, "nothing waited: the loop is not woken")
            direct.didWake()
            // The loop, awake, learns which places the answers sent while it slept freed.
            var freed: [(broker: [UInt8], session: UInt64)] = []
            direct.takeFreedPlaces { freed.append(($0, $1)) }
            #expect(freed.map(\.session) == [7, ServantJob.directSession])
            #expect(freed.allSatisfy { $0.broker == Array("peer".utf8) })
            direct.takeFreedPlaces { _, _ in Issue.record("a place freed twice") }
            direct.loopEnded()
            #expect(!direct.send(completion(tag: 4)), "the loop has ended: no worker uses the socket")
        }
    }

    @Test func aMessageWaitingAfterTheSendWakesTheLoop() async throws {
        try await withSocketAndPeer { socket, peer, mailbox in
            let direct = DirectAnswers(socket: socket, mailbox: mailbox, logger: Logger(label: "test"))
            direct.loopStarts()
            // A message has reached the servant's socket while the loop sleeps.
            try peer.send(multipart: [ServantLink.protocolMarker, ServantCommand.ping.frame])
            #expect(await eventually { (try? socket.events.contains(.readable)) == true })
            direct.willSleep()
            #expect(direct.send(completion(tag: 5)))
            let commands = mailbox.takeAll()
            #expect(commands.count == 1)
            if case .socketReadable = commands.first {} else { Issue.record("expected socketReadable, got \(commands)") }
            direct.didWake()
            direct.loopEnded()
        }
    }
}
