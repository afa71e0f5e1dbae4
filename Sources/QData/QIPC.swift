import Foundation

/// The kind of a kdb+ IPC message (header byte 1).
public enum QMessageType: UInt8, Sendable, Hashable {
    /// No response expected (`neg[h] x`).
    case async = 0
    /// The sender waits for a response (`h x`).
    case sync = 1
    /// A response to a sync message.
    case response = 2
}

/// The 8-byte header of a kdb+ IPC message.
public struct QMessageHeader: Sendable, Hashable {
    /// Byte 0: 1 for little-endian payloads, 0 for big-endian.
    public var littleEndian: Bool
    /// Byte 1: async, sync or response.
    public var messageType: QMessageType
    /// Byte 2: whether the payload is compressed.
    public var compressed: Bool
    /// Bytes 4–7: the total message length, header included (as sent).
    public var length: Int
}

/// A decoded message: its header and its value.
public struct QMessage: Sendable {
    /// The header as received (before decompression).
    public var header: QMessageHeader
    /// The value it carried.
    public var value: QValue
}

/// Where each top-level item of a general-list message lies, found without decoding.
public struct QListSlices: Sendable {
    /// The header as received.
    public var header: QMessageHeader
    /// The message, decompressed if it came compressed.
    public var bytes: [UInt8]
    /// The byte range of each item's serialized form within ``bytes``.
    public var items: [Range<Int>]
}

/// The kdb+ IPC codec (protocol version 3: what `-8!` produces and `-9!` reads).
public enum QIPC {
    /// The width in bytes of one element of the vector type `type` (or of the atom of type
    /// `-type`): 1 for booleans, bytes and chars, 16 for GUIDs, 2, 4 or 8 for the numbers and
    /// temporals; nil for symbols (NUL-terminated, of any length) and for every other type.
    public static func fixedWidth(ofType type: Int) -> Int? {
        switch type {
        case 1, 4, 10: 1
        case 2: 16
        case 5: 2
        case 6, 8, 13, 14, 17, 18, 19: 4
        case 7, 9, 12, 15, 16: 8
        default: nil
        }
    }

    /// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
    public static let maximumDepth = 128

    // MARK: encoding

    /// Serializes `value` as a complete message: 8-byte header and payload, little-endian.
    public static func encode(_ value: QValue, messageType: QMessageType = .async) -> [UInt8] {
        var bytes: [UInt8] = [1, messageType.rawValue, 0, 0, 0, 0, 0, 0]
        bytes.reserveCapacity(64)
        encodePayload(value, into: &bytes)
        patchLength(&bytes)
        return bytes
    }

    /// Appends `value`'s serialized form (no header) to `bytes`.
    public static func encodePayload(_ value: QValue, into bytes: inout [UInt8]) {
        var writer = QIPCWriter(bytes: bytes)
        bytes = []
        writer.write(value)
        bytes = writer.bytes
    }

    /// A general-list message from items already serialized (payloads without headers).
    /// The broker builds `(id; result; info)` this way without decoding `result`.
    public static func assembleList(items: [ArraySlice<UInt8>], messageType: QMessageType = .async) -> [UInt8] {
        var bytes = listMessageHead(
            count: items.count, messageType: messageType, reservingCapacity: items.reduce(14) { $0 + $1.count })
        for item in items { bytes.append(contentsOf: item) }
        patchLength(&bytes)
        return bytes
    }

    /// The start of a general-list message of `count` items: the header, then the list's type,
    /// attribute and count. Append the items' payloads (``encodePayload(_:into:)`` writes one in
    /// place), then call ``patchLength(_:)``.
    public static func listMessageHead(
        count: Int, messageType: QMessageType = .async, reservingCapacity capacity: Int = 0
    ) -> [UInt8] {
        // One allocation: reserved first, then written.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(capacity, 14))
        appendListMessageHead(count: count, messageType: messageType, to: &bytes)
        return bytes
    }

    /// Appends what ``listMessageHead(count:messageType:reservingCapacity:)`` makes to `bytes`
    /// (empty, for a message of its own; a buffer kept for the next message allocates nothing).
    public static func appendListMessageHead(count: Int, messageType: QMessageType = .async, to bytes: inout [UInt8]) {
        bytes.append(1)
        bytes.append(messageType.rawValue)
        bytes.append(contentsOf: repeatElement(0, count: 8))
        appendInt32(Int32(truncatingIfNeeded: count), to: &bytes)
    }

    /// Writes the length of the complete message `bytes` into its header.
    public static func patchLength(_ bytes: inout [UInt8]) {
        patchLength(&bytes, to: bytes.count)
    }

    /// Writes `length` into the header at the start of `bytes`: for a message sent in pieces,
    /// of which `bytes` is the first (its head), the length of all of them together.
    public static func patchLength(_ bytes: inout [UInt8], to length: Int) {
        let length = UInt32(truncatingIfNeeded: length)
        for index in 0..<4 { bytes[4 + index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index))) }
    }

    /// Appends a little-endian 32-bit integer, as the counts of lists and vectors are written.
    public static func appendInt32(_ value: Int32, to bytes: inout [UInt8]) {
        let raw = UInt32(bitPattern: value)
        bytes.append(UInt8(truncatingIfNeeded: raw))
        bytes.append(UInt8(truncatingIfNeeded: raw >> 8))
        bytes.append(UInt8(truncatingIfNeeded: raw >> 16))
        bytes.append(UInt8(truncatingIfNeeded: raw >> 24))
    }

    /// Appends a symbol atom as ``encodePayload(_:into:)`` writes `.atom(.symbol(text))`, without
    /// making a ``QValue``: its type, its UTF-8 bytes (a NUL, which a q symbol cannot hold,
    /// dropped) and the closing NUL.
    public static func appendSymbolAtom(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(bitPattern: -QTypeCode.symbol.rawValue))
        appendSymbolText(text, to: &bytes)
    }

    /// Appends a symbol's text as IPC writes it, in an atom or a symbol vector: its UTF-8
    /// bytes, then a NUL. A NUL in `text` would end the symbol early: q symbols cannot hold
    /// one, so it is dropped.
    static func appendSymbolText(_ text: String, to bytes: inout [UInt8]) {
        BulkCopy.appendUTF8DroppingNUL(text, to: &bytes)
        bytes.append(0)
    }

    /// Appends an atom of a type held in 64 bits (`long`, `timestamp`, `timespan`) as
    /// ``encodePayload(_:into:)`` writes it, without making a ``QValue``.
    public static func appendLongSizedAtom(_ type: QTypeCode, _ value: Int64, to bytes: inout [UInt8]) {
        bytes.append(UInt8(bitPattern: -type.rawValue))
        BulkCopy.append(value.littleEndian, to: &bytes)
    }

    // MARK: decoding

    /// Reads a message's header, checking it against the bytes present.
    public static func decodeHeader(_ bytes: [UInt8]) throws(QIPCError) -> QMessageHeader {
        guard bytes.count >= 8 else {
            throw QIPCError(.truncated, "a kdb+ IPC message has an 8-byte header; got \(bytes.count) bytes")
        }
        return try decodeHeader(
            (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]), length: bytes.count)
    }

    /// Reads the 8 header bytes `head`, checking them against a message of `messageLength`
    /// bytes (``QIPCInPlace`` reads them from a span, without an array).
    static func decodeHeader(
        _ head: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8), length messageLength: Int
    ) throws(QIPCError) -> QMessageHeader {
        guard head.0 <= 1 else { throw QIPCError(.badHeader, "byte 0 (endianness) is \(head.0), not 0 or 1") }
        guard let type = QMessageType(rawValue: head.1) else {
            throw QIPCError(.badHeader, "byte 1 (message type) is \(head.1), not 0, 1 or 2")
        }
        guard head.2 <= 2 else { throw QIPCError(.badHeader, "byte 2 (compression) is \(head.2), not 0, 1 or 2") }
        let littleEndian = head.0 == 1
        let raw =
            littleEndian
            ? UInt32(head.4) | UInt32(head.5) << 8 | UInt32(head.6) << 16 | UInt32(head.7) << 24
            : UInt32(head.7) | UInt32(head.6) << 8 | UInt32(head.5) << 16 | UInt32(head.4) << 24
        let length = Int(raw)
        guard length == messageLength else {
            throw QIPCError(.badHeader, "the header says \(length) bytes but the message has \(messageLength)")
        }
        return QMessageHeader(littleEndian: littleEndian, messageType: type, compressed: head.2 != 0, length: length)
    }

    /// The message in little-endian form, the only one the broker writes: `bytes` itself when
    /// it is little-endian already (nothing is decoded), else decoded and written again with
    /// the same message type. Byte ranges sliced from the result can be put into the
    /// little-endian messages the broker assembles; a big-endian message's bytes cannot.
    /// `maximumSize` bounds a compressed message's decompressed size, as for ``decode(_:maximumSize:)``.
    public static func littleEndian(_ bytes: [UInt8], maximumSize: Int = .max) throws(QIPCError) -> [UInt8] {
        guard bytes.first == 0 else { return bytes }
        let message = try decode(bytes, maximumSize: maximumSize)
        return encode(message.value, messageType: message.header.messageType)
    }

    /// Decodes a complete message (decompressing it if needed). A compressed message that
    /// would decompress to more than `maximumSize` bytes is refused before any is allocated:
    /// give the limit a plain message has, so that compression cannot take a reader past it.
    public static func decode(_ bytes: [UInt8], maximumSize: Int = .max) throws(QIPCError) -> QMessage {
        let header = try decodeHeader(bytes)
        let plain = header.compressed ? try decompress(bytes, maximumSize: maximumSize) : bytes
        var reader = QIPCReader(bytes: plain, littleEndian: header.littleEndian)
        let value = try reader.readValue(depth: 0)
        guard reader.position == plain.count else {
            throw QIPCError(.trailingBytes, "\(plain.count - reader.position) bytes after the value at offset \(reader.position)")
        }
        return QMessage(header: header, value: value)
    }

    /// Finds the byte range of each item of a general-list message without decoding them.
    public static func sliceList(_ bytes: [UInt8]) throws(QIPCError) -> QListSlices {
        var items: [Range<Int>] = []
        let (header, plain) = try forEachListItem(in: bytes) { (item: Range<Int>) throws(QIPCError) in
            items.append(item)
        }
        return QListSlices(header: header, bytes: plain, items: items)
    }

    /// Hands `body` the byte range of each item of a general-list message, in order, without
    /// decoding the items or collecting their ranges (nothing is allocated for a message that
    /// came uncompressed). Returns the header and the message the ranges index: `bytes`, or
    /// its decompressed form. `body` may throw to stop, e.g. at an item too many.
    /// `maximumSize` bounds a compressed message's decompressed size, as for ``decode(_:maximumSize:)``.
    public static func forEachListItem(
        in bytes: [UInt8], maximumSize: Int = .max, _ body: (Range<Int>) throws(QIPCError) -> Void
    ) throws(QIPCError) -> (header: QMessageHeader, bytes: [UInt8]) {
        var (header, reader, count) = try listReader(bytes, maximumSize: maximumSize)
        for _ in 0..<count {
            let start = reader.position
            try reader.skipValue(depth: 1)
            try body(start..<reader.position)
        }
        try expectEnd(of: reader)
        return (header, reader.bytes)
    }

    /// Decodes the items of a general-list message one by one and hands each to `body`, in
    /// order, without building the list. Returns the header. `body` may throw to stop.
    /// `maximumSize` bounds a compressed message's decompressed size, as for ``decode(_:maximumSize:)``.
    public static func forEachListValue(
        in bytes: [UInt8], maximumSize: Int = .max, _ body: (QValue) throws(QIPCError) -> Void
    ) throws(QIPCError) -> QMessageHeader {
        var (header, reader, count) = try listReader(bytes, maximumSize: maximumSize)
        for _ in 0..<count { try body(try reader.readValue(depth: 1)) }
        try expectEnd(of: reader)
        return header
    }

    /// The first item of the general-list message `bytes`, read from the first `limit` bytes of
    /// its plain form: a compressed message is decompressed only that far
    /// (``decompressedPrefix(_:count:)``), and nothing after the item is looked at, so the
    /// rest of the message may be anything. Throws when the message is no general list, or
    /// when its first item does not lie whole within those bytes (as for a message cut there:
    /// `truncated`, or `badLength` for a vector longer than the bytes left).
    public static func firstListItem(of bytes: [UInt8], readingAtMost limit: Int) throws(QIPCError) -> QValue {
        let header = try decodeHeader(bytes)
        let plain = header.compressed ? try decompressedPrefix(bytes, count: limit) : Array(bytes.prefix(max(8, limit)))
        var reader = QIPCReader(bytes: plain, littleEndian: header.littleEndian)
        let type = Int8(bitPattern: try reader.readByte())
        guard type == 0 else { throw QIPCError(.unexpectedShape, "expected a general list (type 0), got type \(type)") }
        _ = try reader.readByte()
        guard try reader.readCount(minimumElementSize: 1) > 0 else {
            throw QIPCError(.unexpectedShape, "expected a general list of one item or more, got an empty list")
        }
        return try reader.readValue(depth: 1)
    }

    /// A reader at the first item of the general-list message `bytes` (decompressed if it came
    /// compressed), the header, and the number of items. A message that is no general list is
    /// refused as `unexpectedShape` only if it is a well-formed value; bytes that are no value
    /// are refused for what is wrong with them (`truncated`, `badLength`, …).
    private static func listReader(
        _ bytes: [UInt8], maximumSize: Int
    ) throws(QIPCError) -> (QMessageHeader, QIPCReader, Int) {
        let header = try decodeHeader(bytes)
        let plain = header.compressed ? try decompress(bytes, maximumSize: maximumSize) : bytes
        guard plain.count > 8 else { throw QIPCError(.truncated, "the message ends after its 8-byte header") }
        guard plain[8] == 0 else {
            // Bytes that are no q value at all are malformed, whatever their first type byte
            // says: that is the news, not that they are no list.
            var whole = QIPCReader(bytes: plain, littleEndian: header.littleEndian)
            whole.position = 8
            try whole.skipValue(depth: 0)
            guard whole.position == plain.count else {
                throw QIPCError(.trailingBytes, "\(plain.count - whole.position) bytes after the value at offset \(whole.position)")
            }
            throw QIPCError(.unexpectedShape, "expected a general list (type 0), got type \(Int8(bitPattern: plain[8]))")
        }
        var reader = QIPCReader(bytes: plain, littleEndian: header.littleEndian)
        reader.position = 9
        _ = try reader.readByte()
        let count = try reader.readCount(minimumElementSize: 1)
        return (header, reader, count)
    }

    /// Throws unless `reader` has read the whole message.
    private static func expectEnd(of reader: QIPCReader) throws(QIPCError) {
        guard reader.position == reader.bytes.count else {
            throw QIPCError(
                .trailingBytes,
                "\(reader.bytes.count - reader.position) bytes after the list at offset \(reader.position)")
        }
    }

    // MARK: compression

    /// The size a compressed message announces once decompressed (bytes 8–11, in the message's
    /// byte order); nil for a message that is not compressed or is too short to say.
    public static func decompressedSize(of message: [UInt8]) -> Int? {
        guard message.count >= 12, message[2] != 0 else { return nil }
        return announcedSize(message)
    }

    /// Bytes 8–11 of a message of at least 12 bytes, in its byte order.
    private static func announcedSize(_ message: [UInt8]) -> Int {
        let raw =
            message[0] == 1
            ? UInt32(message[8]) | UInt32(message[9]) << 8 | UInt32(message[10]) << 16 | UInt32(message[11]) << 24
            : UInt32(message[11]) | UInt32(message[10]) << 8 | UInt32(message[9]) << 16 | UInt32(message[8]) << 24
        return Int(raw)
    }

    /// Decompresses a compressed message into the plain message it stands for
    /// (header byte 2 cleared, length updated). Checks every index against the bounds. A
    /// decompressed size over `maximumSize` is refused before the output is allocated.
    public static func decompress(_ message: [UInt8], maximumSize: Int = .max) throws(QIPCError) -> [UInt8] {
        guard message.count >= 12 else { throw QIPCError(.truncated, "a compressed message needs at least 12 bytes") }
        let size = announcedSize(message)
        // kdb+'s scheme expands at most ~128× (a 2-byte token yields up to 257 bytes).
        guard size >= 8, size <= max(message.count, 1) * 130 else {
            throw QIPCError(.badCompression, "implausible decompressed size \(size) for \(message.count) compressed bytes")
        }
        guard size <= maximumSize else {
            throw QIPCError(
                .tooLarge, "the message decompresses to \(size) bytes, over the limit of \(maximumSize)")
        }
        return try expand(message, size: size, stoppingAfter: size)
    }

    /// The first `count` bytes (at least the 8-byte header; the whole message when it is
    /// shorter) of the plain message the compressed message `message` stands for, its header's
    /// length the whole plain message's. Decompression stops there: at most `count` bytes and
    /// one token more are ever made, whatever size the message announces, and nothing after
    /// them is read, so a message whose compressed data goes wrong further on still gives them.
    public static func decompressedPrefix(_ message: [UInt8], count: Int) throws(QIPCError) -> [UInt8] {
        guard message.count >= 12 else { throw QIPCError(.truncated, "a compressed message needs at least 12 bytes") }
        let size = announcedSize(message)
        guard size >= 8 else {
            throw QIPCError(.badCompression, "implausible decompressed size \(size) for \(message.count) compressed bytes")
        }
        let wanted = min(size, max(8, count))
        var prefix = try expand(message, size: size, stoppingAfter: wanted)
        prefix.removeLast(prefix.count - wanted)
        return prefix
    }

    /// Decompresses `message`, announcing `size` plain bytes, until at least `stop` of them are
    /// made (`stop` of 8 or more, at most `size`). The output holds them, and up to a token's
    /// bytes more when `stop` is short of `size`; its header is the plain message's.
    private static func expand(_ message: [UInt8], size: Int, stoppingAfter stop: Int) throws(QIPCError) -> [UInt8] {
        let littleEndian = message[0] == 1
        // A back-reference makes at most 257 bytes: room for the last one that starts before `stop`.
        var output = [UInt8](repeating: 0, count: min(size, stop + 257))
        for index in 0..<8 { output[index] = message[index] }
        output[2] = 0
        var table = [Int](repeating: 0, count: 256)
        var source = 12
        var target = 8
        var hashed = 8
        var flags = 0
        var bit = 0
        while target < stop {
            if bit == 0 {
                guard source < message.count else { throw QIPCError(.badCompression, "compressed data ends early") }
                flags = Int(message[source])
                source += 1
                bit = 1
            }
            var extra = 0
            if flags & bit != 0 {
                guard source + 1 < message.count else { throw QIPCError(.badCompression, "compressed data ends early") }
                var from = table[Int(message[source])]
                extra = Int(message[source + 1])
                source += 2
                guard from >= 8, from + 2 + extra <= size, target + 2 + extra <= size, from < target else {
                    throw QIPCError(.badCompression, "a back-reference points outside the message")
                }
                output[target] = output[from]
                output[target + 1] = output[from + 1]
                target += 2
                from += 2
                for offset in 0..<extra { output[target + offset] = output[from + offset] }
            } else {
                guard source < message.count else { throw QIPCError(.badCompression, "compressed data ends early") }
                output[target] = message[source]
                source += 1
                target += 1
            }
            while hashed < target - 1 {
                table[Int(output[hashed] ^ output[hashed + 1])] = hashed
                hashed += 1
            }
            if flags & bit != 0 {
                target += extra
                hashed = target
            }
            bit = bit == 128 ? 0 : bit * 2
        }
        let length = UInt32(size)
        for index in 0..<4 {
            output[littleEndian ? 4 + index : 7 - index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index)))
        }
        return output
    }

    /// Compresses a plain message with kdb+'s scheme, which any kdb+ reader decompresses.
    /// Returns nil when compression would not save at least half the bytes, as kdb+ does,
    /// or when the message is shorter than 2000 bytes (kdb+ never compresses those).
    public static func compress(_ message: [UInt8]) -> [UInt8]? {
        let total = message.count
        guard total > 2000, total >= 8 else { return nil }
        let limit = total / 2
        var output = [UInt8](repeating: 0, count: 12)
        output.reserveCapacity(limit + 20)
        for index in 0..<8 { output[index] = message[index] }
        output[2] = 1
        let size = UInt32(truncatingIfNeeded: total)
        for index in 0..<4 { output[8 + index] = UInt8(truncatingIfNeeded: size >> (8 * UInt32(index))) }
        var table = [Int](repeating: 0, count: 256)
        var position = 8
        var hashed = 8
        var flagIndex = 0
        var bit = 0
        while position < total {
            if bit == 0 {
                if output.count > limit { return nil }
                flagIndex = output.count
                output.append(0)
                bit = 1
            }
            var matched = false
            if position + 1 < total {
                let hash = Int(message[position] ^ message[position + 1])
                let from = table[hash]
                if from >= 8, message[from] == message[position], message[from + 1] == message[position + 1] {
                    var extra = 0
                    while extra < 255, position + 2 + extra < total,
                        message[from + 2 + extra] == message[position + 2 + extra]
                    {
                        extra += 1
                    }
                    output[flagIndex] |= UInt8(bit)
                    output.append(UInt8(hash))
                    output.append(UInt8(extra))
                    position += 2
                    while hashed < position - 1 {
                        table[Int(message[hashed] ^ message[hashed + 1])] = hashed
                        hashed += 1
                    }
                    position += extra
                    hashed = position
                    matched = true
                }
            }
            if !matched {
                output.append(message[position])
                position += 1
                while hashed < position - 1 {
                    table[Int(message[hashed] ^ message[hashed + 1])] = hashed
                    hashed += 1
                }
            }
            bit = bit == 128 ? 0 : bit * 2
        }
        guard output.count <= limit else { return nil }
        patchLength(&output)
        return output
    }
}
