import MServeProtocol
import MServeServant
import MServeTestSupport
import QData
import Testing
import ZeroMQ

/// A servant takes several queries in one QUERY message, and sends a broker that says it
/// takes batches several answers in one REPLY; a broker that does not gets one per REPLY.
struct ServantBatchTests {
    /// A servant with `configuration`, a broker stand-in in session with it, and the servant's
    /// READY dictionary after a HELLO carrying `replyLimit` (none: no limit frame).
    private static func withBroker(
        _ configuration: ServantConfiguration = ServantConfiguration(), replyLimit: UInt64?,
        _ body: (BrokerPeer, [String: QValue]) async throws -> Void
    ) async throws {
        let servant = try Servant(configuration: configuration, functions: .twice())
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        let hello = [WireInteger.encode(7)] + (replyLimit.map { [WireInteger.encode($0)] } ?? [])
        let broker: BrokerPeer
        do {
            broker = try await BrokerPeer(context: context, endpoint: try await servant.endpoint, helloFrames: hello)
            try await body(broker, broker.ready)
        } catch {
            servant.stop()
            _ = await running.result
            throw error
        }
        broker.socket.close()
        servant.stop()
        try await running.value
        context.terminate()
    }

    private static func query(tag: UInt64, _ n: Int64) -> [[UInt8]] {
        [WireInteger.encode(tag), QIPC.encode(.list([.atom(.long(n)), .string("twice \(n)")]), messageType: .async)]
    }

    /// Reads REPLY messages until `count` answers came; returns each REPLY's answer count and
    /// the answers by tag.
    private static func answers(_ count: Int, from broker: BrokerPeer) async throws -> (perMessage: [Int], byTag: [UInt64: QValue]) {
        var perMessage: [Int] = []
        var byTag: [UInt64: QValue] = [:]
        while byTag.count < count {
            let frames = try #require(try await broker.next(), "no REPLY came")
            guard frames.count >= 2, frames[1] == ServantCommand.reply.frame else { continue }  // a PONG, say
            try #require((frames.count - 2) % 3 == 0, "a REPLY holds tag, answer, execution triples")
            perMessage.append((frames.count - 2) / 3)
            for first in stride(from: 2, to: frames.count, by: 3) {
                let tag = try #require(WireInteger.decode(frames[first]))
                byTag[tag] = try QIPC.decode(frames[first + 1]).value
                #expect(WireInteger.decode(frames[first + 2]) != nil)
            }
        }
        return (perMessage, byTag)
    }

    @Test func readyAnnouncesTheBatchLimit() async throws {
        var configuration = ServantConfiguration()
        configuration.batchLimit = 5
        try await Self.withBroker(configuration, replyLimit: nil) { _, ready in
            #expect(ready["batch"] == .atom(.long(5)))
        }
    }

    @Test func everyQueryOfABatchIsAnswered() async throws {
        var configuration = ServantConfiguration()
        configuration.capacity = 6
        try await Self.withBroker(configuration, replyLimit: 16) { broker, ready in
            #expect(ready["batch"] == .atom(.long(Int64(ServantConfiguration().batchLimit))))
            let batch = (1...6).flatMap { Self.query(tag: UInt64(100 + $0), Int64($0)) }
            try broker.send(.query, batch)
            let (_, byTag) = try await Self.answers(6, from: broker)
            for n in 1...6 {
                #expect(byTag[UInt64(100 + n)] == .list([.atom(.long(Int64(n))), .atom(.long(Int64(2 * n)))]))
            }
        }
    }

    @Test func answersReadyTogetherShareAReplyUpToTheBrokersLimit() async throws {
        var configuration = ServantConfiguration()
        configuration.threads = 4
        configuration.capacity = 8
        // Several batches of 8, so that answers finish together at least once.
        try await Self.withBroker(configuration, replyLimit: 3) { broker, _ in
            var perMessage: [Int] = []
            for round in 0..<20 {
                let batch = (0..<8).flatMap { Self.query(tag: UInt64(round * 8 + $0), Int64($0)) }
                try broker.send(.query, batch)
                perMessage += try await Self.answers(8, from: broker).perMessage
            }
            #expect(perMessage.allSatisfy { (1...3).contains($0) })
            #expect(perMessage.contains { $0 > 1 }, "no two answers ever shared a REPLY")
        }
    }

    @Test func aBrokerWithoutALimitGetsOneAnswerPerReply() async throws {
        var configuration = ServantConfiguration()
        configuration.threads = 4
        configuration.capacity = 8
        try await Self.withBroker(configuration, replyLimit: nil) { broker, _ in
            for round in 0..<5 {
                let batch = (0..<8).flatMap { Self.query(tag: UInt64(round * 8 + $0), Int64($0)) }
                try broker.send(.query, batch)
                #expect(try await Self.answers(8, from: broker).perMessage == Array(repeating: 1, count: 8))
            }
        }
    }

    /// A QUERY carrying more queries than the batch READY announced has each query past it
    /// answered at once with an error, not run; those within it run.
    @Test func queriesPastTheAnnouncedBatchAreRefused() async throws {
        var configuration = ServantConfiguration()
        configuration.batchLimit = 2
        configuration.capacity = 8
        try await Self.withBroker(configuration, replyLimit: 16) { broker, ready in
            #expect(ready["batch"] == .atom(.long(2)))
            try broker.send(.query, (1...3).flatMap { Self.query(tag: UInt64($0), Int64($0)) })
            let (_, byTag) = try await Self.answers(3, from: broker)
            #expect(byTag[1] == .list([.atom(.long(1)), .atom(.long(2))]))
            #expect(byTag[2] == .list([.atom(.long(2)), .atom(.long(4))]))
            let text = "mserve: a QUERY to this servant carries at most 2 queries (its READY's batch)"
            #expect(byTag[3] == (try QIPC.decode(ReplyAssembly.servantFailure(id: .atom(.long(3)), message: text)).value))
        }
    }

    @Test func aQueryWithAnUnpairedFrameIsDroppedAndTheServantGoesOn() async throws {
        try await Self.withBroker(replyLimit: 16) { broker, _ in
            let unpaired = Self.query(tag: 1, 1) + [WireInteger.encode(2)]
            try broker.send(.query, unpaired)
            try broker.send(.query, Self.query(tag: 3, 3))
            let (_, byTag) = try await Self.answers(1, from: broker)
            #expect(Array(byTag.keys) == [3])
        }
    }
}
