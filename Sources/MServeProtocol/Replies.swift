// The one builder of replies: every answer to a query — the broker's own, a servant's, the
// kdb+ door's async and response forms, a q servant's re-framed one — is made here, so the
// shape of a result, of a failure and of the info dictionary is decided in one place
// (docs/PROTOCOL.md, "Reply").

public import QData

/// A reply for a client: the async message `(id; result; info)`, and whether it reports a
/// failure (the text of its info's `error` entry).
public struct ClientReply: Sendable {
    /// The async IPC message `(id; result; info)`.
    public var bytes: [UInt8]
    /// The error text when the query failed; nil when it succeeded.
    public var failure: String?

    /// Creates a reply from its message and failure text.
    public init(bytes: [UInt8], failure: String?) {
        self.bytes = bytes
        self.failure = failure
    }
}

/// The form a reply takes at the kdb+ door, decided by how the query came.
public enum KdbReplyForm: Sendable {
    /// Async `(id; query)` or an async bare query: the async message `(id; result; info)`.
    case async
    /// Sync `(id; query)`: the response message `(id; result; info)`.
    case syncList
    /// Sync bare query (`h"proc1 `IBM"`): the response is the result alone, or a q error
    /// (type −128) with the failure's text.
    case syncBare
}

/// Builds every reply message: results and failures, for clients and from servants.
///
/// A failed query is `(id; "error text"; info)`: the error text as a string in the result's
/// place, and the same text under the info dictionary's reserved `error` key, which is there
/// only on failure. A q error (type −128) appears only as the whole of a kdb+ response to a
/// sync bare query (``kdbMessage(_:form:)``), never inside a list: q, pykx, qpython and kola
/// all read every reply.
public enum ReplyAssembly {
    /// What starts the text of every error MServe itself raises (rather than an API function).
    public static let errorPrefix = "mserve: "

    /// `message` as the text of an error MServe raises: `mserve: message`.
    public static func mserveError(_ message: String) -> String {
        errorPrefix + message
    }

    /// The failure of a query whose result is `bytes` as IPC, over the `limit` a broker takes
    /// from a servant (its `--max-message`): a servant's answer, and the broker's for a q
    /// servant's result over it.
    public static func resultTooLarge(id: QValue, bytes: Int, limit: Int) -> [UInt8] {
        servantFailure(
            id: id, message: mserveError("the result is \(bytes) bytes as IPC, over the \(limit)-byte message limit"))
    }

    // MARK: replies to clients

    /// `(id; result; info)` for a query the broker answers itself (a call of its own functions).
    public static func result(id: QValue, result: QValue, info: QValue) -> ClientReply {
        ClientReply(bytes: QIPC.encode(.list([id, result, info]), messageType: .async), failure: nil)
    }

    /// `(id; "message"; info)` for a failed query, `info` the broker's dictionary for it with the
    /// `error` entry added (``InfoDictionary/make(routing:servant:timings:servantInfo:error:)``).
    public static func failure(
        id: QValue, message: String, routing: String, servant: String, timings: QueryTimings,
        servantInfo: QValue? = nil
    ) -> ClientReply {
        let info = InfoDictionary.make(
            routing: routing, servant: servant, timings: timings, servantInfo: servantInfo, error: message)
        return ClientReply(bytes: QIPC.encode(.list([id, .string(message), info]), messageType: .async), failure: message)
    }

    /// `(id; result; info)` from a servant's sliced reply and a new info dictionary.
    /// The result's bytes are copied, never decoded.
    public static func clientReply(_ reply: SlicedReply, info: QValue) -> [UInt8] {
        var infoBytes: [UInt8] = []
        QIPC.encodePayload(info, into: &infoBytes)
        return QIPC.assembleList(
            items: [reply.bytes[reply.id], reply.bytes[reply.result], infoBytes[...]],
            messageType: .async)
    }

    /// `(id; result; info)` for a servant's reply, with the broker's info dictionary
    /// (``InfoDictionary/make(routing:servant:timings:servantInfo:error:)``, the servant's own
    /// info merged in when it sent one). The result's bytes are copied, never decoded.
    ///
    /// A servant that failed sends `(id; "text"; info)` with `error` in its info, which stays
    /// as it is; one that sends a q error in the result's place (an older servant, a q
    /// servant) has it turned into that shape, the only case where the result is decoded.
    ///
    /// When the servant sent no info and no error — the common case — the dictionary is
    /// written straight to bytes, without building its q value first: this runs for every
    /// reply the broker sends.
    public static func clientReply(
        _ reply: SlicedReply, routing: String, servant: String, timings: QueryTimings
    ) -> ClientReply {
        if reply.resultIsError {
            let message: String
            if case .error(let text)? = try? decodePayload(reply.bytes[reply.result]) {
                message = text
            } else {
                message = mserveError("the servant sent an undecodable error")
            }
            let info = InfoDictionary.make(
                routing: routing, servant: servant, timings: timings, servantInfo: reply.decodeInfo(),
                error: message)
            var text: [UInt8] = []
            QIPC.encodePayload(.string(message), into: &text)
            var infoBytes: [UInt8] = []
            QIPC.encodePayload(info, into: &infoBytes)
            return ClientReply(
                bytes: QIPC.assembleList(items: [reply.bytes[reply.id], text[...], infoBytes[...]]),
                failure: message)
        }
        if reply.info != nil {
            let servantInfo = reply.decodeInfo()
            let failure = servantInfo.flatMap(InfoDictionary.failure(in:))
            let info = InfoDictionary.make(
                routing: routing, servant: servant, timings: timings, servantInfo: servantInfo, error: failure)
            return ClientReply(bytes: clientReply(reply, info: info), failure: failure)
        }
        let result = reply.bytes[reply.result]
        let parts = splicedClientReply(
            id: reply.bytes[reply.id], resultCount: result.count, routing: routing, servant: servant,
            timings: timings)
        var bytes = parts.head
        bytes.reserveCapacity(parts.head.count + result.count + parts.tail.count)
        bytes.append(contentsOf: result)
        bytes.append(contentsOf: parts.tail)
        return ClientReply(bytes: bytes, failure: nil)
    }

    /// The bytes that go around a servant's result, unread and uncopied, to make the client's
    /// `(id; result; info)` with the broker's info dictionary: `head` (the message header, the
    /// list of three and the id's payload `id`) and `tail` (the info dictionary). The header
    /// counts the `resultCount` bytes of the result between them: `head + result + tail` is
    /// the reply ``clientReply(_:routing:servant:timings:)`` makes for a servant's `(id;
    /// result)`. This is how the broker passes a result from the servant's ZeroMQ frame to
    /// the client's with one copy and none through an array (docs/PROTOCOL.md).
    public static func splicedClientReply(
        id: ArraySlice<UInt8>, resultCount: Int, routing: String, servant: String, timings: QueryTimings
    ) -> (head: [UInt8], tail: [UInt8]) {
        var head: [UInt8] = []
        var tail: [UInt8] = []
        splicedClientReply(
            id: id.span, resultCount: resultCount, routing: routing, servant: servant, timings: timings,
            head: &head, tail: &tail)
        return (head, tail)
    }

    /// Writes what ``splicedClientReply(id:resultCount:routing:servant:timings:)`` returns into
    /// `head` and `tail`, replacing what they held, reading the id's payload in place: the
    /// broker's loop keeps the two buffers from one reply to the next, so a reply allocates
    /// neither.
    public static func splicedClientReply(
        id: Span<UInt8>, resultCount: Int, routing: String, servant: String, timings: QueryTimings,
        head: inout [UInt8], tail: inout [UInt8]
    ) {
        head.removeAll(keepingCapacity: true)
        head.reserveCapacity(14 + id.count)
        QIPC.appendListMessageHead(count: 3, to: &head)
        for offset in id.indices { head.append(id[offset]) }
        tail.removeAll(keepingCapacity: true)
        tail.reserveCapacity(brokerInfoHead.count + routing.utf8.count + servant.utf8.count + 2 + 2 + 4 * 9)
        tail.append(contentsOf: brokerInfoHead)
        // The values of `InfoDictionary.brokerValues`, in its order, each written in place
        // (DirectInfoReplyTests checks that the two agree).
        QIPC.appendSymbolAtom(routing, to: &tail)
        QIPC.appendSymbolAtom(servant, to: &tail)
        QIPC.appendLongSizedAtom(.timespan, timings.elapsed, to: &tail)
        QIPC.appendLongSizedAtom(.timespan, timings.execution, to: &tail)
        QIPC.appendLongSizedAtom(.timespan, timings.queued, to: &tail)
        QIPC.appendLongSizedAtom(.timestamp, timings.received, to: &tail)
        QIPC.patchLength(&head, to: head.count + resultCount + tail.count)
    }

    /// Type 99 (dictionary), the symbol vector of the broker's keys, then the head of the
    /// general list of their values: what precedes the values in every broker info dictionary.
    private static let brokerInfoHead: [UInt8] = {
        var bytes: [UInt8] = [99]
        QIPC.encodePayload(.vector(.symbol(InfoDictionary.brokerKeys)), into: &bytes)
        bytes.append(contentsOf: [0, 0])
        QIPC.appendInt32(Int32(InfoDictionary.brokerKeys.count), to: &bytes)
        return bytes
    }()

    // MARK: the kdb+ door

    /// The reply as the kdb+ door sends it for a query that came in `form`: the async message
    /// itself, the same list as a response, or for a sync bare query the result alone as a
    /// response — or, when the query failed, a q error response (what `h"…"` expects).
    public static func kdbMessage(_ reply: ClientReply, form: KdbReplyForm) -> [UInt8] {
        switch form {
        case .async:
            return reply.bytes
        case .syncList:
            var bytes = reply.bytes
            bytes[1] = QMessageType.response.rawValue
            return bytes
        case .syncBare:
            if let failure = reply.failure { return errorResponse(failure) }
            guard let slices = try? QIPC.sliceList(reply.bytes), slices.items.count >= 2 else {
                return errorResponse(mserveError("the reply could not be read"))
            }
            var bytes: [UInt8] = [1, QMessageType.response.rawValue, 0, 0, 0, 0, 0, 0]
            bytes += slices.bytes[slices.items[1]]
            QIPC.patchLength(&bytes)
            return bytes
        }
    }

    /// A q error as the whole of a response message: the one place a type −128 is sent.
    public static func errorResponse(_ message: String) -> [UInt8] {
        QIPC.encode(.error(message), messageType: .response)
    }

    // MARK: servants' replies

    /// A servant's `(id; result)`, or `(id; result; info)` when its function gave info.
    public static func servantResult(id: QValue, result: QValue, info: QValue? = nil) -> [UInt8] {
        QIPC.encode(.list(info.map { [id, result, $0] } ?? [id, result]), messageType: .async)
    }

    /// The bytes that go around a result already serialized (its payload, without a message
    /// header) to make a servant's `(id; result)`, or `(id; result; info)` when `info` is
    /// given: `head` (the message header, the list's head and the id) and `tail` (the info, or
    /// nothing). The header counts the `resultCount` bytes of the result between them, so
    /// `head + result + tail` is the message ``servantResult(id:result:info:)`` makes for the
    /// result those bytes hold. A servant puts a plugin's result into its reply this way,
    /// without decoding it and writing it again (docs/PLUGINS.md).
    public static func servantResultParts(
        id: QValue, resultCount: Int, info: QValue? = nil
    ) -> (head: [UInt8], tail: [UInt8]) {
        var head = QIPC.listMessageHead(count: info == nil ? 2 : 3, messageType: .async)
        QIPC.encodePayload(id, into: &head)
        var tail: [UInt8] = []
        if let info { QIPC.encodePayload(info, into: &tail) }
        QIPC.patchLength(&head, to: head.count + resultCount + tail.count)
        return (head, tail)
    }

    /// A servant's `(id; "message"; info)` for a query it refused or failed, `info` holding
    /// only the reserved `error` entry with the same text.
    public static func servantFailure(id: QValue, message: String) -> [UInt8] {
        QIPC.encode(
            .list([id, .string(message), InfoDictionary.servantFailure(message)]), messageType: .async)
    }

    // MARK: reading replies

    /// The failure a decoded reply reports: the text of its info's `error` entry, or of a q
    /// error in the result's place (from an older broker or servant); nil for a result.
    public static func failure(result: QValue, info: QValue?) -> String? {
        if case .error(let text) = result { return text }
        if let info { return InfoDictionary.failure(in: info) }
        return nil
    }

    /// Decodes one item's payload (as found by ``QIPC/sliceList(_:)``).
    public static func decodePayload(_ payload: ArraySlice<UInt8>) throws -> QValue {
        let total = payload.count + 8
        var message: [UInt8] = [1, 0, 0, 0]
        message += WireInteger.encode(UInt64(total)).prefix(4)
        message += payload
        return try QIPC.decode(message).value
    }
}
