public import QData

/// A client's query message: the q general list `(id; query)`, or `(id; query; options)`
/// where the broker accepts per-query options (docs/PROTOCOL.md).
public struct ClientQuery: Sendable {
    /// The client's id, any q value (usually a long); echoed in the reply.
    public var id: QValue
    /// The query: a string, or a general-list parse form such as `` (`proc1;`IBM) ``.
    public var query: QValue
    /// The options the client sent as a third item, as it sent them (read them with
    /// ``QueryOptions/init(decoding:)``, which refuses unknown keys and wrong types); nil when
    /// it sent `(id; query)`.
    public var options: QValue?

    /// Creates a query message.
    public init(id: QValue, query: QValue, options: QValue? = nil) {
        self.id = id
        self.query = query
        self.options = options
    }

    /// Reads `(id; query)` from IPC bytes (decoding the items, not building a list), and with
    /// `acceptingOptions` also `(id; query; options)`, the options any q value (read them with
    /// ``QueryOptions/init(decoding:)``). A compressed message that would decompress to more than `maximumSize` bytes is refused.
    public init(bytes: [UInt8], maximumSize: Int = .max, acceptingOptions: Bool = false) throws(ProtocolError) {
        var items: (id: QValue?, query: QValue?, options: QValue?) = (nil, nil, nil)
        var count = 0
        let most = acceptingOptions ? 3 : 2
        let shape = acceptingOptions ? "(id; query) or (id; query; options)" : "(id; query)"
        do {
            _ = try QIPC.forEachListValue(in: bytes, maximumSize: maximumSize) { (item: QValue) throws(QIPCError) in
                count += 1
                switch count {
                case 1: items.id = item
                case 2: items.query = item
                case 3 where most == 3: items.options = item
                default: throw QIPCError(.unexpectedShape, "more than \(most) items")
                }
            }
        } catch where error.code == .unexpectedShape {
            throw ProtocolError(.unexpectedShape, "expected the general list \(shape): \(error.message)")
        } catch {
            throw ProtocolError(.malformed, "malformed message: \(error)")
        }
        guard let id = items.id, let query = items.query, count == 2 || count == 3 else {
            throw ProtocolError(
                .unexpectedShape, "expected the general list \(shape), got a list of \(count) item(s)")
        }
        if id.holdsError { throw ClientQueryLayout.idHoldsErrorRefusal }
        self.id = id
        self.query = query
        self.options = items.options
    }

    /// The most bytes of a message's plain form ``leadingID(of:)`` reads: 64 KiB.
    public static let leadingIDBytes = 64 << 10

    /// The id of the client message `bytes` (its first item), for the error reply to a query
    /// that is not run: read from the first ``leadingIDBytes`` of the plain message, a
    /// compressed message decompressed only that far, the rest not read at all. Nil when the
    /// message is no general list, its id does not lie whole within those bytes, or holds a q
    /// error; the reply then carries the generic null.
    public static func leadingID(of bytes: [UInt8]) -> QValue? {
        guard let id = try? QIPC.firstListItem(of: bytes, readingAtMost: leadingIDBytes), !id.holdsError else { return nil }
        return id
    }

    /// The IPC bytes of `(id; query)`, or `(id; query; options)` when options are set, an
    /// async message.
    public func encoded() -> [UInt8] {
        if let options { return QIPC.encode(.list([id, query, options]), messageType: .async) }
        return QIPC.encode(.list([id, query]), messageType: .async)
    }

    /// The message `(id; query)` for a servant, from a client's `(id; query; options)` in
    /// `bytes`: the first two items' bytes as they came, without the options, which are the
    /// broker's. Nil when `bytes` is not a list of three items.
    public static func withoutOptions(_ bytes: [UInt8], maximumSize: Int = .max) -> [UInt8]? {
        var items: [Range<Int>] = []
        guard let littleEndian = try? QIPC.littleEndian(bytes, maximumSize: maximumSize),
            let (_, plain) = try? QIPC.forEachListItem(
                in: littleEndian, maximumSize: maximumSize, { (item: Range<Int>) throws(QIPCError) in items.append(item) }),
            items.count == 3
        else { return nil }
        return QIPC.assembleList(items: [plain[items[0]], plain[items[1]]])
    }
}

/// A servant's reply `(id; result)` or `(id; result; info)`, sliced but not decoded.
public struct SlicedReply: Sendable {
    /// The reply message (decompressed if it came compressed).
    public var bytes: [UInt8]
    /// Byte range of the id's payload.
    public var id: Range<Int>
    /// Byte range of the result's payload.
    public var result: Range<Int>
    /// Byte range of the servant's info payload, when it sent one.
    public var info: Range<Int>?

    /// Slices a servant's reply without decoding the result (nothing is allocated for a reply
    /// that came uncompressed). A compressed reply that would decompress to more than
    /// `maximumSize` bytes is refused.
    public init(bytes: [UInt8], maximumSize: Int = .max) throws(ProtocolError) {
        var items: (Range<Int>, Range<Int>, Range<Int>?) = (0..<0, 0..<0, nil)
        var count = 0
        let plain: [UInt8]
        do {
            // Sliced from the little-endian form: the slices go into little-endian messages.
            let littleEndian = try QIPC.littleEndian(bytes, maximumSize: maximumSize)
            (_, plain) = try QIPC.forEachListItem(in: littleEndian, maximumSize: maximumSize) {
                (item: Range<Int>) throws(QIPCError) in
                count += 1
                switch count {
                case 1: items.0 = item
                case 2: items.1 = item
                case 3: items.2 = item
                default: throw QIPCError(.unexpectedShape, "more than three items")
                }
            }
        } catch where error.code == .unexpectedShape && count > 3 {
            throw ProtocolError(.unexpectedShape, "expected (id; result) or (id; result; info), got more than 3 items")
        } catch {
            throw ProtocolError(.malformed, "malformed reply: \(error)")
        }
        guard count == 2 || count == 3 else {
            throw ProtocolError(
                .unexpectedShape,
                "expected (id; result) or (id; result; info), got a list of \(count)")
        }
        self.bytes = plain
        self.id = items.0
        self.result = items.1
        self.info = items.2
    }

    /// Decodes the servant's info dictionary, if any. Undecodable info is replaced by a string
    /// saying so (a q error cannot sit inside a reply).
    public func decodeInfo() -> QValue? {
        guard let info else { return nil }
        return (try? ReplyAssembly.decodePayload(bytes[info])) ?? .string(ReplyAssembly.mserveError("undecodable info"))
    }

    /// Whether the reply's id is `id`. Compared decoded, so that an id the servant echoed
    /// byte for byte always matches (a symbol that is not UTF-8 decodes with replacement
    /// characters on both sides, and its bytes are passed on as they came).
    public func hasID(_ id: QValue) -> Bool {
        Self.payload(bytes[self.id], isID: id)
    }

    /// Whether an encoded id (a payload without message header) is `id`, compared as
    /// ``hasID(_:)`` does.
    public static func payload(_ payload: Span<UInt8>, isID id: QValue) -> Bool {
        // The usual id, a long, read in place (this runs for every reply).
        if case .atom(.long) = id, payload.count == 9 {
            return (try? QIPCInPlace.decodeValue(in: payload, range: 0..<9)) == id
        }
        return (try? ReplyAssembly.decodePayload(QIPCInPlace.copy(of: payload, range: 0..<payload.count)[...])) == id
    }

    /// Whether the encoded q value `payload` is `id` (see the `Span` form).
    public static func payload(_ payload: ArraySlice<UInt8>, isID id: QValue) -> Bool {
        Self.payload(payload.span, isID: id)
    }

    /// The reply with its id replaced by `idPayload` (an encoded q value without message
    /// header), unless it is that id already: the broker answers a client with the id the
    /// client sent, whatever id a servant's reply carries.
    public func replacingID(with idPayload: [UInt8]) -> SlicedReply {
        guard !bytes[id].elementsEqual(idPayload) else { return self }
        let shift = idPayload.count - id.count
        var copy = self
        copy.bytes.replaceSubrange(id, with: idPayload)
        copy.id = id.lowerBound..<(id.lowerBound + idPayload.count)
        copy.result = (result.lowerBound + shift)..<(result.upperBound + shift)
        copy.info = info.map { ($0.lowerBound + shift)..<($0.upperBound + shift) }
        return copy
    }

    /// True when the reply reports a failure: its info's keys hold the reserved `error`
    /// (docs/PROTOCOL.md), or its result is a q error. Only the info's keys are read; nothing
    /// is decoded.
    public var reportsFailure: Bool {
        if resultIsError { return true }
        guard let info, info.count >= 7, bytes[info.lowerBound] == 99, bytes[info.lowerBound + 1] == 11 else {
            return false
        }
        var count = 0
        for offset in 0..<4 { count |= Int(bytes[info.lowerBound + 3 + offset]) << (8 * offset) }
        var position = info.lowerBound + 7
        let key = Array(InfoDictionary.errorKey.utf8)
        for _ in 0..<count {
            guard let end = bytes[position..<info.upperBound].firstIndex(of: 0) else { return false }
            if bytes[position..<end].elementsEqual(key) { return true }
            position = end + 1
        }
        return false
    }

    /// True when the result is a q error (type −128): an older servant, or a q servant, that
    /// refused or failed the query (ours send `(id; "text"; info)` instead).
    public var resultIsError: Bool {
        !result.isEmpty && bytes[result.lowerBound] == 0x80
    }
}

/// Where the id and the result lie in a servant's reply `(id; result)`, found from its first
/// bytes alone, without walking the result: the broker passes such a result on from the
/// servant's frame without reading it (``ReplyAssembly/splicedClientReply(id:resultCount:routing:servant:timings:)``).
///
/// Only the plain form is laid out this way — little-endian, uncompressed, a general list of
/// exactly two items whose header counts the whole message, an id of a simple type (an atom,
/// a vector, `::`) and a result that is not a q error. Anything else (`nil`) is read the
/// general way, with ``SlicedReply``: a reply with the servant's info, a failure, an older
/// servant's q error, a compressed or big-endian reply.
public struct ReplyPairLayout: Sendable, Hashable {
    /// Byte range of the id's payload.
    public var id: Range<Int>
    /// Byte range of the result's payload: from the end of the id to the end of the message.
    public var result: Range<Int>

    /// Lays out a reply of `messageCount` bytes whose first bytes are `prefix` (at least the
    /// header, the list's head and the id, and one byte of the result); nil when the reply is
    /// not of the plain form or its id does not end within `prefix`.
    public init?(prefix: ArraySlice<UInt8>, messageCount: Int) {
        self.init(prefix: prefix.span, messageCount: messageCount)
    }

    /// Lays out a reply as ``init(prefix:messageCount:)-(ArraySlice<UInt8>,_)`` does, reading
    /// its first bytes in place (the broker reads them in the servant's frame: nothing copied).
    public init?(prefix bytes: Span<UInt8>, messageCount: Int) {
        guard bytes.count >= 15, bytes.count <= messageCount, bytes[0] == 1, bytes[1] <= 2, bytes[2] == 0,
            Self.int32(bytes, at: 4) == messageCount, bytes[8] == 0, Self.int32(bytes, at: 10) == 2,
            let idEnd = Self.end(ofSimpleItemAt: 14, in: bytes), idEnd < bytes.count,
            bytes[idEnd] != 0x80
        else { return nil }
        id = 14..<idEnd
        result = idEnd..<messageCount
    }

    private static func int32(_ bytes: Span<UInt8>, at offset: Int) -> Int {
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * UInt32(index)) }
        return Int(Int32(bitPattern: value))
    }

    /// Where the item at `offset` ends, for an atom, a vector or `::`; nil for other types or
    /// when it does not end within `bytes`.
    private static func end(ofSimpleItemAt offset: Int, in bytes: Span<UInt8>) -> Int? {
        guard offset < bytes.count else { return nil }
        let type = Int(Int8(bitPattern: bytes[offset]))
        var end: Int
        if type == 101 {
            end = offset + 2  // (::) and the other unary primitives: one byte
        } else if type == -11 {
            guard let nul = try? QIPCInPlace.symbolEnd(in: bytes, at: offset + 1) else { return nil }
            end = nul + 1
        } else if type < 0, let width = QIPC.fixedWidth(ofType: -type) {
            end = offset + 1 + width
        } else if type > 0, offset + 6 <= bytes.count {
            let count = int32(bytes, at: offset + 2)
            guard count >= 0 else { return nil }
            if type == 11 {
                end = offset + 6
                for _ in 0..<count {
                    guard let nul = try? QIPCInPlace.symbolEnd(in: bytes, at: end) else { return nil }
                    end = nul + 1
                }
            } else if let width = QIPC.fixedWidth(ofType: type) {
                let (size, overflow) = count.multipliedReportingOverflow(by: width)
                guard !overflow else { return nil }
                end = offset + 6 + size
            } else {
                return nil
            }
        } else {
            return nil
        }
        return end <= bytes.count ? end : nil
    }
}
