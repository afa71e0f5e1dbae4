import MServeServant
import MServeTestSupport
import MServeProtocol
import QData
import Testing
import ZeroMQ

/// A servant answers `(id; query)` sent straight to it, without a broker and its MSV1 framing.
struct ServantDirectQueryTests {
    /// Runs `body` with a running servant's endpoint and a context, then stops the servant.
    private static func withServant(_ body: (String, ZMQContext) async throws -> Void) async throws {
        let servant = try Servant(functions: .twice())
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        do {
            try await body(try await servant.endpoint, context)
        } catch {
            servant.stop()
            _ = await running.result
            context.terminate()
            throw error
        }
        servant.stop()
        try await running.value
        context.terminate()
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
}
