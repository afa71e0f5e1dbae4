import Foundation
import MServeTestRandom
import PropertyBased
import QData

/// Random q values of every type the codec carries — atoms and vectors of each of the 18 types
/// (symbols included, empty and non-ASCII), general lists, dictionaries, tables, errors and
/// `::`, nested — for property-based tests. A failing value shrinks to one of its parts.
enum QValueGenerator {
    /// Values nested up to `depth` levels.
    static func values(depth: Int = 3) -> Generator<QValue, [QValue]> {
        Generator(
            run: { rng in
                var source = SplitMix(seed: rng.next())
                return source.value(depth: depth)
            },
            shrink: { smaller(than: $0) })
    }

    /// General lists of such values: what the broker slices.
    static func lists(depth: Int = 3) -> Generator<QValue, [QValue]> {
        Generator(
            run: { rng in
                var source = SplitMix(seed: rng.next())
                return .list((0..<source.below(8)).map { _ in source.value(depth: depth - 1) })
            },
            shrink: { value in smaller(than: value).filter { if case .list = $0 { true } else { false } } })
    }

    /// Values made of parts of `value` (each strictly smaller), the smallest first.
    static func smaller(than value: QValue) -> [QValue] {
        switch value {
        case .list(let items, let attribute):
            guard !items.isEmpty else { return [] }
            return [.list([], attribute: attribute), .list(Array(items.dropLast()), attribute: attribute)]
                + items.filter { if case .list = $0 { true } else { false } }
        case .vector(let vector, let attribute):
            let shorter = vector.prefixHalf
            return shorter.map { [.vector($0, attribute: attribute)] } ?? []
        case .dictionary(let keys, let values, _):
            return [keys, values]
        case .table(let table, _):
            return [.list(table.values)]
        case .atom, .error, .identity:
            return []
        }
    }
}

extension QVector {
    /// The first half of the vector, nil when it is empty.
    fileprivate var prefixHalf: QVector? {
        func half<T>(_ items: [T], _ make: ([T]) -> QVector) -> QVector? {
            items.isEmpty ? nil : make(Array(items.prefix(items.count / 2)))
        }
        switch self {
        case .boolean(let v): return half(v, QVector.boolean)
        case .guid(let v): return half(v, QVector.guid)
        case .byte(let v): return half(v, QVector.byte)
        case .short(let v): return half(v, QVector.short)
        case .int(let v): return half(v, QVector.int)
        case .long(let v): return half(v, QVector.long)
        case .real(let v): return half(v, QVector.real)
        case .float(let v): return half(v, QVector.float)
        case .char(let v): return half(v, QVector.char)
        case .symbol(let v): return half(v, QVector.symbol)
        case .timestamp(let v): return half(v, QVector.timestamp)
        case .month(let v): return half(v, QVector.month)
        case .date(let v): return half(v, QVector.date)
        case .datetime(let v): return half(v, QVector.datetime)
        case .timespan(let v): return half(v, QVector.timespan)
        case .minute(let v): return half(v, QVector.minute)
        case .second(let v): return half(v, QVector.second)
        case .time(let v): return half(v, QVector.time)
        }
    }
}

/// The q values the codec tests generate, from the shared seeded source.
extension SplitMix {
    /// Symbol text: empty, ASCII, punctuation, non-ASCII; never a NUL (q's terminator).
    mutating func symbol() -> String {
        let alphabet = Array("abcXYZ019_.: `\"é日🙂")
        return String((0..<[0, 1, 3, 8][below(4)]).map { _ in alphabet[below(alphabet.count)] })
    }

    mutating func atom() -> QAtom {
        switch below(18) {
        case 0: return .boolean(below(2) == 1)
        case 1: return .guid(guid())
        case 2: return .byte(integer(UInt8.self))
        case 3: return .short(integer(Int16.self))
        case 4: return .int(integer(Int32.self))
        case 5: return .long(integer(Int64.self))
        case 6: return .real(Float(double()))
        case 7: return .float(double())
        case 8: return .char(integer(UInt8.self))
        case 9, 10: return .symbol(symbol())  // twice as likely: symbols are what queries route by
        case 11: return .timestamp(integer(Int64.self))
        case 12: return .month(integer(Int32.self))
        case 13: return .date(integer(Int32.self))
        case 14: return .datetime(double())
        case 15: return .timespan(integer(Int64.self))
        case 16: return [.minute(integer(Int32.self)), .second(integer(Int32.self))][below(2)]
        default: return .time(integer(Int32.self))
        }
    }

    mutating func vector(count: Int) -> QVector {
        vector(count: count) { $0.symbol() }
    }

    mutating func attribute() -> QAttribute {
        below(4) == 0 ? QAttribute.allCases[below(QAttribute.allCases.count)] : .none
    }

    mutating func value(depth: Int) -> QValue {
        let kinds = depth > 0 ? 9 : 5
        switch below(kinds) {
        case 0, 1: return .atom(atom())
        case 2: return .vector(vector(count: [0, 1, 2, 5, 40][below(5)]), attribute: attribute())
        case 3: return .error(symbol())
        case 4: return below(2) == 0 ? .identity : .atom(.symbol(symbol()))
        case 5, 6: return .list((0..<below(6)).map { _ in value(depth: depth - 1) }, attribute: attribute())
        case 7:
            // Keys and values of one count, as q makes them (or two values that count nothing).
            if below(4) == 0 {
                return .dictionary(keys: .atom(atom()), values: value(depth: 0), sorted: below(4) == 0)
            }
            let count = [0, 1, 2, 5][below(4)]
            let keys: QValue =
                below(2) == 0
                ? .vector(vector(count: count)) : .list((0..<count).map { _ in value(depth: depth - 1) })
            return .dictionary(
                keys: keys, values: .list((0..<count).map { _ in value(depth: depth - 1) }), sorted: below(4) == 0)
        default:
            let columns = (0..<(1 + below(3))).map { "c\($0)" + symbol() }
            let rows = below(4)
            let values: [QValue] = columns.map { _ in
                below(3) == 0
                    ? .list((0..<rows).map { _ in value(depth: 0) })
                    : .vector(vector(count: rows))
            }
            return .table(QTable(columns: columns, values: values), attribute: attribute())
        }
    }
}
