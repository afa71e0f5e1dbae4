import Foundation
import MServeProtocol
import MServeQuery
import MServeServant
import MServeTestSupport
import MServeTesting
import QData
import Testing

/// A servant answering a query for a plugin's function on IPC bytes
/// (``MServeServant/FunctionRegistry/reply(to:maximumSize:maximumReplySize:logger:)``): a
/// large parse form's arguments reach the plugin in the query's own bytes, the plugin's result
/// bytes go into the reply as they are, and every check and reply is what it was when both
/// were decoded and encoded again.
struct ServantPluginBytesTests {
    /// A C plugin: `address` answers the address and length of the arguments message it was
    /// given (a long vector); `args` returns that message itself; `raw x` returns the bytes of
    /// the byte vector `x` as its result message, whatever they hold.
    static let source = PluginFiles.cPlugin(
        name: "bytes", functions: [("address", 0, Int(UInt32.max)), ("args", 0, Int(UInt32.max)), ("raw", 1, 1)],
        prelude: """
            static int32_t result(mserve_servant_result *out, const uint8_t *bytes, size_t count) {
                out->result_ipc = malloc(count ? count : 1);
                memcpy(out->result_ipc, bytes, count);
                out->result_len = count;
                return MSERVE_SERVANT_CALL_OK;
            }
            """,
        callBody: """
            if (index == 0) {
                uint8_t bytes[30] = {1, 0, 0, 0, 30, 0, 0, 0, 7, 0, 2, 0, 0, 0};
                int64_t address = (int64_t)(uintptr_t)args, length = (int64_t)len;
                memcpy(bytes + 14, &address, 8);
                memcpy(bytes + 22, &length, 8);
                return result(out, bytes, sizeof bytes);
            }
            if (index == 1) return result(out, args, len);
            int32_t count;
            if (len < 20 || args[14] != 4) return MSERVE_SERVANT_CALL_FAILED;
            memcpy(&count, args + 16, 4);
            return result(out, args + 20, (size_t)count);
            """)

    let functions: FunctionRegistry

    /// Loads the plugin, then removes its file: the loaded library stays mapped.
    init() async throws {
        functions = try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let library = try await PluginFiles.compile(Self.source, named: "libbytes.so", in: URL(fileURLWithPath: path))
            return FunctionRegistry(plugins: try ServantPluginLoader.load(paths: [library]))
        }
    }

    /// `(id; query)` as a client sends it.
    static func message(_ query: QValue, id: QValue = .atom(.long(1))) -> [UInt8] {
        ClientQuery(id: id, query: query).encoded()
    }

    /// The serialized size of `value` (without a message header).
    static func payloadCount(_ value: QValue) -> Int {
        QIPC.encode(value).count - 8
    }

    /// A reply's items.
    static func items(_ reply: [UInt8]) throws -> [QValue] {
        guard case .list(let items, _) = try QIPC.decode(reply).value else { throw TestFailure("the reply is no list") }
        return items
    }

    /// `raw x`: the plugin returns the bytes `result` as its result message.
    static func raw(_ result: [UInt8]) -> QValue {
        .list([.atom(.symbol("raw")), .vector(.byte(result))])
    }

    @Test func aLargeParseFormsArgumentsReachThePluginInTheQuerysOwnBytes() throws {
        let function = QValue.atom(.symbol("address"))
        let vector = QValue.vector(.long(Array(0..<100_000)))  // 800 KB: checked in place
        let message = Self.message(.list([function, vector, .atom(.symbol("x"))]))
        let base = message.withUnsafeBytes { Int64(Int(bitPattern: $0.baseAddress)) }
        let count = message.count
        // The header, the list of two, the id, the query's list head and the function's name.
        let firstArgument = 8 + 6 + Self.payloadCount(.atom(.long(1))) + 6 + Self.payloadCount(function)
        let reply = try Self.items(functions.reply(to: consume message))
        // The arguments message (its 14-byte head written in front of the first argument) is
        // the rest of the query's own bytes, not a copy.
        #expect(reply[1] == .vector(.long([base + Int64(firstArgument - 14), Int64(count - (firstArgument - 14))])))
    }

    @Test func theArgumentsMadeInTheQuerysBytesAreTheArgumentsList() throws {
        let large: [QValue] = [
            .vector(.long(Array(0..<100_000))), .atom(.symbol("x")), .string("text"),
            .list([.vector(.float([1.5])), .atom(.int(3))]),
        ]
        for arguments in [large, [large[0]], [.atom(.long(1))], []] {
            let reply = try Self.items(functions.reply(to: Self.message(.list([.atom(.symbol("args"))] + arguments))))
            let same = reply[1] == .list(arguments)
            #expect(same, "\(arguments.count) argument(s): got \(reply[1].description.prefix(60))")
        }
        // As text: the arguments encoded from their values, as before.
        #expect(try Self.items(functions.reply(to: Self.message(.string("args[`a;2]"))))[1] == .list([.atom(.symbol("a")), .atom(.long(2))]))
    }

    /// Values of every type a result can hold, small and large.
    static let values: [QValue] = [
        .atom(.boolean(true)), .atom(.guid(UUID(uuidString: "01234567-89ab-cdef-0123-456789abcdef")!)),
        .atom(.byte(7)), .atom(.short(-3)), .atom(.int(42)), .atom(.long(.min)), .atom(.real(1.5)),
        .atom(.float(-0.25)), .atom(.char(65)), .atom(.symbol("IBM")), .atom(.timestamp(1)), .atom(.month(2)),
        .atom(.date(3)), .atom(.datetime(4.5)), .atom(.timespan(5)), .atom(.minute(6)), .atom(.second(7)),
        .atom(.time(8)), .identity,
        .vector(.boolean([true, false])), .vector(.long([])), .vector(.long([1, 2]), attribute: .sorted),
        .vector(.symbol(["a", "bc"])), .string("hello"), .vector(.float([1, .nan])),
        .vector(.timestamp([1, 2])), .vector(.guid([UUID(), UUID()])),
        .list([.atom(.long(1)), .string("x"), .list([])]),
        .dictionary(keys: .vector(.symbol(["a", "b"])), values: .list([.atom(.long(1)), .string("x")])),
        .dictionary(keys: .vector(.long([1, 2])), values: .vector(.long([3, 4])), sorted: true),
        .table(DemoFunctions.trades(for: "IBM")),
        .vector(.long(Array(0..<200_000))), .string(String(repeating: "m", count: 300_000)),
        .vector(.symbol((0..<20_000).map { "s\($0)" })),
        .list((0..<20_000).map { .atom(.long(Int64($0))) }),
    ]

    @Test func resultsOfEveryTypeComeBackAsWhenTheyWereDecodedAndEncodedAgain() throws {
        for value in Self.values {
            let resultBytes = QIPC.encode(value, messageType: .response)
            let expected = ReplyAssembly.servantResult(id: .atom(.long(9)), result: try QIPC.decode(resultBytes).value)
            let same = functions.reply(to: Self.message(Self.raw(resultBytes), id: .atom(.long(9)))) == expected
            #expect(same, "\(value.description.prefix(60))")
        }
    }

    @Test func compressedAndBigEndianResultsAreDecodedAndWrittenLittleEndian() throws {
        let value = QValue.vector(.long(Array(repeating: 5, count: 100_000)))
        let compressed = try #require(QIPC.compress(QIPC.encode(value)))
        // The long atom 7 as a big-endian message.
        let bigEndian: [UInt8] = [0, 2, 0, 0, 0, 0, 0, 17, 0xF9, 0, 0, 0, 0, 0, 0, 0, 7]
        for (bytes, result) in [(compressed, value), (bigEndian, .atom(.long(7)))] {
            let same = functions.reply(to: Self.message(Self.raw(bytes))) == ReplyAssembly.servantResult(id: .atom(.long(1)), result: result)
            #expect(same, "\(bytes.prefix(12))")
        }
    }

    @Test func thePluginsResultBytesReachTheReplyAsTheyAre() throws {
        // The symbol `café` in Latin-1: decoding it as UTF-8 and encoding it again, as the
        // servant did, sent U+FFFD (EF BF BD) in place of the é.
        let symbol: [UInt8] = [0xF5, 0x63, 0x61, 0x66, 0xE9, 0]
        let result = [1, 0, 0, 0, UInt8(8 + symbol.count), 0, 0, 0] + symbol
        var expected = QIPC.listMessageHead(count: 2)
        QIPC.encodePayload(.atom(.long(1)), into: &expected)
        expected += symbol
        QIPC.patchLength(&expected)
        #expect(functions.reply(to: Self.message(Self.raw(result))) == expected)
    }

    @Test func malformedResultsGiveTheErrorsTheyGave() throws {
        let long = QIPC.encode(.vector(.long([1, 2, 3])))
        let malformed: [[UInt8]] = [
            [1, 2, 3],  // shorter than a header
            Array(long.dropLast(8)),  // the header's length disagrees
            { var bytes = Array(long.dropLast(8)); QIPC.patchLength(&bytes); return bytes }(),  // a vector cut short
            { var bytes = long + [0]; QIPC.patchLength(&bytes); return bytes }(),  // a byte after the value
            [1, 0, 0, 0, 10, 0, 0, 0, 100, 0],  // a function
            [1, 0, 0, 0, 9, 0, 0, 0, 0xF5],  // a symbol without its NUL
            [1, 0, 0, 0, 8, 0, 0, 0],  // no value
            [1, 0, 0, 0, 23, 0, 0, 0, 98, 0, 99, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  // a table with no columns
            {  // a table of a dictionary whose keys are no symbols
                var bytes: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0, 98, 0]
                QIPC.encodePayload(.dictionary(keys: .vector(.long([1])), values: .list([.vector(.long([2]))])), into: &bytes)
                QIPC.patchLength(&bytes)
                return bytes
            }(),
        ]
        for bytes in malformed {
            let decodeError = #expect(throws: QIPCError.self) { try QIPC.decode(bytes) }
            let text = "raw: plugin bytes returned a malformed result (result_ipc): \(decodeError?.message ?? "?")"
            let reply = functions.reply(to: Self.message(Self.raw(bytes)))
            #expect(reply == ReplyAssembly.servantFailure(id: .atom(.long(1)), message: text), "\(bytes.prefix(16))")
        }
    }

    @Test func aResultOverTheReplyLimitIsRefusedAsBefore() throws {
        let result = QIPC.encode(.vector(.long(Array(0..<100_000))))
        let message = Self.message(Self.raw(result))
        let whole = ReplyAssembly.servantResult(id: .atom(.long(1)), result: try QIPC.decode(result).value)
        let exact = whole.count
        let fits = functions.reply(to: message, maximumReplySize: exact) == whole
        #expect(fits)
        #expect(
            functions.reply(to: message, maximumReplySize: exact - 1)
                == ReplyAssembly.resultTooLarge(id: .atom(.long(1)), bytes: exact, limit: exact - 1))
    }

    /// Queries secure invocation refuses, or that fail before the plugin runs, large ones
    /// (checked in place) and small ones (decoded).
    static let refusedQueries: [QValue] = {
        let large = QValue.vector(.long(Array(0..<20_000)))  // 160 KB
        let bigList = QValue.list([large, .list([.atom(.symbol("value")), .string("exit 0")])])
        return [
            .list([.atom(.symbol("args")), bigList]),  // a nested call inside a large argument
            .list([.atom(.symbol("args")), large, .list([.atom(.symbol("exit")), .atom(.long(0))])]),
            .list([.atom(.symbol("args")), .list([large, .error("boom")])]),  // a q error inside
            .list([.atom(.symbol("value")), large]),  // a q built-in
            .list([.atom(.symbol(".z.ps")), large]),  // a reserved namespace
            .list([.atom(.symbol("absent")), large]),  // no such function
            .list([.atom(.symbol("raw")), large, large]),  // rank
            .list([.atom(.symbol("raw"))]),
            .list([.atom(.long(1)), large]),  // no function name
            .list([]),
            .string("args[1;value \"2\"]"), .string("{x}[1]"), .atom(.symbol("value")), .atom(.long(3)),
        ]
    }()

    @Test func refusedQueriesGetTheRepliesTheyGotWhenTheQueryWasDecodedWhole() throws {
        let restricted = functions.restricted(to: FunctionAllowlist(["raw"]))
        // Allowed only by the first registry: refused by the second's allowlist.
        let args = QValue.list([.atom(.symbol("args")), .vector(.long(Array(0..<20_000)))])
        for (registry, queries) in [(functions, Self.refusedQueries), (restricted, Self.refusedQueries + [args])] {
            for query in queries {
                // `call(query:)` decodes and parses the query whole: the servant's checks as they were.
                let refusal = #expect(throws: ServantError.self) { try registry.call(query: query) }
                let reply = registry.reply(to: Self.message(query, id: .atom(.symbol("q"))))
                #expect(
                    reply == ReplyAssembly.servantFailure(id: .atom(.symbol("q")), message: refusal?.message ?? "?"),
                    "\(query.description.prefix(80))")
            }
        }
    }

    @Test func malformedMessagesGetTheRepliesTheyGot() throws {
        let good = Self.message(.list([.atom(.symbol("args")), .vector(.long(Array(0..<20_000)))]))
        let malformed: [[UInt8]] = [
            [9, 9, 9], Array(good.dropLast(3)),
            { var bytes = Array(good.dropLast(3)); QIPC.patchLength(&bytes); return bytes }(),
            QIPC.encode(.list([.atom(.long(1)), .string("args 1"), .atom(.long(2))])),
            QIPC.encode(.list([.atom(.long(1))])), QIPC.encode(.string("args 1")),
            QIPC.encode(.list([.error("id"), .string("args 1")])),
        ]
        for bytes in malformed {
            let error = #expect(throws: ProtocolError.self) { try ClientQuery(bytes: bytes) }
            #expect(
                functions.reply(to: bytes)
                    == ReplyAssembly.servantFailure(id: .identity, message: ReplyAssembly.mserveError(error?.message ?? "?")),
                "\(bytes.prefix(16))")
        }
        // Compressed, and big-endian: rewritten plain, then answered as ever.
        let compressed = try #require(QIPC.compress(good))
        let decompressed = try Self.items(functions.reply(to: compressed))[1] == .list([.vector(.long(Array(0..<20_000)))])
        #expect(decompressed)
        // `(1; "args 1")` big-endian: the header, the list of two, the long 1, the string.
        var bigEndian: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0xF9, 0, 0, 0, 0, 0, 0, 0, 1, 10, 0, 0, 0, 0, 6]
        bigEndian += Array("args 1".utf8)
        bigEndian[7] = UInt8(bigEndian.count)
        #expect(try Self.items(functions.reply(to: bigEndian)) == [.atom(.long(1)), .list([.atom(.long(1))])])
    }
}
