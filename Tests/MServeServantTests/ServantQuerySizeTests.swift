import MServeProtocol
import MServeServant
import MServeTestSupport
import QData
import Testing
import ZeroMQ

/// A broker's compressed query is held, once decompressed, to the message limit its HELLO
/// announced (its --max-message, to which it holds its clients' queries), and refused over it
/// without being decompressed.
struct ServantQuerySizeTests {
    /// `size x`: the number of bytes in the byte vector `x`.
    private static var functions: FunctionRegistry {
        var functions = FunctionRegistry()
        functions.register("size", arity: 1...1) { arguments in
            guard case .vector(.byte(let bytes), _) = arguments[0] else { throw ServantError("size: type") }
            return .atom(.long(Int64(bytes.count)))
        }
        return functions
    }

    /// `(tag; (`size; count zero bytes))`, compressed.
    private static func compressedQuery(tag: UInt64, bytes count: Int) throws -> (plain: [UInt8], compressed: [UInt8]) {
        let plain = QIPC.encode(
            .list([.atom(.long(Int64(tag))), .list([.atom(.symbol("size")), .vector(.byte([UInt8](repeating: 0, count: count)))])]))
        return (plain, try #require(QIPC.compress(plain)))
    }

    @Test func aBrokersCompressedQueryIsHeldToItsHellosLimit() async throws {
        let servant = try Servant(functions: Self.functions)
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        let limit = 1 << 20
        let broker = try await BrokerPeer(
            context: context, endpoint: try await servant.endpoint,
            helloFrames: [WireInteger.encode(7), WireInteger.encode(1), WireInteger.encode(UInt64(limit))])
        let (over, overCompressed) = try Self.compressedQuery(tag: 1, bytes: 4 << 20)
        #expect(overCompressed.count < limit, "within the limit on the wire")
        try broker.send(.query, [WireInteger.encode(1), overCompressed])
        let refused = try #require(try await broker.next(), "no REPLY")
        try #require(refused.count == 5 && refused[1] == ServantCommand.reply.frame, "not a REPLY: \(refused)")
        let text = "mserve: malformed message: the message decompresses to \(over.count) bytes, over the limit of \(limit)"
        #expect(try QIPC.decode(refused[3]).value == QIPC.decode(ReplyAssembly.servantFailure(id: .identity, message: text)).value)
        // Within the limit once decompressed, it runs.
        let (_, withinCompressed) = try Self.compressedQuery(tag: 2, bytes: limit / 2)
        try broker.send(.query, [WireInteger.encode(2), withinCompressed])
        let answered = try #require(try await broker.next(), "no REPLY")
        try #require(answered.count == 5, "not a REPLY of one answer: \(answered)")
        #expect(try QIPC.decode(answered[3]).value == .list([.atom(.long(2)), .atom(.long(Int64(limit / 2)))]))
        broker.socket.close()
        servant.stop()
        try await running.value
        context.terminate()
    }
}
