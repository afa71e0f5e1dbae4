import MServeQuery
import PropertyBased
import QData
import Testing

/// A q literal as text and the value q reads from it.
struct GeneratedLiteral: Sendable, CustomStringConvertible {
    var text: String
    var value: QValue
    /// The literals it was made of (a list's items), for shrinking.
    var parts: [GeneratedLiteral] = []

    var description: String { text }
}

/// Random q literals — atoms and vectors of the types a query may carry, strings with escapes,
/// general lists nested and collapsed as q collapses them — each with the value it stands for.
enum LiteralGenerator {
    static func literals(depth: Int = 2) -> Generator<GeneratedLiteral, [GeneratedLiteral]> {
        Generator(
            run: { rng in
                var source = SplitMix64(seed: rng.next())
                return source.literal(depth: depth)
            },
            shrink: { literal in literal.parts })
    }
}

extension SplitMix64 {
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// Spaces where q allows them: none, one, or a few.
    mutating func blank() -> String { pick(["", "", " ", "  "]) }

    mutating func name() -> String {
        let first = Array("abcxyzIBMQ")
        let rest = Array("abcxyzIBMQ019_")
        return String(pick(first)) + String((0..<below(6)).map { _ in pick(rest) })
    }

    mutating func date() -> (text: String, days: Int32) {
        let (year, month, day) = (1950 + below(131), 1 + below(12), 1 + below(28))
        let text = "\(year)." + (month < 10 ? "0" : "") + "\(month)." + (day < 10 ? "0" : "") + "\(day)"
        return (text, daysSince2000(year, month, day))
    }

    /// A string's characters and their escaped text (`\"`, `\\`, `\n`, `\t`, `\r`, `\NNN`).
    mutating func stringCharacter() -> (text: String, byte: UInt8) {
        switch below(10) {
        case 0: return pick([("\\\"", 34), ("\\\\", 92), ("\\n", 10), ("\\t", 9), ("\\r", 13)])
        case 1:
            let byte = UInt8(32 + below(95))
            let octal = String(byte, radix: 8)
            return ("\\" + String(repeating: "0", count: 3 - octal.count) + octal, byte)
        default:
            let byte = pick(Array("abc XYZ019;[]()`:.-_+".utf8))
            return (String(UnicodeScalar(byte)), byte)
        }
    }

    /// An atom: its text alone, its text inside a vector (no type letter), the letter the
    /// vector takes, and its value.
    mutating func atom() -> (text: String, bare: String, suffix: String, value: QAtom) {
        switch below(10) {
        case 0:
            let n = Int64(below(2_000_001)) - 1_000_000
            let suffix = pick(["", "j"])
            return ("\(n)" + suffix, "\(n)", suffix, .long(n))
        case 1:
            let n = Int32(below(2_000_001)) - 1_000_000
            return ("\(n)i", "\(n)", "i", .int(n))
        case 2:
            let n = Int16(below(60_001) - 30_000)
            return ("\(n)h", "\(n)", "h", .short(n))
        case 3:
            let bit = below(2)
            return ("\(bit)b", "\(bit)", "b", .boolean(bit == 1))
        case 4:
            let value = Double(below(16_000_001) - 8_000_000) / 8
            let text = "\(value)"  // always with a point: "3.0", "-12.375"
            return (text, text, "", .float(value))
        case 5:
            let value = Float(below(16_001) - 8_000) / 8
            return ("\(value)e", "\(value)", "e", .real(value))
        case 6:
            let name = below(5) == 0 ? "" : name()
            return ("`" + name, "`" + name, "", .symbol(name))
        case 7:
            let (text, days) = date()
            return (text, text, "", .date(days))
        case 8:
            let (hour, minute) = (below(24), below(60))
            let text = (hour < 10 ? "0" : "") + "\(hour):" + (minute < 10 ? "0" : "") + "\(minute)"
            return (text, text, "", .minute(Int32(hour * 60 + minute)))
        default:
            let byte = UInt8(below(256))
            let hex = String(byte, radix: 16)
            let text = "0x" + (hex.count == 1 ? "0" : "") + hex
            return (text, text, "", .byte(byte))
        }
    }

    mutating func literal(depth: Int) -> GeneratedLiteral {
        switch below(depth > 0 ? 6 : 4) {
        case 0, 1:
            let atom = atom()
            return GeneratedLiteral(text: atom.text, value: .atom(atom.value))
        case 2:
            return vector()
        case 3:
            let characters = (0..<pick([0, 2, 3, 7])).map { _ in stringCharacter() }
            return GeneratedLiteral(
                text: "\"" + characters.map(\.text).joined() + "\"", value: .vector(.char(characters.map(\.byte))))
        default:
            let items = (0..<pick([0, 2, 3, 4])).map { _ in literal(depth: depth - 1) }
            var text = "(" + blank()
            for (index, item) in items.enumerated() {
                text += (index > 0 ? blank() + ";" + blank() : "") + item.text
            }
            text += blank() + ")"
            return GeneratedLiteral(text: text, value: Self.collapsed(items.map(\.value)), parts: items)
        }
    }

    /// A vector of two to five atoms of one type, as q writes it.
    mutating func vector() -> GeneratedLiteral {
        let count = 2 + below(4)
        let first = atom()
        var atoms = [first]
        while atoms.count < count {
            let next = atom()
            if Self.sameType(next.value, first.value) { atoms.append(next) }
        }
        let values = atoms.map { QValue.atom($0.value) }
        switch first.value {
        case .symbol:
            return GeneratedLiteral(text: atoms.map(\.bare).joined(), value: Self.collapsed(values))
        case .boolean:
            return GeneratedLiteral(text: atoms.map(\.bare).joined() + "b", value: Self.collapsed(values))
        case .byte:
            return GeneratedLiteral(
                text: "0x" + atoms.map { String($0.bare.dropFirst(2)) }.joined(), value: Self.collapsed(values))
        default:
            var text = atoms[0].bare
            for atom in atoms.dropFirst() { text += " " + blank() + atom.bare }
            return GeneratedLiteral(text: text + first.suffix, value: Self.collapsed(values))
        }
    }

    static func sameType(_ a: QAtom, _ b: QAtom) -> Bool {
        switch (a, b) {
        case (.long, .long), (.int, .int), (.short, .short), (.boolean, .boolean), (.float, .float),
            (.real, .real), (.symbol, .symbol), (.date, .date), (.minute, .minute), (.byte, .byte), (.char, .char):
            return true
        default: return false
        }
    }

    /// What q makes of a general list: atoms all of one type collapse to a vector.
    static func collapsed(_ items: [QValue]) -> QValue {
        let atoms = items.compactMap { if case .atom(let atom) = $0 { atom } else { nil } }
        guard !items.isEmpty, atoms.count == items.count, atoms.allSatisfy({ sameType($0, atoms[0]) }) else {
            return .list(items)
        }
        switch atoms[0] {
        case .long: return .vector(.long(atoms.map { if case .long(let v) = $0 { v } else { 0 } }))
        case .int: return .vector(.int(atoms.map { if case .int(let v) = $0 { v } else { 0 } }))
        case .short: return .vector(.short(atoms.map { if case .short(let v) = $0 { v } else { 0 } }))
        case .boolean: return .vector(.boolean(atoms.map { if case .boolean(let v) = $0 { v } else { false } }))
        case .float: return .vector(.float(atoms.map { if case .float(let v) = $0 { v } else { 0 } }))
        case .real: return .vector(.real(atoms.map { if case .real(let v) = $0 { v } else { 0 } }))
        case .symbol: return .vector(.symbol(atoms.map { if case .symbol(let v) = $0 { v } else { "" } }))
        case .date: return .vector(.date(atoms.map { if case .date(let v) = $0 { v } else { 0 } }))
        case .minute: return .vector(.minute(atoms.map { if case .minute(let v) = $0 { v } else { 0 } }))
        case .byte: return .vector(.byte(atoms.map { if case .byte(let v) = $0 { v } else { 0 } }))
        case .char: return .vector(.char(atoms.map { if case .char(let v) = $0 { v } else { 0 } }))
        default: return .list(items)
        }
    }
}

/// The parser reads back any literal q writes, alone, in a list, or as one of several
/// arguments. A failure prints the literal (shrunk to the smallest failing part) and the seed.
struct LiteralPropertyTests {
    @Test func aGeneratedLiteralParsesToTheValueItStandsFor() async {
        await propertyCheck(count: 400, input: LiteralGenerator.literals()) { literal in
            let query = try QueryParser.parse("f " + literal.text)
            #expect(query.function == "f")
            #expect(query.arguments == [literal.value], "parsed as \(query.arguments)")
        }
    }

    @Test func generatedLiteralsAsSeveralArgumentsParseInOrder() async {
        await propertyCheck(
            count: 200, input: LiteralGenerator.literals(), LiteralGenerator.literals(), LiteralGenerator.literals()
        ) { first, second, third in
            let text = ".api.f[" + first.text + ";" + second.text + "; " + third.text + "]"
            let query = try QueryParser.parse(text)
            #expect(query.function == ".api.f")
            #expect(query.arguments == [first.value, second.value, third.value], "parsed as \(query.arguments)")
            // The same from bytes, and through validation as a servant runs it.
            let fromBytes = try QueryParser.parse(utf8: Array(text.utf8))
            #expect(fromBytes.arguments == query.arguments)
            try SecureInvocation.validate(query)
        }
    }
}
