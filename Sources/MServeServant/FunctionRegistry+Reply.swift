public import Logging
import MServeProtocol
import MServeQuery
import QData
import Synchronization

extension FunctionRegistry {
    /// Answers one client message `(id; query)` (IPC bytes) the way a servant does: the
    /// reply `(id; result)`, `(id; result; info)` or, for a query it refuses or that fails,
    /// `(id; "error text"; info)` with the text under info's `error` key
    /// (``ReplyAssembly/servantFailure(id:message:)``), as IPC bytes. Never throws.
    /// A compressed message that would decompress to more than `maximumSize` bytes is refused;
    /// so is a query whose reply (its result, or the text of its refusal or failure) would
    /// exceed `maximumReplySize` bytes (the most the broker takes, or what an IPC message can
    /// hold), with an error saying so instead of a reply the broker would drop with its
    /// connection.
    ///
    /// The message is read where it lies and checked as decoding checks it (the same errors),
    /// and so is the query (``MServeQuery/QueryParser/check(queryIn:range:routing:decodingArgumentsUpTo:)``):
    /// secure invocation refuses what it refused when the query was decoded whole.
    ///
    /// The message is taken, not borrowed, so that a large query's bytes are freed (when the
    /// caller keeps no other reference to them) as soon as they are no longer needed:
    /// - for a function on q values, once its arguments are decoded, before it runs;
    /// - for a plugin's function (``register(_:)-(LoadedServantPlugin)``), the arguments of a
    ///   query that came as a parse form over 64 KiB are the message's own bytes (the ABI's
    ///   general list of them is made in place, in front of them), let go when the plugin
    ///   returns; the plugin's result bytes are checked in place and copied into the reply,
    ///   not decoded and encoded again. A query as text, a symbol, or a small parse form has
    ///   its arguments encoded for the plugin from their values, as before.
    ///
    /// A servant then holds at most two copies of a large argument at once: the message and
    /// the plugin's result, or the result and the reply.
    public func reply(
        to message: consuming [UInt8], maximumSize: Int = .max, maximumReplySize: Int = .max, logger: Logger? = nil
    ) -> [UInt8] {
        var layout: ClientQueryLayout
        do {
            layout = try ClientQueryLayout(reading: message.span, maximumSize: maximumSize)
        } catch {
            if let logger, let heldBack = malformedQueryLog.withLock({ $0.admit() }) {
                logger.notice("\(LogThrottle.line("refused a malformed query: \(error.message)", heldBack: heldBack))")
            }
            return ReplyAssembly.servantFailure(id: .identity, message: ReplyAssembly.mserveError(error.message))
        }
        // The plain little-endian message the layout's ranges index, held once.
        let plain: [UInt8]
        if let rewritten = layout.rewritten.take() {
            _ = consume message
            plain = rewritten
        } else {
            plain = message
        }
        let limit = min(maximumReplySize, Self.largestMessage)
        let answer: Answer
        do {
            answer = try self.answer(id: layout.id, plain: consume plain, query: layout.query, limit: limit)
        } catch {
            // A refusal or a failure is held to the limit too: its text may name a function
            // as long as the query.
            let failure = ReplyAssembly.servantFailure(id: layout.id, message: error.message)
            guard failure.count <= limit else {
                return tooLarge(id: layout.id, bytes: failure.count, limit: limit, logger: logger)
            }
            return failure
        }
        switch answer {
        case .reply(let reply) where reply.count <= limit:
            return reply
        case .reply(let reply):
            return tooLarge(id: layout.id, bytes: reply.count, limit: limit, logger: logger)
        case .tooLarge(let bytes):
            return tooLarge(id: layout.id, bytes: bytes, limit: limit, logger: logger)
        }
    }

    /// The largest IPC message: its header holds the length in 32 bits.
    static let largestMessage = Int(UInt32.max)

    /// A reply, or the size of one over the limit, never made.
    private enum Answer {
        case reply([UInt8])
        case tooLarge(Int)
    }

    private func tooLarge(id: QValue, bytes: Int, limit: Int, logger: Logger?) -> [UInt8] {
        logger?.warning("refused to send a reply of \(bytes) bytes, over the \(limit)-byte limit")
        return ReplyAssembly.resultTooLarge(id: id, bytes: bytes, limit: limit)
    }

    /// Checks the query in `plain` (the whole message, plain and little-endian) at `query`,
    /// runs it, and makes the reply to `id`.
    private func answer(id: QValue, plain: consuming [UInt8], query: Range<Int>, limit: Int) throws(ServantError) -> Answer {
        let checked: CheckedQuery
        do {
            checked = try QueryParser.check(queryIn: plain.span, range: query, routing: nil)
            if let parsed = checked.parsed {
                try SecureInvocation.validate(parsed, allowlist: appliedAllowlist)
            } else {
                // Checked in place as SecureInvocation checks a parse form; the allowlist is left.
                try appliedAllowlist.check(function: checked.function)
            }
        } catch {
            throw ServantError("\(error)")
        }
        let entry = try entry(checked.function)
        let arguments = checked.argumentRanges
        try checkArity(of: entry, function: checked.function, count: checked.parsed?.arguments.count ?? arguments.count)
        if let plugin = entry.plugin {
            return try answer(id: id, calling: plugin, checked: checked, plain: plain, limit: limit)
        }
        let values: [QValue]
        if let parsed = checked.parsed {
            values = parsed.arguments
        } else {
            var decoded: [QValue] = []
            decoded.reserveCapacity(arguments.count)
            for range in arguments {
                do {
                    decoded.append(try QIPCInPlace.decodeValue(in: plain, range: range, depth: 2))
                } catch {
                    throw ServantError(ReplyAssembly.mserveError("malformed message: \(error)"))
                }
            }
            values = decoded
        }
        // Decoded: the message's bytes go before the function runs.
        _ = consume plain
        let outcome = try run(entry, function: checked.function, arguments: values)
        return .reply(ReplyAssembly.servantResult(id: id, result: outcome.result, info: outcome.info))
    }

    /// Calls a plugin's function: on the query's own argument bytes when the query was a
    /// parse form checked in place (the general list's head is written over the bytes in
    /// front of the first argument, which the reply no longer needs), else on the arguments
    /// encoded from their values. The result's bytes go into the reply as they are.
    private func answer(
        id: QValue, calling function: PluginFunction, checked: CheckedQuery, plain: consuming [UInt8], limit: Int
    ) throws(ServantError) -> Answer {
        var arguments = plain
        let range: Range<Int>
        let listHead = 14  // header 8, then the list's type, attribute and count
        if let first = checked.argumentRanges.first, let last = checked.argumentRanges.last,
            first.lowerBound >= listHead
        {
            range = (first.lowerBound - listHead)..<last.upperBound
            var head = QIPC.listMessageHead(count: checked.argumentRanges.count)
            QIPC.patchLength(&head, to: range.count)
            for (offset, byte) in head.enumerated() { arguments[range.lowerBound + offset] = byte }
        } else {
            arguments = QIPC.encode(.list(checked.parsed?.arguments ?? []))
            range = 0..<arguments.count
        }
        return try function.plugin.call(
            functionAt: function.index, arguments: consume arguments, range: range, errorTextLimit: limit
        ) {
            (result: Span<UInt8>, info: QValue?) throws(ServantError) -> Answer in
            let (head, tail) = ReplyAssembly.servantResultParts(id: id, resultCount: result.count, info: info)
            let total = head.count + result.count + tail.count
            guard total <= limit else { return .tooLarge(total) }
            var reply = head
            reply.reserveCapacity(total)
            QIPCInPlace.append(result, to: &reply)
            reply.append(contentsOf: tail)
            return .reply(reply)
        }
    }
}

/// Malformed queries are logged at most once a second, whichever registry or worker thread
/// meets them: a peer in session can send them at any rate.
private let malformedQueryLog = Mutex(LogThrottle())
