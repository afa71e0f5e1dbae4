import Foundation

/// Reads q values from a plain (decompressed) message, checking every length against the
/// bytes that remain before allocating anything.
struct QIPCReader {
    let bytes: [UInt8]
    let littleEndian: Bool
    var position = 8

    init(bytes: [UInt8], littleEndian: Bool) {
        self.bytes = bytes
        self.littleEndian = littleEndian
    }

    var remaining: Int { bytes.count - position }

    private func need(_ count: Int, _ what: @autoclosure () -> String) throws(QIPCError) {
        guard count <= remaining else {
            throw QIPCError(.truncated, "\(what()) needs \(count) bytes at offset \(position); \(remaining) left")
        }
    }

    mutating func readByte() throws(QIPCError) -> UInt8 {
        try need(1, "a byte")
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readInteger<T: FixedWidthInteger>(_: T.Type) throws(QIPCError) -> T {
        let size = MemoryLayout<T>.size
        try need(size, "a \(size)-byte number")
        var raw: T = 0
        for index in 0..<size {
            let byte = T(truncatingIfNeeded: bytes[position + index])
            raw |= littleEndian ? byte << (8 * index) : byte << (8 * (size - 1 - index))
        }
        position += size
        return raw
    }

    /// A vector or list length, checked against the bytes that remain.
    mutating func readCount(minimumElementSize: Int) throws(QIPCError) -> Int {
        let start = position
        let count = Int(try readInteger(Int32.self))
        guard count >= 0 else { throw QIPCError(.badLength, "negative count \(count) at offset \(start)") }
        guard count.multipliedReportingOverflow(by: minimumElementSize).partialValue <= remaining else {
            throw QIPCError(
                .badLength,
                "count \(count) at offset \(start) needs at least \(count * minimumElementSize) bytes; \(remaining) left")
        }
        return count
    }

    mutating func readSymbol() throws(QIPCError) -> String {
        guard let end = bytes[position...].firstIndex(of: 0) else {
            throw QIPCError(.truncated, "a symbol at offset \(position) has no NUL terminator")
        }
        let text = String(decoding: bytes[position..<end], as: UTF8.self)
        position = end + 1
        return text
    }

    mutating func readGUID() throws(QIPCError) -> UUID {
        try need(16, "a guid")
        let b = bytes
        let p = position
        position += 16
        return UUID(
            uuid: (
                b[p], b[p + 1], b[p + 2], b[p + 3], b[p + 4], b[p + 5], b[p + 6], b[p + 7], b[p + 8], b[p + 9],
                b[p + 10], b[p + 11], b[p + 12], b[p + 13], b[p + 14], b[p + 15]
            ))
    }

    mutating func readNumbers<T: FixedWidthInteger & BitwiseCopyable>(_: T.Type, count: Int) -> [T] {
        let values = BulkCopy.read(T.self, count: count, from: bytes, at: position)
        position += count * MemoryLayout<T>.size
        return littleEndian ? values : values.map(\.byteSwapped)
    }

    /// The most items reserved ahead for a general list or a symbol vector.
    static let reservedItemsAtMost = 4_096

    mutating func readValue(depth: Int) throws(QIPCError) -> QValue {
        guard depth <= QIPC.maximumDepth else {
            throw QIPCError(.tooDeep, "nesting deeper than \(QIPC.maximumDepth) at offset \(position)")
        }
        let offset = position
        let type = Int8(bitPattern: try readByte())
        switch type {
        case -128:
            return .error(try readSymbol())
        case -19 ... -1:
            return .atom(try readAtom(type: -type, offset: offset))
        case 0:
            let attribute = try readAttribute()
            let count = try readCount(minimumElementSize: 1)
            var items: [QValue] = []
            // A count is checked against the bytes left, one per item at least; a QValue takes
            // tens of bytes, so reserving the whole count would let a small message claim
            // gigabytes. Past the first few thousand the array grows as items really come.
            items.reserveCapacity(min(count, Self.reservedItemsAtMost))
            for _ in 0..<count { items.append(try readValue(depth: depth + 1)) }
            return .list(items, attribute: attribute)
        case 1...19:
            let attribute = try readAttribute()
            return .vector(try readVector(type: type), attribute: attribute)
        case 98:
            let attribute = try readAttribute()
            let inner = try readValue(depth: depth + 1)
            guard case .dictionary(.vector(.symbol(let columns), _), let values, _) = inner,
                let columnValues = values.items, columnValues.count == columns.count
            else {
                throw QIPCError(.unexpectedShape, "the table at offset \(offset) is not a column dictionary")
            }
            let shapes = zip(columns, columnValues).lazy.map { (name: $0, type: $1.type, count: $1.shapeCount) }
            if let problem = QShape.tableProblem(columns: shapes) {
                throw QIPCError(.invalidValue, "the table at offset \(offset): \(problem)")
            }
            return .table(QTable(columns: columns, values: columnValues), attribute: attribute)
        case 99, 127:
            let keys = try readValue(depth: depth + 1)
            let values = try readValue(depth: depth + 1)
            if let problem = QShape.dictionaryProblem(keys: keys.shapeCount, values: values.shapeCount) {
                throw QIPCError(.invalidValue, "the dictionary at offset \(offset): \(problem)")
            }
            return .dictionary(keys: keys, values: values, sorted: type == 127)
        case 101:
            let primitive = try readByte()
            guard primitive == 0 else {
                throw QIPCError(.unsupportedType, "unary primitive \(primitive) at offset \(offset): functions are not accepted")
            }
            return .identity
        default:
            throw QIPCError(.unsupportedType, "type \(type) at offset \(offset) is not accepted (functions, enumerations and mapped types are refused)")
        }
    }

    private mutating func readAttribute() throws(QIPCError) -> QAttribute {
        let offset = position
        let raw = try readByte()
        guard let attribute = QAttribute(rawValue: raw) else {
            throw QIPCError(.badHeader, "attribute byte \(raw) at offset \(offset) is not 0–4")
        }
        return attribute
    }

    private mutating func readAtom(type: Int8, offset: Int) throws(QIPCError) -> QAtom {
        switch type {
        case 1: return .boolean(try readByte() != 0)
        case 2: return .guid(try readGUID())
        case 4: return .byte(try readByte())
        case 5: return .short(try readInteger(Int16.self))
        case 6: return .int(try readInteger(Int32.self))
        case 7: return .long(try readInteger(Int64.self))
        case 8: return .real(Float(bitPattern: try readInteger(UInt32.self)))
        case 9: return .float(Double(bitPattern: try readInteger(UInt64.self)))
        case 10: return .char(try readByte())
        case 11: return .symbol(try readSymbol())
        case 12: return .timestamp(try readInteger(Int64.self))
        case 13: return .month(try readInteger(Int32.self))
        case 14: return .date(try readInteger(Int32.self))
        case 15: return .datetime(Double(bitPattern: try readInteger(UInt64.self)))
        case 16: return .timespan(try readInteger(Int64.self))
        case 17: return .minute(try readInteger(Int32.self))
        case 18: return .second(try readInteger(Int32.self))
        case 19: return .time(try readInteger(Int32.self))
        default: throw QIPCError(.unsupportedType, "atom type \(-type) at offset \(offset) does not exist")
        }
    }

    static func elementSize(_ type: Int8) -> Int? {
        type == 11 ? 1 : QIPC.fixedWidth(ofType: Int(type))  // a symbol: at least the NUL
    }

    private mutating func readVector(type: Int8) throws(QIPCError) -> QVector {
        guard let size = Self.elementSize(type) else {
            throw QIPCError(.unsupportedType, "vector type \(type) at offset \(position - 2) does not exist")
        }
        let count = try readCount(minimumElementSize: size)
        switch type {
        case 1:
            defer { position += count }
            return .boolean(bytes[position..<(position + count)].map { $0 != 0 })
        case 2:
            var guids: [UUID] = []
            guids.reserveCapacity(count)
            for _ in 0..<count { guids.append(try readGUID()) }
            return .guid(guids)
        case 4, 10:
            let slice = Array(bytes[position..<(position + count)])
            position += count
            return type == 4 ? .byte(slice) : .char(slice)
        case 5: return .short(readNumbers(Int16.self, count: count))
        case 6: return .int(readNumbers(Int32.self, count: count))
        case 7: return .long(readNumbers(Int64.self, count: count))
        case 8: return .real(readNumbers(UInt32.self, count: count).map(Float.init(bitPattern:)))
        case 9: return .float(readFloats(count: count))
        case 11:
            var symbols: [String] = []
            symbols.reserveCapacity(min(count, Self.reservedItemsAtMost))
            for _ in 0..<count { symbols.append(try readSymbol()) }
            return .symbol(symbols)
        case 12: return .timestamp(readNumbers(Int64.self, count: count))
        case 13: return .month(readNumbers(Int32.self, count: count))
        case 14: return .date(readNumbers(Int32.self, count: count))
        case 15: return .datetime(readFloats(count: count))
        case 16: return .timespan(readNumbers(Int64.self, count: count))
        case 17: return .minute(readNumbers(Int32.self, count: count))
        case 18: return .second(readNumbers(Int32.self, count: count))
        default: return .time(readNumbers(Int32.self, count: count))
        }
    }

    private mutating func readFloats(count: Int) -> [Double] {
        if littleEndian {
            let values = BulkCopy.read(Double.self, count: count, from: bytes, at: position)
            position += count * 8
            return values
        }
        return readNumbers(UInt64.self, count: count).map(Double.init(bitPattern:))
    }

    /// Moves past one value without building it (for slicing). Accepts function types too,
    /// so results holding them can still be forwarded.
    mutating func skipValue(depth: Int) throws(QIPCError) {
        guard depth <= QIPC.maximumDepth else {
            throw QIPCError(.tooDeep, "nesting deeper than \(QIPC.maximumDepth) at offset \(position)")
        }
        let offset = position
        let type = Int8(bitPattern: try readByte())
        switch type {
        case -128, -11:
            _ = try readSymbol()
        case -19 ... -1:
            guard let size = Self.elementSize(-type) else {
                throw QIPCError(.unsupportedType, "atom type \(type) at offset \(offset) does not exist")
            }
            try need(size, "an atom")
            position += size
        case 0:
            _ = try readAttribute()
            let count = try readCount(minimumElementSize: 1)
            for _ in 0..<count { try skipValue(depth: depth + 1) }
        case 11:
            _ = try readAttribute()
            let count = try readCount(minimumElementSize: 1)
            for _ in 0..<count { _ = try readSymbol() }
        case 1...19:
            _ = try readAttribute()
            guard let size = Self.elementSize(type) else {
                throw QIPCError(.unsupportedType, "vector type \(type) at offset \(offset) does not exist")
            }
            let count = try readCount(minimumElementSize: size)
            position += count * size
        case 98:
            _ = try readAttribute()
            try skipValue(depth: depth + 1)
        case 99, 127:
            try skipValue(depth: depth + 1)
            try skipValue(depth: depth + 1)
        case 100:
            _ = try readSymbol()
            try skipValue(depth: depth + 1)
        case 101, 102, 103:
            try need(1, "a primitive")
            position += 1
        case 104, 105:
            let count = try readCount(minimumElementSize: 1)
            for _ in 0..<count { try skipValue(depth: depth + 1) }
        case 106...111:
            try skipValue(depth: depth + 1)
        default:
            throw QIPCError(.unsupportedType, "type \(type) at offset \(offset) cannot be sliced")
        }
    }
}
