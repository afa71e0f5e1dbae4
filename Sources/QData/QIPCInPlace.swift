// Reading a plain little-endian message in place, from a borrowed span of its bytes (a ZeroMQ
// frame's, say), without copying the message into an array or decoding what is not asked for.

/// Reads values of a plain (uncompressed) little-endian message in place.
///
/// Positions are offsets into the span given to each call, the message's 8-byte header
/// included (as in ``QIPC/forEachListItem(in:maximumSize:_:)``). ``checkValue(in:at:depth:)``
/// accepts exactly what ``QIPC/decode(_:maximumSize:)`` accepts, with the same error codes,
/// and allocates nothing for vectors and general lists: a 40 MB vector is checked by its type
/// and length. Parts are decoded or copied only when asked (``decodeValue(in:range:depth:)``,
/// ``copy(of:range:)``).
public enum QIPCInPlace {
    /// The header of the message `bytes`, checked as ``QIPC/decodeHeader(_:)`` checks it.
    public static func header(of bytes: Span<UInt8>) throws(QIPCError) -> QMessageHeader {
        guard bytes.count >= 8 else {
            throw QIPCError(.truncated, "a kdb+ IPC message has an 8-byte header; got \(bytes.count) bytes")
        }
        return try QIPC.decodeHeader(
            (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]), length: bytes.count)
    }

    /// The byte at `position`.
    public static func byte(in bytes: Span<UInt8>, at position: Int) throws(QIPCError) -> UInt8 {
        guard position >= 0, position < bytes.count else {
            throw QIPCError(.truncated, "a byte needs 1 bytes at offset \(position); 0 left")
        }
        return bytes[position]
    }

    /// The type byte of the value at `position`.
    public static func type(in bytes: Span<UInt8>, at position: Int) throws(QIPCError) -> Int8 {
        Int8(bitPattern: try byte(in: bytes, at: position))
    }

    /// The little-endian 32-bit count at `position`, checked to be positive and to leave
    /// `minimumElementSize` bytes per element before the end.
    public static func count(
        in bytes: Span<UInt8>, at position: Int, minimumElementSize: Int
    ) throws(QIPCError) -> Int {
        let remaining = bytes.count - position
        guard remaining >= 4 else {
            throw QIPCError(.truncated, "a 4-byte number needs 4 bytes at offset \(position); \(max(remaining, 0)) left")
        }
        var raw: UInt32 = 0
        for index in 0..<4 { raw |= UInt32(bytes[position + index]) << (8 * index) }
        let count = Int(Int32(bitPattern: raw))
        guard count >= 0 else { throw QIPCError(.badLength, "negative count \(count) at offset \(position)") }
        guard count.multipliedReportingOverflow(by: minimumElementSize).partialValue <= remaining - 4 else {
            throw QIPCError(
                .badLength,
                "count \(count) at offset \(position) needs at least \(count * minimumElementSize) bytes; \(remaining - 4) left")
        }
        return count
    }

    /// The symbol (NUL-terminated UTF-8) at `position` and the position after its NUL.
    public static func symbol(in bytes: Span<UInt8>, at position: Int) throws(QIPCError) -> (String, end: Int) {
        let end = try symbolEnd(in: bytes, at: position)
        var utf8: [UInt8] = []
        utf8.reserveCapacity(end - position)
        for index in position..<end { utf8.append(bytes[index]) }
        return (String(decoding: utf8, as: UTF8.self), end + 1)
    }

    /// The position of the NUL ending the symbol at `position`.
    public static func symbolEnd(in bytes: Span<UInt8>, at position: Int) throws(QIPCError) -> Int {
        var index = position
        while index < bytes.count {
            if bytes[index] == 0 { return index }
            index += 1
        }
        throw QIPCError(.truncated, "a symbol at offset \(position) has no NUL terminator")
    }

    /// Checks the value at `position` as decoding it would (types, attributes, lengths, nesting
    /// up to ``QIPC/maximumDepth``, a table's shape) and returns the position after it. Vectors
    /// and general lists are walked, not built; a dictionary or a table is decoded to be checked.
    public static func checkValue(in bytes: Span<UInt8>, at position: Int, depth: Int) throws(QIPCError) -> Int {
        guard depth <= QIPC.maximumDepth else {
            throw QIPCError(.tooDeep, "nesting deeper than \(QIPC.maximumDepth) at offset \(position)")
        }
        let type = try self.type(in: bytes, at: position)
        var next = position + 1
        switch type {
        case -128, -11:
            return try symbolEnd(in: bytes, at: next) + 1
        case -19 ... -1:
            guard let size = QIPCReader.elementSize(-type) else {
                throw QIPCError(.unsupportedType, "atom type \(type) at offset \(position) does not exist")
            }
            let remaining = bytes.count - next
            guard size <= remaining else {
                // In decoding's words: a boolean, a byte and a char are read as a byte.
                let what = switch type {
                case -1, -4, -10: "a byte"
                case -2: "a guid"
                default: "a \(size)-byte number"
                }
                throw QIPCError(.truncated, "\(what) needs \(size) bytes at offset \(next); \(remaining) left")
            }
            return next + size
        case 0:
            next = try checkAttribute(in: bytes, at: next)
            let count = try self.count(in: bytes, at: next, minimumElementSize: 1)
            next += 4
            for _ in 0..<count { next = try checkValue(in: bytes, at: next, depth: depth + 1) }
            return next
        case 11:
            next = try checkAttribute(in: bytes, at: next)
            let count = try self.count(in: bytes, at: next, minimumElementSize: 1)
            next += 4
            for _ in 0..<count { next = try symbolEnd(in: bytes, at: next) + 1 }
            return next
        case 1...19:
            next = try checkAttribute(in: bytes, at: next)
            guard let size = QIPCReader.elementSize(type) else {
                throw QIPCError(.unsupportedType, "vector type \(type) at offset \(position) does not exist")
            }
            let count = try self.count(in: bytes, at: next, minimumElementSize: size)
            return next + 4 + count * size
        case 98:
            next = try checkAttribute(in: bytes, at: next)
            let inner = next
            let end = try checkValue(in: bytes, at: inner, depth: depth + 1)
            // As decoding: a dictionary of a symbol vector of columns and as many values.
            guard try isColumnDictionary(in: bytes, at: inner) else {
                throw QIPCError(.unexpectedShape, "the table at offset \(position) is not a column dictionary")
            }
            if let problem = try tableProblem(in: bytes, columnDictionaryAt: inner) {
                throw QIPCError(.invalidValue, "the table at offset \(position): \(problem)")
            }
            return end
        case 99, 127:
            let values = try checkValue(in: bytes, at: next, depth: depth + 1)
            let end = try checkValue(in: bytes, at: values, depth: depth + 1)
            if let problem = QShape.dictionaryProblem(
                keys: try shapeCount(in: bytes, at: next), values: try shapeCount(in: bytes, at: values))
            {
                throw QIPCError(.invalidValue, "the dictionary at offset \(position): \(problem)")
            }
            return end
        case 101:
            let primitive = try byte(in: bytes, at: next)
            guard primitive == 0 else {
                throw QIPCError(.unsupportedType, "unary primitive \(primitive) at offset \(position): functions are not accepted")
            }
            return next + 1
        default:
            throw QIPCError(
                .unsupportedType,
                "type \(type) at offset \(position) is not accepted (functions, enumerations and mapped types are refused)")
        }
    }

    /// ``QValue/holdsError`` of the value at `position`, read in place: a q error, or one
    /// inside a general list, a dictionary or a table, at any depth. Vectors are passed over by
    /// their length. The value was checked already (``checkValue(in:at:depth:)``),
    /// so its nesting is within ``QIPC/maximumDepth``.
    public static func holdsError(in bytes: Span<UInt8>, at position: Int) throws(QIPCError) -> Bool {
        switch try self.type(in: bytes, at: position) {
        case -128:
            return true
        case 0:
            let count = try self.count(in: bytes, at: position + 2, minimumElementSize: 1)
            var item = position + 6
            for _ in 0..<count {
                if try holdsError(in: bytes, at: item) { return true }
                item = try checkValue(in: bytes, at: item, depth: 2)
            }
            return false
        case 99, 127:
            let keys = position + 1
            if try holdsError(in: bytes, at: keys) { return true }
            return try holdsError(in: bytes, at: try checkValue(in: bytes, at: keys, depth: 2))
        case 98:
            return try holdsError(in: bytes, at: position + 2)
        default:
            return false
        }
    }

    /// Whether the value at `position` (checked already) is a dictionary whose keys are a
    /// symbol vector and whose values have as many items: what a table holds.
    private static func isColumnDictionary(in bytes: Span<UInt8>, at position: Int) throws(QIPCError) -> Bool {
        let type = try self.type(in: bytes, at: position)
        guard type == 99 || type == 127, try self.type(in: bytes, at: position + 1) == 11 else { return false }
        let columns = try count(in: bytes, at: position + 3, minimumElementSize: 1)
        let values = try checkValue(in: bytes, at: position + 1, depth: 0)
        let valuesType = try self.type(in: bytes, at: values)
        guard (0...19).contains(valuesType) else { return false }
        return try count(in: bytes, at: values + 2, minimumElementSize: 0) == columns
    }

    /// Why the table whose column dictionary (checked already, and a column dictionary) is at
    /// `position` is one q cannot hold, in decoding's words, or nil.
    private static func tableProblem(in bytes: Span<UInt8>, columnDictionaryAt position: Int) throws(QIPCError) -> String? {
        let names = try count(in: bytes, at: position + 3, minimumElementSize: 1)
        var name = position + 7
        var columns: [(name: String, type: Int, count: Int?)] = []
        columns.reserveCapacity(min(names, QIPCReader.reservedItemsAtMost))
        var column = try checkValue(in: bytes, at: position + 1, depth: 0) + 6
        let listed = try type(in: bytes, at: column - 6) == 0
        for _ in 0..<names {
            let (text, end) = try symbol(in: bytes, at: name)
            name = end
            guard listed else {
                // The values are a vector: every column is one of its atoms.
                columns.append((text, -Int(try type(in: bytes, at: column - 6)), nil))
                break
            }
            columns.append((text, Int(try type(in: bytes, at: column)), try shapeCount(in: bytes, at: column)))
            column = try checkValue(in: bytes, at: column, depth: 0)
        }
        return QShape.tableProblem(columns: columns)
    }

    /// The items the value at `position` (checked already) counts for the shape checks, as
    /// ``QData/QValue/shapeCount`` counts them: a vector's or a general list's count, a table's
    /// rows; nil for any other value.
    private static func shapeCount(in bytes: Span<UInt8>, at position: Int) throws(QIPCError) -> Int? {
        let type = try self.type(in: bytes, at: position)
        switch type {
        case 0...19:
            return try count(in: bytes, at: position + 2, minimumElementSize: 0)
        case 98:
            // Type, attribute, the dictionary's type, then the names and the general list of columns.
            let values = try checkValue(in: bytes, at: position + 3, depth: 0)
            guard try count(in: bytes, at: values + 2, minimumElementSize: 0) > 0 else { return 0 }
            return try shapeCount(in: bytes, at: values + 6) ?? 0
        default:
            return nil
        }
    }

    private static func checkAttribute(in bytes: Span<UInt8>, at position: Int) throws(QIPCError) -> Int {
        let raw = try byte(in: bytes, at: position)
        guard QAttribute(rawValue: raw) != nil else {
            throw QIPCError(.badHeader, "attribute byte \(raw) at offset \(position) is not 0–4")
        }
        return position + 1
    }

    /// Decodes the value in `range` (one value's bytes, as ``checkValue(in:at:depth:)`` found
    /// them), copying those bytes first; `depth` is its nesting in the message.
    public static func decodeValue(
        in bytes: Span<UInt8>, range: Range<Int>, depth: Int = 1
    ) throws(QIPCError) -> QValue {
        // A long atom, the usual query id, read in place: every client message has one.
        if range.count == 9, bytes[range.lowerBound] == UInt8(bitPattern: -QTypeCode.long.rawValue) {
            var wire: UInt64 = 0
            for shift in 0..<8 { wire |= UInt64(bytes[range.lowerBound + 1 + shift]) << (8 * UInt64(shift)) }
            return .atom(.long(Int64(bitPattern: wire)))
        }
        var reader = QIPCReader(bytes: copy(of: bytes, range: range), littleEndian: true)
        reader.position = 0
        let value = try reader.readValue(depth: depth)
        guard reader.position == range.count else {
            throw QIPCError(.trailingBytes, "\(range.count - reader.position) bytes after the value at offset \(range.lowerBound + reader.position)")
        }
        return value
    }

    /// Decodes the value in `range` of the plain little-endian message `bytes` (one value's
    /// bytes, as ``checkValue(in:at:depth:)`` found them) where it lies, without copying those
    /// bytes first as ``decodeValue(in:range:depth:)`` does: a 40 MB vector argument is read
    /// into its decoded form and nothing else. `depth` is its nesting in the message.
    public static func decodeValue(in bytes: [UInt8], range: Range<Int>, depth: Int = 1) throws(QIPCError) -> QValue {
        guard range.lowerBound >= 0, range.upperBound <= bytes.count else {
            throw QIPCError(.truncated, "the value at \(range) lies outside the \(bytes.count)-byte message")
        }
        var reader = QIPCReader(bytes: bytes, littleEndian: true)
        reader.position = range.lowerBound
        let value = try reader.readValue(depth: depth)
        guard reader.position == range.upperBound else {
            throw QIPCError(.trailingBytes, "\(range.upperBound - reader.position) bytes after the value at offset \(reader.position)")
        }
        return value
    }

    /// The bytes in `range`, copied into an array.
    public static func copy(of bytes: Span<UInt8>, range: Range<Int>) -> [UInt8] {
        BulkCopy.bytes(of: bytes.extracting(range))
    }

    /// Appends the bytes of `span` to `bytes` in one copy (a serialized value read in place,
    /// put into a message being assembled).
    public static func append(_ span: Span<UInt8>, to bytes: inout [UInt8]) {
        BulkCopy.append(span, to: &bytes)
    }
}
