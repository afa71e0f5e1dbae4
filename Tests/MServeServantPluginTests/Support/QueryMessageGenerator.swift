import Foundation
import MServeTestRandom
import PropertyBased
import QData

/// A client message `(id; query)` made to be answered by a servant: its bytes, how they were
/// made (to read a failure), and the limits to answer it under.
struct GeneratedQueryMessage: Sendable, CustomStringConvertible {
    /// How the message was made, step by step.
    var recipe: [String]
    var bytes: [UInt8]
    /// Whether to answer with the registry restricted by an allowlist.
    var restricted = false
    /// The most bytes a compressed message may decompress to.
    var maximumSize = Int.max
    /// The largest reply the servant may send.
    var maximumReplySize = Int.max
    /// The message before it was damaged, when it was: what a failure shrinks to.
    var undamaged: [UInt8]?

    var description: String {
        let shown = bytes.prefix(96).map { String(format: "%02x", $0) }.joined()
        return recipe.joined(separator: "; ") + (restricted ? "; restricted registry" : "")
            + (maximumSize == .max ? "" : "; maximumSize \(maximumSize)")
            + (maximumReplySize == .max ? "" : "; maximumReplySize \(maximumReplySize)")
            + "; \(bytes.count) bytes: \(shown)\(bytes.count > 96 ? "…" : "")"
    }
}

/// Random client messages for a servant: parse forms `(`fn; arg1; …)` with literal arguments
/// of every q type (small, and over the 64 KiB past which a query is checked in place),
/// arguments that are no literals (nested calls, q errors, functions, nesting around the
/// depth limits), calls of q built-ins and reserved namespaces, query text, symbols and other
/// values; some written big-endian or compressed, some then damaged byte by byte.
enum QueryMessageGenerator {
    /// Messages; one that fails shrinks to the message before it was damaged.
    static func messages() -> Generator<GeneratedQueryMessage, [GeneratedQueryMessage]> {
        Generator(
            run: { rng in
                var source = MessageSource(seed: rng.next())
                return source.message()
            },
            shrink: { message in
                guard let undamaged = message.undamaged else { return [] }
                var plain = message
                plain.bytes = undamaged
                plain.undamaged = nil
                plain.recipe.append("undamaged")
                return [plain]
            })
    }

    /// The UTF-8 of a marker character in generated symbols, replaced in the message's bytes
    /// by bytes that are no UTF-8 (what a client may put in a symbol).
    static let oddMarker: [UInt8] = Array("\u{10FFFF}".utf8)
    static let oddReplacements: [[UInt8]] = [
        [0xFF, 0xFE, 0xFD, 0xFC], [0xC3, 0x28, 0xA0, 0xA1], [0xE9, 0x61, 0x62, 0x63], [0x80, 0x80, 0x80, 0x80],
        [0xED, 0xA0, 0x80, 0x41],
    ]

    /// The plain little-endian message `bytes` as a big-endian host writes it: every number
    /// (counts, lengths, atoms, vector items) with its bytes reversed; symbols, chars, bytes and
    /// GUIDs as they are. Nil when it holds a type this does not know.
    static func bigEndian(_ bytes: [UInt8]) -> [UInt8]? {
        var output = bytes
        var position = 8
        func count(at start: Int) -> Int? {
            guard start + 4 <= bytes.count else { return nil }
            let raw = UInt32(bytes[start]) | UInt32(bytes[start + 1]) << 8 | UInt32(bytes[start + 2]) << 16
                | UInt32(bytes[start + 3]) << 24
            return Int(Int32(bitPattern: raw))
        }
        func reverse(_ start: Int, _ width: Int) -> Bool {
            guard start + width <= bytes.count else { return false }
            output[start..<(start + width)].reverse()
            return true
        }
        func symbolEnd(_ start: Int) -> Int? {
            bytes[start...].firstIndex(of: 0).map { $0 + 1 }
        }
        func walk() -> Bool {
            guard position < bytes.count else { return false }
            let type = Int8(bitPattern: bytes[position])
            position += 1
            switch type {
            case -128, -11:
                guard let end = symbolEnd(position) else { return false }
                position = end
            case -2:
                position += 16
            case -19 ... -1:
                guard let width = QIPC.fixedWidth(ofType: Int(-type)), reverse(position, width) else { return false }
                position += width
            case 0:
                guard let items = count(at: position + 1), items >= 0, reverse(position + 1, 4) else { return false }
                position += 5
                for _ in 0..<items {
                    guard walk() else { return false }
                }
            case 11:
                guard let items = count(at: position + 1), items >= 0, reverse(position + 1, 4) else { return false }
                position += 5
                for _ in 0..<items {
                    guard position < bytes.count, let end = symbolEnd(position) else { return false }
                    position = end
                }
            case 1...19:
                guard let width = QIPC.fixedWidth(ofType: Int(type)), let items = count(at: position + 1), items >= 0,
                    reverse(position + 1, 4)
                else { return false }
                position += 5
                if type != 2 {
                    for index in 0..<items {
                        guard reverse(position + index * width, width) else { return false }
                    }
                }
                position += items * width
            case 98:
                position += 1
                return walk()
            case 99, 127:
                return walk() && walk()
            case 101:
                position += 1
            default:
                return false
            }
            return position <= bytes.count
        }
        guard bytes.count > 8, walk(), position == bytes.count else { return nil }
        output[0] = 0
        let length = UInt32(bytes.count)
        for index in 0..<4 { output[7 - index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index))) }
        return output
    }
}

/// One item of a parse form: a q value, or bytes no q value encodes to (a function, an
/// enumeration, a type that does not exist).
enum QueryPiece {
    case value(QValue)
    case raw([UInt8], String)

    var payload: [UInt8] {
        switch self {
        case .value(let value):
            var bytes: [UInt8] = []
            QIPC.encodePayload(value, into: &bytes)
            return bytes
        case .raw(let bytes, _):
            return bytes
        }
    }

    var summary: String {
        switch self {
        case .value(let value):
            let text = value.description
            return text.count > 60 ? String(text.prefix(60)) + "…(\(payload.count) bytes)" : text
        case .raw(_, let name): return name
        }
    }
}

/// The seeded source the generated messages come from (shared with the codec tests).
typealias MessageSource = SplitMix

extension SplitMix {
    // MARK: names and atoms

    /// A plain q name, sometimes dotted.
    mutating func name() -> String {
        let first = Array("abcxyzIBMQ")
        let rest = Array("abcxyzIBMQ019_")
        let plain = String(pick(first)) + String((0..<below(7)).map { _ in pick(rest) })
        return chance(15) ? ".api." + plain : plain
    }

    /// Symbol text: plain names, punctuation, non-ASCII, empty, and the marker of bytes that
    /// are no UTF-8; never a NUL.
    mutating func symbolText() -> String {
        switch below(12) {
        case 0: return ""
        case 1: return String(decoding: QueryMessageGenerator.oddMarker, as: UTF8.self) + name()
        case 2, 3:
            return pick([
                "é", "日本", "🙂", "a b", "`", ";", "\"", "\\", "a\u{1}b", "(`f;1)", "value", ".z.ps", "exit 0", "x:1",
            ])
        default: return name()
        }
    }

    mutating func atom() -> QAtom {
        switch below(19) {
        case 0: return .boolean(chance(50))
        case 1: return .guid(guid())
        case 2: return .byte(integer(UInt8.self))
        case 3: return .short(integer(Int16.self))
        case 4: return .int(integer(Int32.self))
        case 5, 6: return .long(integer(Int64.self))
        case 7: return .real(Float(double()))
        case 8: return .float(double())
        case 9: return .char(integer(UInt8.self))
        case 10, 11: return .symbol(symbolText())
        case 12: return .timestamp(integer(Int64.self))
        case 13: return .month(integer(Int32.self))
        case 14: return .date(integer(Int32.self))
        case 15: return .datetime(double())
        case 16: return .timespan(integer(Int64.self))
        case 17: return pick([.minute(integer(Int32.self)), .second(integer(Int32.self))])
        default: return .time(integer(Int32.self))
        }
    }

    mutating func vector(count: Int) -> QVector {
        vector(count: count) { $0.symbolText() }
    }

    mutating func attribute() -> QAttribute {
        chance(20) ? pick(QAttribute.allCases) : .none
    }

    // MARK: literals and what is no literal

    /// A literal argument: atoms, vectors, strings, `::`, general lists (never headed by a
    /// symbol, which q would run as a call), dictionaries and tables, nested up to `depth`.
    mutating func literal(depth: Int) -> QValue {
        switch below(depth > 0 ? 11 : 6) {
        case 0, 1: return .atom(atom())
        case 2, 3: return .vector(vector(count: pick([0, 1, 2, 3, 7])), attribute: attribute())
        case 4: return .vector(.char((0..<pick([0, 1, 5, 12])).map { _ in integer(UInt8.self) }), attribute: attribute())
        case 5: return chance(50) ? .identity : .atom(.symbol(symbolText()))
        case 6, 7:
            var items = (0..<pick([0, 1, 2, 3, 4])).map { _ in literal(depth: depth - 1) }
            if case .atom(.symbol)? = items.first { items.insert(.atom(.long(integer(Int64.self))), at: 0) }
            return .list(items, attribute: attribute())
        case 8, 9:
            let count = pick([0, 1, 2, 3])
            let keys: QValue =
                chance(70)
                ? .vector(.symbol((0..<count).map { _ in symbolText() }))
                : .vector(vector(count: count), attribute: attribute())
            let values: QValue =
                chance(50)
                ? .list((0..<count).map { _ in literal(depth: depth - 1) }) : .vector(vector(count: count))
            return .dictionary(keys: keys, values: values, sorted: chance(20))
        default:
            let rows = pick([0, 1, 2, 3])
            let columns = (0..<(1 + below(3))).map { "c\($0)" + (chance(20) ? symbolText() : "") }
            let values: [QValue] = columns.map { _ in
                chance(30) ? .list((0..<rows).map { _ in .atom(atom()) }) : .vector(vector(count: rows))
            }
            return .table(QTable(columns: columns, values: values), attribute: attribute())
        }
    }

    /// How many levels to wrap a value in: few, or about the depth limits (64 levels of
    /// general lists in a parse form; 128 levels of anything in a message).
    mutating func nesting() -> Int {
        pick([0, 1, 2, 3, 30, 61, 62, 63, 64, 65, 66, 100, 123, 124, 125, 126, 127, 128])
    }

    /// `value` inside `levels` containers: general lists (never headed by a symbol),
    /// dictionaries (as a key or a value), tables (in a column).
    mutating func wrapped(_ value: QValue, levels: Int) -> QValue {
        var value = value
        for _ in 0..<levels {
            switch below(7) {
            case 0: value = .list([value])
            case 1: value = .list([.atom(.long(1)), value])
            case 2: value = .dictionary(keys: .vector(.symbol(["a"])), values: .list([value]))
            case 3: value = .dictionary(keys: .vector(.symbol(["a"])), values: value, sorted: chance(30))
            case 4: value = .dictionary(keys: .list([value]), values: .vector(.long([1])))
            case 5: value = .table(QTable(columns: ["c"], values: [.list([value])]))
            default: value = .dictionary(keys: value, values: .identity)
            }
        }
        return value
    }

    /// An argument that is no literal, or a literal nested about the depth limits: a call
    /// (a general list headed by a symbol), a q error, inside containers; or bytes of a type
    /// the codec refuses.
    mutating func nonLiteral() -> QueryPiece {
        if chance(20) { return rawPiece() }
        let payload: QValue
        switch below(6) {
        case 0, 1: payload = .error(symbolText())
        case 2, 3:
            let function = pick(["value", "exit", "system", "eval", "f", "record", "echo", ".z.ps", "hopen", ""])
            payload = .list([.atom(.symbol(function))] + (0..<below(3)).map { _ in literal(depth: 1) })
        case 4: payload = .list([.atom(.symbol(symbolText()))])
        default: payload = literal(depth: 1)
        }
        return .value(wrapped(payload, levels: nesting()))
    }

    /// Bytes of a type no q value of a query may hold, or that does not exist.
    mutating func rawPiece() -> QueryPiece {
        pick([
            .raw([100, 0, 10, 0, 3, 0, 0, 0] + Array("{x}".utf8), "a lambda {x}"),
            .raw([100] + Array(".z".utf8) + [0, 10, 0, 8, 0, 0, 0] + Array("{exit 0}".utf8), "a lambda in .z"),
            .raw([104, 2, 0, 0, 0, 101, 0, 0xF9, 1, 0, 0, 0, 0, 0, 0, 0], "a projection"),
            .raw([101, 19], "a unary primitive"),
            .raw([102, 1], "a binary primitive"),
            .raw([103, 0], "a ternary primitive"),
            .raw([106, 102, 1], "an adverb"),
            .raw([20, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "an enumeration"),
            .raw([112, 0, 0, 0, 0, 0, 0, 0, 0], "a foreign"),
            .raw([0xFD, 7], "an atom of type -3"),
            .raw([3, 0, 1, 0, 0, 0, 7], "a vector of type 3"),
            .raw([0xEC, 1, 2, 3, 4], "an atom of type -20"),
            .raw([77, 0, 0, 0, 0, 0], "a mapped list"),
        ])
    }

    /// An argument over 64 KiB, or about that size: checked in place, not decoded.
    mutating func largeArgument() -> QValue {
        switch below(10) {
        case 0: return .vector(.long((0..<(8_192 + below(4_000))).map { Int64($0) }), attribute: attribute())
        case 1: return .vector(.char((0..<(65_530 + below(3_000))).map { _ in UInt8(32 + below(95)) }))
        case 2: return .vector(.symbol((0..<(6_000 + below(500))).map { _ in symbolText() + "_long_symbol" }))
        case 3:
            // A byte vector of about 64 KiB as IPC (its 6-byte head and its bytes): either side
            // of the size past which an argument is checked in place.
            return .vector(.byte(Array(repeating: 7, count: 65_536 - 6 + pick([-1, 0, 1, 2]))))
        case 4: return .vector(.guid((0..<(4_100 + below(200))).map { _ in guid() }))
        case 5:
            var items: [QValue] = [.vector(.float((0..<(8_200 + below(100))).map { _ in double() }))]
            for _ in 0..<below(4) {
                if chance(40), case .value(let value) = nonLiteral() {
                    items.insert(value, at: below(items.count + 1))
                } else {
                    items.insert(literal(depth: 2), at: below(items.count + 1))
                }
            }
            if case .atom(.symbol)? = items.first, chance(70) { items.insert(.identity, at: 0) }
            return .list(items)
        case 6:
            let count = 5_000 + below(200)
            return .dictionary(
                keys: .vector(.symbol((0..<count).map { "k\($0)" })), values: .vector(.long((0..<count).map { Int64($0) })),
                sorted: chance(20))
        case 7:
            let rows = 4_200 + below(200)
            return .table(
                QTable(
                    columns: ["a", "b"],
                    values: [.vector(.long((0..<rows).map { Int64($0) })), .vector(.float((0..<rows).map { Double($0) }))]))
        case 8: return .list((0..<(7_300 + below(300))).map { .atom(.long(Int64($0))) })
        default:
            // Small enough to decode, yet with others over 64 KiB as a query.
            return .vector(.long((0..<(4_000 + below(1_000))).map { Int64($0) }))
        }
    }

    // MARK: queries

    /// A function name: served by a plugin or in-process, not served, a q built-in, in a
    /// reserved namespace, the broker's, or no q name at all.
    mutating func functionName() -> String {
        switch below(100) {
        case 0..<28: return "record"
        case 28..<36: return "same"
        case 36..<40: return "pair"
        case 40..<43: return "boom"
        case 43..<56: return "echo"
        case 56..<60: return "twice"
        case 60..<62: return "fails"
        case 62..<67: return pick(["absent", "proc9", ".api.absent", name()])
        case 67..<75: return pick(["value", "exit", "system", "eval", "count", "first", "get", "set", "hopen"])
        case 75..<82: return pick([".z.ps", ".z.pg", ".Q.gc", ".h.x", ".q.x", ".o.x", ".z", ".mserve.info", ".mserve"])
        case 82..<99:
            return pick([
                "", "1a", "a b", ".", "..", "a..b", ".api.", "_x", "a-b", "réc", "record ", " record", "`record",
                String(decoding: QueryMessageGenerator.oddMarker, as: UTF8.self), "record" + String(decoding: QueryMessageGenerator.oddMarker, as: UTF8.self),
            ])
        default: return "f" + String(repeating: "x", count: 70_000)
        }
    }

    /// Query text: applications with literal and other arguments, parse forms as text, and
    /// what is no query.
    mutating func queryText() -> String {
        let function = chance(85) ? functionName() : pick(["{x}", "value", "1", "`record", "(`record)"])
        let arguments = [
            "1", "`a", "`a`b", "\"s\"", "1 2 3", "(1;2)", "()", "::", "0x0102", "2024.01.02", "1b", "0N", "-0w", "(`a;1)",
            "enlist `a", "{x}", "value \"1\"", "f[1]", "x", "1+2", "`a;", "(`value;1)", ".z.ps", "exit 0", "\"a\\\"b\"",
            "(1;`b;\"c\")", "`$\"x\"", "'err", "1 2 3j", "`s#1 2", "09:30", "(1;(2;(3;`x)))", "\"é\"", "`é",
        ]
        let count = pick([0, 1, 1, 2, 3])
        let items = (0..<count).map { _ in pick(arguments) }
        switch below(12) {
        case 0, 1, 2, 3: return function + "[" + items.joined(separator: ";") + "]"
        case 4, 5: return function + " " + (items.first ?? "")
        case 6, 7: return "(`" + function + (items.isEmpty ? "" : ";") + items.joined(separator: ";") + ")"
        case 8: return function + "[" + items.joined(separator: ";") + "];exit 0"
        case 9: return pick(["", " ", "/ comment", "\\l x", "\\\\", "record[;1]", "record[1;]", "a:1", "record @ 1", "record each 1 2"])
        case 10: return String(decoding: (0..<below(20)).map { _ in UInt8(truncatingIfNeeded: next()) }, as: UTF8.self)
        default:
            // Long text: past 64 KiB now and then, past the 1 MiB limit rarely.
            let length = chance(20) ? (1 << 20) + pick([-8, 1, 100]) : 66_000
            let body = String(repeating: "1 ", count: length / 2)
            return "record[" + String(body.prefix(max(0, length - 8))) + "]"
        }
    }

    /// An id: a long mostly, any literal sometimes, one holding a q error rarely.
    mutating func id() -> QValue {
        switch below(100) {
        case 0..<70: return .atom(.long(integer(Int64.self)))
        case 70..<93: return literal(depth: 2)
        case 93..<95: return largeArgument()
        default: return wrapped(.error("id"), levels: pick([0, 1, 3]))
        }
    }

    /// The query item: a parse form mostly, else text, a symbol, a char, other values.
    mutating func query(recipe: inout [String]) -> [UInt8] {
        let kind = below(100)
        switch kind {
        case 0..<58:
            var function = functionName()
            var pieces: [QueryPiece] = (0..<pick([0, 1, 1, 2, 2, 3, 4])).map { _ in .value(literal(depth: 3)) }
            if chance(30) { pieces.insert(nonLiteral(), at: below(pieces.count + 1)) }
            if chance(50) {
                pieces.insert(.value(largeArgument()), at: below(pieces.count + 1))
                if chance(15) { pieces.insert(.value(largeArgument()), at: below(pieces.count + 1)) }
                // More often a plugin's function: its arguments are then the query's own bytes.
                if chance(30) { function = "record" }
            }
            let head: QueryPiece = .value(.atom(.symbol(function)))
            let attribute: UInt8 = chance(5) ? UInt8(1 + below(5)) : 0
            recipe.append(
                "parse form (`\(function.prefix(40));\(pieces.map(\.summary).joined(separator: ";")))"
                    + (attribute == 0 ? "" : " with attribute byte \(attribute)"))
            return Self.listPayload([head] + pieces, attribute: attribute)
        case 58..<74:
            let text = queryText()
            recipe.append("text \(text.debugDescription.prefix(80))")
            return QueryPiece.value(.string(text)).payload
        case 74..<80:
            let function = functionName()
            recipe.append("symbol `\(function.prefix(40))")
            return QueryPiece.value(.atom(.symbol(function))).payload
        case 80..<83:
            let character = pick(Array("f1 ;`(".utf8))
            recipe.append("char \(character)")
            return QueryPiece.value(.atom(.char(character))).payload
        case 83..<92:
            var pieces: [QueryPiece] =
                switch below(6) {
                case 0: []
                case 1: [.value(.atom(.long(1))), .value(literal(depth: 1))]
                case 2: [.value(.string("record")), .value(.atom(.long(1)))]
                case 3: [.value(.vector(.symbol(["record"]))), .value(.atom(.long(1)))]
                case 4: [.value(.list([.atom(.symbol("record")), .atom(.long(1))])), .value(.atom(.long(2)))]
                default: [nonLiteral(), .value(.atom(.long(1)))]
                }
            if chance(40) { pieces.insert(.value(largeArgument()), at: below(pieces.count + 1)) }
            recipe.append("list (\(pieces.map(\.summary).joined(separator: ";")))")
            return Self.listPayload(pieces, attribute: 0)
        default:
            let value = chance(85) ? literal(depth: 2) : wrapped(.error("q"), levels: pick([0, 1]))
            recipe.append("value \(QueryPiece.value(value).summary)")
            return QueryPiece.value(value).payload
        }
    }

    static func listPayload(_ pieces: [QueryPiece], attribute: UInt8) -> [UInt8] {
        var bytes: [UInt8] = [0, attribute]
        QIPC.appendInt32(Int32(pieces.count), to: &bytes)
        for piece in pieces { bytes += piece.payload }
        return bytes
    }

    // MARK: messages

    mutating func message() -> GeneratedQueryMessage {
        var recipe: [String] = []
        let id = id()
        recipe.append("id \(QueryPiece.value(id).summary)")
        var items = [QueryPiece.value(id).payload, query(recipe: &recipe)]
        switch below(100) {
        case 0..<3:
            items = Array(items.prefix(below(2)))
            recipe.append("\(items.count) item(s)")
        case 3..<7:
            items.append(QueryPiece.value(pick([.dictionary(["deadline": .atom(.long(10))]), .atom(.long(3))])).payload)
            recipe.append("a third item")
        default: break
        }
        let messageType = UInt8(below(3))
        let listAttribute: UInt8 = chance(3) ? UInt8(1 + below(4)) : 0
        var bytes: [UInt8] = [1, messageType, 0, 0, 0, 0, 0, 0, 0, listAttribute]
        QIPC.appendInt32(Int32(items.count), to: &bytes)
        for item in items { bytes += item }
        QIPC.patchLength(&bytes)
        let oddBytes = bytes.containsSubsequence(QueryMessageGenerator.oddMarker)
        if oddBytes {
            bytes = replacingOddMarkers(in: bytes)
            recipe.append("symbols with bytes that are no UTF-8")
        }
        var message = GeneratedQueryMessage(recipe: recipe, bytes: bytes, restricted: chance(15))
        if chance(10), let bigEndian = QueryMessageGenerator.bigEndian(message.bytes) {
            message.bytes = bigEndian
            message.recipe.append("big-endian")
        }
        if chance(15), let compressed = QIPC.compress(message.bytes) {
            message.bytes = compressed
            message.recipe.append("compressed")
            if chance(30) {
                let size = QIPC.decompressedSize(of: compressed) ?? 0
                message.maximumSize = pick([8, 100, size - 1, size, size + 1])
            }
        }
        if chance(35) {
            message.undamaged = message.bytes
            for _ in 0..<(1 + below(4)) { damage(&message) }
        } else if chance(10), !oddBytes {
            // Only for a message whose bytes are those of its values: a plugin's arguments and
            // result are then the same bytes, passed as they came or decoded and encoded again.
            message.maximumReplySize = pick([30, 60, 100, 150, 200, 400, 1_000, 70_000, 140_000])
        }
        return message
    }

    /// `bytes` with each marker of odd bytes replaced by bytes that are no UTF-8.
    mutating func replacingOddMarkers(in bytes: [UInt8]) -> [UInt8] {
        let marker = QueryMessageGenerator.oddMarker
        var output = bytes
        var index = 0
        while index + marker.count <= output.count {
            if output[index] == marker[0], Array(output[index..<(index + marker.count)]) == marker {
                output.replaceSubrange(index..<(index + marker.count), with: pick(QueryMessageGenerator.oddReplacements))
                index += marker.count
            } else {
                index += 1
            }
        }
        return output
    }

    /// A position to damage: near the start (the header, the id, the query's head) or the
    /// end more often than inside a large vector.
    mutating func position(in count: Int) -> Int {
        guard count > 0 else { return 0 }
        switch below(10) {
        case 0..<5: return below(min(count, 64))
        case 5, 6: return max(0, count - 1 - below(min(count, 32)))
        default: return below(count)
        }
    }

    static let interestingBytes: [UInt8] = [
        0, 1, 2, 3, 4, 5, 7, 10, 11, 19, 20, 98, 99, 100, 101, 102, 104, 112, 127, 0x7F, 0x80, 0x81, 0xEC, 0xED, 0xF5,
        0xF6, 0xF9, 0xFD, 0xFE, 0xFF,
    ]

    /// One blow to the message's bytes, and sometimes its header's length mended after.
    mutating func damage(_ message: inout GeneratedQueryMessage) {
        var bytes = message.bytes
        let at = position(in: bytes.count)
        var mendLength = chance(70)
        switch below(13) {
        case 0 where !bytes.isEmpty:
            let byte = UInt8(truncatingIfNeeded: next())
            bytes[at] = byte
            message.recipe.append("byte \(at) set to \(byte)")
        case 1 where !bytes.isEmpty:
            let byte = pick(Self.interestingBytes)
            bytes[at] = byte
            message.recipe.append("byte \(at) set to \(byte)")
        case 2 where !bytes.isEmpty:
            let bit = below(8)
            bytes[at] ^= 1 << bit
            message.recipe.append("bit \(bit) of byte \(at) flipped")
        case 3:
            let inserted = (0..<(1 + below(3))).map { _ in chance(50) ? pick(Self.interestingBytes) : UInt8(truncatingIfNeeded: next()) }
            bytes.insert(contentsOf: inserted, at: at)
            message.recipe.append("\(inserted) inserted at \(at)")
        case 4 where !bytes.isEmpty:
            let removed = min(1 + below(8), bytes.count - at)
            bytes.removeSubrange(at..<(at + removed))
            message.recipe.append("\(removed) byte(s) removed at \(at)")
        case 5 where bytes.count >= 4:
            let start = min(at, bytes.count - 4)
            let old = Int32(bitPattern: UInt32(bytes[start]) | UInt32(bytes[start + 1]) << 8 | UInt32(bytes[start + 2]) << 16 | UInt32(bytes[start + 3]) << 24)
            let count = pick([0, 1, 2, 3, -1, .max, .min, 0x7FFF, 65_536, old &+ 1, old &- 1, old &* 2])
            for index in 0..<4 { bytes[start + index] = UInt8(truncatingIfNeeded: UInt32(bitPattern: count) >> (8 * UInt32(index))) }
            message.recipe.append("4 bytes at \(start) set to \(count)")
        case 6:
            let length = below(bytes.count + 1)
            bytes.removeSubrange(length...)
            message.recipe.append("cut to \(length) bytes")
        case 7 where bytes.count >= 1:
            bytes[0] = pick([0, 1, 2, 0xFF])
            message.recipe.append("endianness byte set to \(bytes[0])")
        case 8 where bytes.count >= 2:
            bytes[1] = pick([0, 1, 2, 3])
            message.recipe.append("message type byte set to \(bytes[1])")
        case 9 where bytes.count >= 3:
            bytes[2] = pick([0, 1, 2, 3])
            message.recipe.append("compression byte set to \(bytes[2])")
        case 10 where bytes.count >= 8:
            let length = pick([0, 8, bytes.count - 1, bytes.count + 1, Int(UInt32.max), below(1 << 20)])
            for index in 0..<4 { bytes[4 + index] = UInt8(truncatingIfNeeded: length >> (8 * index)) }
            mendLength = false
            message.recipe.append("header length set to \(length) (little-endian)")
        case 11 where bytes.count >= 12:
            // A compressed message's announced size.
            let size = pick([0, 7, 8, bytes.count, bytes.count * 200, below(1 << 16)])
            for index in 0..<4 { bytes[8 + index] = UInt8(truncatingIfNeeded: size >> (8 * index)) }
            message.recipe.append("bytes 8-11 set to \(size)")
        default:
            let appended = (0..<(1 + below(4))).map { _ in UInt8(truncatingIfNeeded: next()) }
            bytes += appended
            message.recipe.append("\(appended) appended")
        }
        if mendLength, bytes.count >= 8 {
            let length = UInt32(truncatingIfNeeded: bytes.count)
            for index in 0..<4 {
                let byte = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index)))
                if bytes[0] == 0 { bytes[7 - index] = byte } else { bytes[4 + index] = byte }
            }
        }
        message.bytes = bytes
    }
}

extension [UInt8] {
    func containsSubsequence(_ part: [UInt8]) -> Bool {
        guard !part.isEmpty, count >= part.count else { return false }
        for start in 0...(count - part.count) where self[start] == part[0] {
            if self[start..<(start + part.count)].elementsEqual(part) { return true }
        }
        return false
    }
}
