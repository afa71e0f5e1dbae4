public import QData

/// A client's `(id; query)` or `(id; query; options)` read in the bytes it came in: the id and
/// the options decoded, the query left where it lies, to be checked in place
/// (``MServeQuery/QueryParser/check(queryIn:range:routing:decodingArgumentsUpTo:)``).
///
/// Reading a message of a 40 MB vector argument this way copies none of it: every item is
/// checked as ``ClientQuery/init(bytes:maximumSize:acceptingOptions:)`` decodes it (same
/// errors), but only the id and the options are decoded.
public struct ClientQueryLayout: Sendable {
    /// The client's id, decoded.
    public var id: QValue
    /// The options, decoded, when the client sent a third item.
    public var options: QValue?
    /// The id item's byte range in the plain message.
    public var idItem: Range<Int>
    /// The query item's byte range.
    public var query: Range<Int>
    /// The options item's byte range, when the client sent a third item.
    public var optionsItem: Range<Int>?
    /// The plain little-endian message the ranges index, when the message came compressed or
    /// big-endian and had to be rewritten; nil when they index the bytes as they came.
    public var rewritten: [UInt8]?

    /// Reads `(id; query)`, and with `acceptingOptions` also `(id; query; options)`, from the
    /// message `bytes`. A compressed message that would decompress to more than `maximumSize`
    /// bytes is refused. A compressed message is decompressed, then read in place; a big-endian
    /// one (rare: no little-endian host writes one) is decoded whole and written again
    /// little-endian (``rewritten``). Whatever the message, it is refused exactly when
    /// ``ClientQuery/init(bytes:maximumSize:acceptingOptions:)`` refuses it, with its error.
    public init(reading bytes: Span<UInt8>, maximumSize: Int = .max, acceptingOptions: Bool = false) throws(ProtocolError) {
        let header: QMessageHeader
        do {
            header = try QIPCInPlace.header(of: bytes)
        } catch {
            throw ProtocolError(.malformed, "malformed message: \(error)")
        }
        if !header.littleEndian {
            // Decoded item by item, as ClientQuery decodes it (the same checks, in the same
            // order, with the same errors), then written again little-endian.
            let query = try ClientQuery(
                bytes: QIPCInPlace.copy(of: bytes, range: 0..<bytes.count), maximumSize: maximumSize,
                acceptingOptions: acceptingOptions)
            let plain = QIPC.encode(
                .list([query.id, query.query] + (query.options.map { [$0] } ?? [])), messageType: header.messageType)
            self = try Self(plain: plain.span, acceptingOptions: acceptingOptions)
            rewritten = plain
        } else if header.compressed {
            let plain: [UInt8]
            do {
                plain = try QIPC.decompress(QIPCInPlace.copy(of: bytes, range: 0..<bytes.count), maximumSize: maximumSize)
            } catch {
                throw ProtocolError(.malformed, "malformed message: \(error)")
            }
            self = try Self(plain: plain.span, acceptingOptions: acceptingOptions)
            rewritten = plain
        } else {
            self = try Self(plain: bytes, acceptingOptions: acceptingOptions)
        }
    }

    private init(plain bytes: Span<UInt8>, acceptingOptions: Bool) throws(ProtocolError) {
        let most = acceptingOptions ? 3 : 2
        let shape = acceptingOptions ? "(id; query) or (id; query; options)" : "(id; query)"
        // At most three ranges, kept without an array: this runs for every query.
        var ranges: (Range<Int>, Range<Int>, Range<Int>) = (0..<0, 0..<0, 0..<0)
        var found = 0
        do {
            guard bytes.count > 8 else { throw QIPCError(.truncated, "the message ends after its 8-byte header") }
            guard bytes[8] == 0 else {
                // No list: refused as ClientQuery refuses it, in its words (bytes that are no q
                // value at all are malformed, whatever their first type byte says; a value of
                // another type is of the wrong shape). It reads a copy: this is the rare case.
                _ = try ClientQuery(
                    bytes: QIPCInPlace.copy(of: bytes, range: 0..<bytes.count), acceptingOptions: acceptingOptions)
                throw QIPCError(.unexpectedShape, "expected a general list (type 0), got type \(Int8(bitPattern: bytes[8]))")
            }
            guard bytes.count > 9 else { throw QIPCError(.truncated, "a byte needs 1 bytes at offset 9; 0 left") }
            let count = try QIPCInPlace.count(in: bytes, at: 10, minimumElementSize: 1)
            var position = 14
            for _ in 0..<count {
                let end = try QIPCInPlace.checkValue(in: bytes, at: position, depth: 1)
                found += 1
                if found > most { throw QIPCError(.unexpectedShape, "more than \(most) items") }
                switch found {
                case 1: ranges.0 = position..<end
                case 2: ranges.1 = position..<end
                default: ranges.2 = position..<end
                }
                position = end
            }
            guard position == bytes.count else {
                throw QIPCError(.trailingBytes, "\(bytes.count - position) bytes after the list at offset \(position)")
            }
            guard found == 2 || found == 3 else {
                throw ProtocolError(
                    .unexpectedShape, "expected the general list \(shape), got a list of \(found) item(s)")
            }
            id = try QIPCInPlace.decodeValue(in: bytes, range: ranges.0)
            if id.holdsError { throw Self.idHoldsErrorRefusal }
            options = found == 3 ? try QIPCInPlace.decodeValue(in: bytes, range: ranges.2) : nil
        } catch let error as ProtocolError {
            throw error
        } catch let error as QIPCError where error.code == .unexpectedShape {
            throw ProtocolError(.unexpectedShape, "expected the general list \(shape): \(error.message)")
        } catch {
            throw ProtocolError(.malformed, "malformed message: \(error)")
        }
        idItem = ranges.0
        query = ranges.1
        optionsItem = found == 3 ? ranges.2 : nil
        rewritten = nil
    }

    /// The id of a message that is not a valid `(id; query)`, so that its refusal can carry
    /// it: the first item of its general list of two or three items, when that item reads as
    /// an id (no function, enumeration or mapped type, holding no q error), whatever follows
    /// it; nil for anything else (the refusal then carries the generic null). Only the id is
    /// decoded; a compressed message (one too large once decompressed, say) is decompressed
    /// only as far as its first ``ClientQuery/leadingIDBytes`` (``ClientQuery/leadingID(of:)``),
    /// its id read there whatever its item count. A big-endian message gives nil.
    public static func readableID(in bytes: Span<UInt8>) -> QValue? {
        guard let header = try? QIPCInPlace.header(of: bytes), header.littleEndian else { return nil }
        if header.compressed { return ClientQuery.leadingID(of: QIPCInPlace.copy(of: bytes, range: 0..<bytes.count)) }
        guard bytes.count > 14, bytes[8] == 0,
            let count = try? QIPCInPlace.count(in: bytes, at: 10, minimumElementSize: 1), count == 2 || count == 3,
            let end = try? QIPCInPlace.checkValue(in: bytes, at: 14, depth: 1),
            let id = try? QIPCInPlace.decodeValue(in: bytes, range: 14..<end), !id.holdsError
        else { return nil }
        return id
    }

    /// Why an id that holds a q error is refused.
    static var idHoldsErrorRefusal: ProtocolError {
        ProtocolError(
            .unexpectedShape,
            "the id holds a q error (type -128); an id comes back inside the reply list, where no q client reads one")
    }

    /// The IPC bytes of `(id; query)` for a servant, without the options: the head of the
    /// list, to be followed by the bytes of ``items`` 0 and 1 as they are.
    public var headWithoutOptions: [UInt8] {
        var head = QIPC.listMessageHead(count: 2)
        QIPC.patchLength(&head, to: head.count + idItem.count + query.count)
        return head
    }
}
