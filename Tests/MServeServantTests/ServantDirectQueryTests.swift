import Logging
import MServeProtocol
import MServeServant
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

/// With direct queries on, a servant answers `(id; query)` sent straight to it, without a
/// broker and its MSV1 framing; with them off (the default), it answers each with an error.
struct ServantDirectQueryTests {
    /// What a direct query is answered with while direct queries are off, in the failure shape.
    static let directQueriesOff =
        "mserve: this servant takes queries from brokers only; direct queries are off (mserve servant --direct turns them on)"

    /// Runs `body` with a running servant configured by `configure` (direct queries on by
    /// default) and a context, then stops the servant.
    private static func withServant(
        _ configure: (inout ServantConfiguration) -> Void = { $0.acceptsDirectQueries = true },
        functions: FunctionRegistry = .twice(),
        logger: Logger = Logger(label: "mserve.servant"),
        _ body: (String, ZMQContext) async throws -> Void
    ) async throws {
        var configuration = ServantConfiguration()
        configure(&configuration)
        try await RunningServant.with(configuration, functions: functions, logger: logger, body)
    }

    private static func socket(_ type: ZMQSocketType, _ context: ZMQContext, _ endpoint: String) throws -> ZMQSocket {
        let socket = try ZMQSocket(context: context, type: type)
        try socket.setLinger(milliseconds: 0)
        try socket.setReceiveTimeout(milliseconds: 5_000)
        try socket.connect(endpoint)
        return socket
    }

    @Test func aDealerGetsItsEnvelopeBackWithIdAndResult() async throws {
        try await Self.withServant { endpoint, context in
            let dealer = try Self.socket(.dealer, context, endpoint)
            defer { dealer.close() }
            let envelope: [[UInt8]] = [Array("client-7".utf8), [1, 2, 3]]
            try dealer.send(multipart: envelope + [QIPC.encode(.list([.atom(.long(7)), .string("twice 21")]))])
            let frames = try #require(try await dealer.receiveFrames(within: .seconds(10)))
            #expect(Array(frames.dropLast()) == envelope)
            #expect(try QIPC.decode(frames[frames.count - 1]).value == .list([.atom(.long(7)), .atom(.long(42))]))
        }
    }

    /// A direct query with more frames in front of it than a client's envelope may have is
    /// dropped, whether direct queries are on or off: its reply would echo each of them.
    @Test(arguments: [true, false])
    func anEnvelopeOverTheLimitIsDropped(directQueriesOn: Bool) async throws {
        try await Self.withServant({ $0.acceptsDirectQueries = directQueriesOn }) { endpoint, context in
            let dealer = try Self.socket(.dealer, context, endpoint)
            defer { dealer.close() }
            let query = QIPC.encode(.list([.atom(.long(7)), .string("twice 21")]))
            try dealer.send(multipart: [[UInt8]](repeating: [], count: ClientEnvelope.maximumFrames) + [query])
            try dealer.send(multipart: [[UInt8]](repeating: [], count: ClientEnvelope.maximumFrames - 1) + [query])
            let frames = try #require(try await dealer.receiveFrames(within: .seconds(10)))
            #expect(frames.count == ClientEnvelope.maximumFrames, "only the message within the limit is answered")
        }
    }

    @Test func aReqSocketIsAnsweredAndRefusalsComeBackAsErrors() async throws {
        try await Self.withServant { endpoint, context in
            let request = try Self.socket(.req, context, endpoint)
            defer { request.close() }
            try request.send(multipart: [QIPC.encode(.list([.atom(.long(1)), .string("value \"twice 1\"")]))])
            let refused = try #require(try await request.receiveFrames(within: .seconds(10)))
            #expect(refused.count == 1)
            guard case .list(let items, _) = try QIPC.decode(refused[0]).value, items.count == 3,
                let text = ReplyAssembly.failure(result: items[1], info: items[2]), items[1] == .string(text)
            else {
                Issue.record("expected (id; \"error\"; info), got \(refused)")
                return
            }
            try request.send(multipart: [[0xde, 0xad]])
            let malformed = try #require(try await request.receiveFrames(within: .seconds(10)))
            guard case .list(let answer, _) = try QIPC.decode(malformed[0]).value, answer.count == 3,
                let message = ReplyAssembly.failure(result: answer[1], info: answer[2]), answer[1] == .string(message)
            else {
                Issue.record("expected an error reply to a malformed message, got \(malformed)")
                return
            }
            #expect(message.hasPrefix("mserve: malformed"))
        }
    }

    @Test func directQueriesAreOffByDefaultAndAnsweredWithAnErrorWhileBrokersAreServed() async throws {
        #expect(!ServantConfiguration().acceptsDirectQueries)
        try await Self.withServant({ _ in }) { endpoint, context in
            let dealer = try Self.socket(.dealer, context, endpoint)
            defer { dealer.close() }
            let envelope: [[UInt8]] = [Array("client-7".utf8)]
            try dealer.send(multipart: envelope + [QIPC.encode(.list([.atom(.long(7)), .string("twice 21")]))])
            let frames = try #require(try await dealer.receiveFrames(within: .seconds(10)), "the direct query got no answer")
            #expect(Array(frames.dropLast()) == envelope)
            #expect(
                try QIPC.decode(frames[frames.count - 1]).value == QIPC.decode(ReplyAssembly.servantFailure(id: .atom(.long(7)), message: Self.directQueriesOff)).value)
            // A broker's query still runs.
            let broker = try await BrokerPeer(context: context, endpoint: endpoint)
            defer { broker.socket.close() }
            try broker.query(tag: 3, "twice 4")
            let reply = try #require(try await broker.next(), "the broker's query got no answer")
            #expect(reply.count == 5 && reply[1] == ServantCommand.reply.frame)
            #expect(try QIPC.decode(reply[3]).value == .list([.atom(.long(3)), .atom(.long(8))]))
        }
    }

    /// Direct queries from all direct clients together are held to the capacity: one more is
    /// answered at once with an error, never run.
    @Test func directQueriesPastTheCapacityAreRefusedAtOnce() async throws {
        let hold = HeldFunction()
        defer { hold.release(16) }
        let recorder = LogRecorder()
        try await Self.withServant(
            { $0.acceptsDirectQueries = true }, functions: hold.registry, logger: recorder.logger(label: "mserve.servant")
        ) { endpoint, context in
            let first = try Self.socket(.dealer, context, endpoint)
            let second = try Self.socket(.dealer, context, endpoint)
            defer {
                first.close()
                second.close()
            }
            try first.send(QIPC.encode(.list([.atom(.long(1)), .string("hold 1")])))
            #expect(await eventually { hold.startedCount == 1 })
            try second.send(QIPC.encode(.list([.atom(.long(2)), .string("hold 2")])))
            let refused = try #require(try await second.receiveFrames(within: .seconds(10)), "the query past the capacity got no answer")
            let text = "mserve: the servant is at its capacity of 1 direct query"
            #expect(try QIPC.decode(refused[0]).value == QIPC.decode(ReplyAssembly.servantFailure(id: .atom(.long(2)), message: text)).value)
            // The log says it as the reply does.
            #expect(
                recorder.messages.contains("refused a direct query: the servant holds its capacity of 1 direct query"),
                "\(recorder.messages)")
            hold.release(1)
            let answered = try #require(try await first.receiveFrames(within: .seconds(10)))
            #expect(try QIPC.decode(answered[0]).value == .list([.atom(.long(1)), .atom(.long(1))]))
            // Its answer sent, the place is free again.
            try second.send(QIPC.encode(.list([.atom(.long(3)), .string("hold 3")])))
            hold.release(1)
            let later = try #require(try await second.receiveFrames(within: .seconds(10)))
            #expect(try QIPC.decode(later[0]).value == .list([.atom(.long(3)), .atom(.long(3))]))
            #expect(hold.startedCount == 2)
        }
    }

    /// A compressed direct query refused because direct queries are off is not decompressed
    /// whole to find its id: the id is read from the first bytes, so a message whose data goes
    /// bad further on, or that announces more than the servant takes, is answered with it.
    @Test func aRefusedDirectQueryIsDecompressedOnlyAsFarAsItsId() async throws {
        let plain = QIPC.encode(.list([.atom(.long(9)), .vector(.byte([UInt8](repeating: 0, count: 4 << 20)))]))
        let compressed = try #require(QIPC.compress(plain))
        var goingBad = compressed
        goingBad.removeLast(64)
        QIPC.patchLength(&goingBad)
        #expect(throws: QIPCError.self, "whole, it does not decompress") { try QIPC.decompress(goingBad) }
        try await Self.withServant({ $0.maxMessageSize = 1 << 20 }) { endpoint, context in
            let dealer = try Self.socket(.dealer, context, endpoint)
            defer { dealer.close() }
            let expected = try QIPC.decode(ReplyAssembly.servantFailure(id: .atom(.long(9)), message: Self.directQueriesOff)).value
            for message in [goingBad, compressed] {
                #expect(message.count < 1 << 20 && plain.count > 1 << 20)
                try dealer.send(message)
                let frames = try #require(try await dealer.receiveFrames(within: .seconds(10)), "no answer")
                #expect(try QIPC.decode(frames[frames.count - 1]).value == expected)
            }
        }
    }
}
