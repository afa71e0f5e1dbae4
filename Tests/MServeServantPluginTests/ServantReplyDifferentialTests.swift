import Foundation
import MServeProtocol
import MServeQuery
import MServeServant
import MServeServantPluginKit
import MServeTestScheduling
import PropertyBased
import QData
import Synchronization
import Testing

/// Plugin functions called through the C ABI in-process, for the differential test: each call's
/// arguments message is kept as the plugin got it (``PluginArguments``).
enum DifferentialAPI: ServantPluginAPI {
    static let functions: [ServantPluginFunction] = [
        ServantPluginFunction("record", arity: 0...Int.max) { .list($0) },
        // Exported, it copies its argument's bytes to its result without decoding them.
        ServantPluginFunction.identity("same"),
        ServantPluginFunction("pair", arity: 2...2) { .list($0.reversed()) },
        ServantPluginFunction("boom", arity: 0...1) { _ -> QValue in throw ServantPluginFailure("boom: as asked") },
    ]
}

/// The arguments messages the differential plugin got, in order, since they were last taken.
enum PluginArguments {
    private static let received = Mutex<[[UInt8]]>([])

    static func note(_ arguments: UnsafePointer<UInt8>?, _ length: Int) {
        let bytes = arguments.map { Array(UnsafeBufferPointer(start: $0, count: length)) } ?? []
        received.withLock { $0.append(bytes) }
    }

    static func take() -> [[UInt8]] {
        received.withLock { received in
            defer { received = [] }
            return received
        }
    }
}

private let differentialPlugin = ServantPluginExport<DifferentialAPI>.table(
    name: "differential", description: "keeps the arguments it is called with",
    call: { index, arguments, length, result in
        PluginArguments.note(arguments, length)
        return ServantPluginExport<DifferentialAPI>.call(index, arguments, length, result)
    })

/// A servant's reply to a client message
/// (``MServeServant/FunctionRegistry/reply(to:maximumSize:maximumReplySize:logger:)``, which
/// checks the message and the query in place and hands a plugin a large query's own argument
/// bytes) is the reply it gave when it decoded the message and the query whole: the same
/// result, or the same error reply byte for byte, for generated messages and damaged ones.
/// Secure invocation is as strict as it was: a plugin is called only when it was, and only
/// ever on literal arguments.
///
/// A failure prints the message's recipe and bytes, and the seed that makes it again:
/// `@Test(.fixedSeed("…"))`. `MSERVE_DIFFERENTIAL_CASES=N` runs N messages instead of the
/// default 200, and prints how they were answered (to look harder, locally).
@Suite(.serialized, .heavyComputation)
struct ServantReplyDifferentialTests {
    let functions: FunctionRegistry
    let restricted: FunctionRegistry

    init() throws {
        let plugin = try ServantPluginLoader.plugin(table: differentialPlugin.pointer, origin: "differential")
        var functions = FunctionRegistry(plugins: [plugin])
        // Functions on q values, in-process: the same checks, without the plugin's bytes.
        functions.register("echo") { .list($0) }
        functions.register("twice", arity: 2...2) { $0.count == 2 ? .list($0 + $0) : .identity }
        functions.register("fails", arity: 0...1) { _ in throw ServantError("fails: as asked") }
        self.functions = functions
        restricted = functions.restricted(to: FunctionAllowlist(["record", "same", "echo", "absent", "value"]))
    }

    /// The reply the servant sent when it decoded the message and the query whole, before it
    /// checked them in place: the oracle. (`ClientQuery(bytes:)` decodes the message;
    /// `call(query:)` parses, checks and runs the query on q values.)
    static func replyDecodedWhole(
        by registry: FunctionRegistry, to message: [UInt8], maximumSize: Int, maximumReplySize: Int
    ) -> [UInt8] {
        let query: ClientQuery
        do {
            query = try ClientQuery(bytes: message, maximumSize: maximumSize)
        } catch {
            return ReplyAssembly.servantFailure(id: .identity, message: ReplyAssembly.mserveError(error.message))
        }
        let reply: [UInt8]
        do {
            let outcome = try registry.call(query: query.query)
            reply = ReplyAssembly.servantResult(id: query.id, result: outcome.result, info: outcome.info)
        } catch let error as ServantError {
            reply = ReplyAssembly.servantFailure(id: query.id, message: error.message)
        } catch {
            reply = ReplyAssembly.servantFailure(id: query.id, message: "\(error)")
        }
        let limit = min(maximumReplySize, Int(UInt32.max))
        guard reply.count > limit else { return reply }
        return ReplyAssembly.resultTooLarge(id: query.id, bytes: reply.count, limit: limit)
    }

    /// What a reply says, to show in a failure: its id and its result or its error text.
    static func summary(of reply: [UInt8]) -> String {
        guard case .list(let items, _)? = try? QIPC.decode(reply).value, items.count >= 2 else {
            return "undecodable reply of \(reply.count) bytes"
        }
        let text: String
        if let failure = ReplyAssembly.failure(result: items[1], info: items.count > 2 ? items[2] : nil) {
            text = "error \(failure.prefix(300).debugDescription)"
        } else {
            text = "result \(items[1].description.prefix(200))"
        }
        return "id \(items[0].description.prefix(40)), \(text) (\(reply.count) bytes)"
    }

    /// Why a plugin's arguments message holds something other than literals (a q error; in
    /// the arguments of a parse form, a general list headed by a symbol, which q runs as a
    /// call), or is no list; nil when it holds literals only.
    static func nonLiteral(inArguments message: [UInt8], ofParseForm parseForm: Bool) -> String? {
        guard let value = try? QIPC.decode(message).value else { return "the arguments message does not decode" }
        guard case .list(let arguments, _) = value else { return "the arguments message is no list: \(value)" }
        func holdsCall(_ value: QValue) -> Bool {
            switch value {
            case .list(let items, _):
                if case .atom(.symbol)? = items.first { return true }
                return items.contains(where: holdsCall)
            default: return false
            }
        }
        for (index, argument) in arguments.enumerated() {
            if argument.holdsError { return "argument \(index + 1) holds a q error" }
            if parseForm, holdsCall(argument) { return "argument \(index + 1) holds a call" }
        }
        return nil
    }

    /// What a message's answer was, for the tally.
    enum Outcome {
        case malformed, refused, answered
    }

    /// Answers `message` both ways and records every difference; returns the oracle's outcome,
    /// whether a plugin got the query's own bytes (a parse form over 64 KiB), and whether the
    /// two agreed.
    @discardableResult
    func compare(_ message: GeneratedQueryMessage) -> (Outcome, inPlace: Bool, agreed: Bool) {
        let registry = message.restricted ? restricted : functions
        _ = PluginArguments.take()
        let expected = Self.replyDecodedWhole(
            by: registry, to: message.bytes, maximumSize: message.maximumSize, maximumReplySize: message.maximumReplySize)
        let expectedCalls = PluginArguments.take()
        let reply = registry.reply(
            to: message.bytes, maximumSize: message.maximumSize, maximumReplySize: message.maximumReplySize)
        let calls = PluginArguments.take()

        // A plugin's arguments and result are the query's bytes and the plugin's as they are,
        // no longer decoded and encoded again: the same values, with symbols that are no UTF-8
        // as they came, not as U+FFFD (and booleans as their byte, not 0 or 1).
        let same =
            reply == expected
            || (!calls.isEmpty && (try? QIPC.encode(QIPC.decode(reply).value, messageType: .async)) == expected)
        #expect(
            same,
            """
            the reply differs from the reply to the query decoded whole
              got:      \(Self.summary(of: reply))
              expected: \(Self.summary(of: expected))
              message:  \(message)
            """)
        // In query text, `(`f;1)` is a list of a symbol and a long; in a parse form, a call.
        let query = (try? ClientQuery(bytes: message.bytes, maximumSize: message.maximumSize))?.query
        let parseForm: Bool
        if case .list? = query { parseForm = true } else { parseForm = false }
        var literal = true
        for call in calls {
            if let problem = Self.nonLiteral(inArguments: call, ofParseForm: parseForm) {
                Issue.record("the plugin was called on what is no literal: \(problem); message: \(message)")
                literal = false
            }
        }
        let decodedCalls = calls.map { try? QIPC.decode($0).value }
        let expectedDecodedCalls = expectedCalls.map { try? QIPC.decode($0).value }
        #expect(
            decodedCalls == expectedDecodedCalls,
            "the plugin was called \(calls.count) time(s), \(expectedCalls.count) decoding the query whole; message: \(message)")

        let outcome: Outcome
        if case .list(let items, _)? = try? QIPC.decode(expected).value, items.count == 3,
            ReplyAssembly.failure(result: items[1], info: items[2]) != nil
        {
            outcome = items[0] == .identity ? .malformed : .refused
        } else {
            outcome = .answered
        }
        let inPlace =
            !calls.isEmpty && parseForm
            && QIPC.encode(query ?? .identity).count - 8 > QueryParser.largestDecodedArgument
        return (outcome, inPlace, same && literal && decodedCalls == expectedDecodedCalls)
    }

    /// `bytes` with its header's length made right, in its byte order.
    static func lengthMended(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        let length = UInt32(bytes.count)
        for index in 0..<4 {
            let byte = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index)))
            if bytes[0] == 0 { bytes[7 - index] = byte } else { bytes[4 + index] = byte }
        }
        return bytes
    }

    /// `(1; "echo 1")` as a big-endian host writes it.
    static let bigEndianEcho = QueryMessageGenerator.bigEndian(QIPC.encode(.list([.atom(.long(1)), .string("echo 1")])))!

    /// Messages the generated ones found answered otherwise than when they were decoded
    /// whole, made as small as they would go.
    static let regressions: [GeneratedQueryMessage] = [
        {
            // A q error 63 dictionaries deep, in an argument read in place (over 64 KiB): it
            // reached the plugin, where decoding refused it.
            var nested = QValue.error("boom")
            for _ in 0..<63 { nested = .dictionary(keys: .vector(.symbol(["a"])), values: nested) }
            let argument = QValue.list([.vector(.long(Array(0..<8_192))), nested])
            let query = QValue.list([.atom(.symbol("record")), argument])
            return GeneratedQueryMessage(
                recipe: ["a q error 63 dictionaries deep in a large argument"],
                bytes: ClientQuery(id: .atom(.long(1)), query: query).encoded())
        }(),
        GeneratedQueryMessage(
            recipe: ["a refusal longer than the largest reply"],
            bytes: ClientQuery(id: .atom(.long(7)), query: .list([.atom(.symbol("value")), .atom(.long(1))])).encoded(),
            maximumReplySize: 100),
        GeneratedQueryMessage(
            recipe: ["big-endian, a byte after the list"], bytes: lengthMended(bigEndianEcho + [0])),
        GeneratedQueryMessage(
            recipe: ["big-endian, the list's attribute byte set"],
            bytes: { var bytes = bigEndianEcho; bytes[9] = 7; return bytes }()),
        GeneratedQueryMessage(
            recipe: ["big-endian, a fourth item that does not decode"],
            bytes: {
                var bytes = QueryMessageGenerator.bigEndian(
                    QIPC.encode(.list([.atom(.long(1)), .string("echo 1"), .atom(.long(2))])))!
                bytes[13] = 4
                return lengthMended(bytes + [0xFD, 7])
            }()),
        GeneratedQueryMessage(recipe: ["a binary primitive, no list"], bytes: [1, 0, 0, 0, 10, 0, 0, 0, 102, 1]),
        GeneratedQueryMessage(recipe: ["a long atom cut short, no list"], bytes: [1, 0, 0, 0, 13, 0, 0, 0, 0xF9, 1, 2, 3, 4]),
        GeneratedQueryMessage(
            recipe: ["an atom of type -3"],
            bytes: lengthMended(Array(QIPC.encode(.list([.atom(.long(1)), .atom(.long(2))])).dropLast(9)) + [0xFD, 7])),
        GeneratedQueryMessage(
            recipe: ["a boolean atom cut short"],
            bytes: lengthMended(Array(QIPC.encode(.list([.atom(.long(1)), .atom(.boolean(true))])).dropLast()))),
        GeneratedQueryMessage(
            recipe: ["a guid atom cut short"],
            bytes: lengthMended(
                Array(QIPC.encode(.list([.atom(.long(1)), .atom(.guid(UUID(uuidString: "01234567-89AB-CDEF-0123-456789ABCDEF")!))])).dropLast(4)))),
    ]

    @Test(arguments: regressions)
    func repliesFoundToDifferAreThoseToTheQueryDecodedWhole(message: GeneratedQueryMessage) {
        compare(message)
    }

    /// Messages per run: a few seconds in a debug build.
    static let defaultCount = 200

    @Test func repliesAreThoseToTheQueryDecodedWhole() async {
        let count = ProcessInfo.processInfo.environment["MSERVE_DIFFERENTIAL_CASES"].flatMap { Int($0) } ?? Self.defaultCount
        var tally: [Outcome: Int] = [:]
        var pluginInPlace = 0
        var agreed = true
        await propertyCheck(count: count, input: QueryMessageGenerator.messages()) { message in
            let answer = compare(message)
            tally[answer.0, default: 0] += 1
            if answer.inPlace { pluginInPlace += 1 }
            agreed = agreed && answer.agreed
        }
        // A difference ends the run (then shrinks the message): the tally is of a part of it.
        guard agreed else { return }
        if count != Self.defaultCount {
            print(
                "differential replies: \(count) messages: \(tally[.answered] ?? 0) answered, \(tally[.refused] ?? 0) refused,"
                    + " \(tally[.malformed] ?? 0) malformed; \(pluginInPlace) parse forms over 64 KiB a plugin read in place")
        }
        // Each kind of answer often enough for the comparison to prove something (about a
        // sixth of the messages are answered, a third refused, half malformed, and a twentieth
        // are parse forms over 64 KiB a plugin reads in place).
        #expect((tally[.answered] ?? 0) >= count / 20, "\(tally)")
        #expect((tally[.refused] ?? 0) >= count / 10, "\(tally)")
        #expect((tally[.malformed] ?? 0) >= count / 10, "\(tally)")
        #expect(pluginInPlace >= count / 100, "only \(pluginInPlace) parse forms over 64 KiB reached a plugin in place")
    }
}
