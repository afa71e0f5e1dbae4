// The broker loop's client side: reading `(id; query)` messages, parsing them and deriving
// the routing string, and sending answers and error replies back.

import Logging
import MServePlugin
import MServeProtocol
import MServeQuery
import QData
import ZeroMQ

/// The kinds of line a client's dropped or refused message gives, each let through once a
/// second on its own (``BrokerLoop/clientMessageLog``).
enum ClientMessageLine: Hashable, Sendable {
    case withoutEnvelope
    case envelopeFrames
    case envelopeBytes
    case malformed
    case refusedOptions
}

extension BrokerLoop {
    /// The most client messages one read handles: the loop then turns, reading the servants
    /// and running its timers, so that a burst of clients cannot leave the servants' answers
    /// and heartbeats unread until the servants look dead.
    static let clientMessagesPerRead = 1_024

    /// Reads and handles the waiting client messages, up to `clientMessagesPerRead`; returns
    /// how many there were.
    @discardableResult
    func readClients() -> Int {
        var handled = 0
        while handled < Self.clientMessagesPerRead {
            do {
                guard try clientSocket.receive(into: &clientFrames, dontWait: true) else { break }
            } catch {
                logger.error("receiving from clients failed: \(error)")
                return handled
            }
            handled += 1
            let count = clientFrames.count
            guard count >= 2 else {
                countDroppedOnArrival()
                if let heldBack = clientMessageLog.admit(.withoutEnvelope) {
                    logger.warning("\(LogThrottle.line("dropped a client message without an envelope", heldBack: heldBack))")
                }
                continue
            }
            let envelope = clientFrames.leadingFrames
            if let refusal = ClientEnvelope.refusal(frames: envelope.count, bytes: envelope.bytes) {
                countDroppedOnArrival()
                let kind: ClientMessageLine = envelope.count > ClientEnvelope.maximumFrames ? .envelopeFrames : .envelopeBytes
                if let heldBack = clientMessageLog.admit(kind) {
                    logger.warning("\(LogThrottle.line(refusal, heldBack: heldBack))")
                }
                continue
            }
            if let admission, !admission.admitsClient(userID: clientFrames.metadata("User-Id")) {
                refuseRevokedClient(admission)
                continue
            }
            // A large message stays in its frame, which goes on to the servant as it is.
            let last = count - 1
            handleClient(
                route: .zmq(envelope: clientEnvelope()),
                message: clientFrames.isLarge(last) ? .frame(clientFrames.message(at: last)) : .bytes(clientFrames.copy(of: last)))
        }
        flushOutboxes()
        if handled > 0 { lastClientMessageAt = QueryClock.monotonicNanoseconds() }
        return handled
    }

    /// The frames before the message just received from a client (its routing id, and any
    /// frames the client put in front of the message).
    func clientEnvelope() -> [[UInt8]] {
        let count = clientFrames.count
        if count == 2, let key = clientFrames.withSpan(ofFrame: 0, Self.envelopeKey) {
            if let envelope = envelopes[key] { return envelope }
            // Bounded: ids of clients long gone are forgotten together now and then.
            if envelopes.count >= 4_096 { envelopes.removeAll(keepingCapacity: true) }
            let envelope = [clientFrames.copy(of: 0)]
            envelopes[key] = envelope
            return envelope
        }
        var envelope: [[UInt8]] = []
        envelope.reserveCapacity(count - 1)
        for index in 0..<(count - 1) { envelope.append(clientFrames.copy(of: index)) }
        return envelope
    }

    /// The key of a one-frame envelope in `envelopes`: the routing id's bytes and its length
    /// packed in an integer; nil for an id longer than 7 bytes.
    static func envelopeKey(_ id: Span<UInt8>) -> UInt64? {
        guard id.count <= 7 else { return nil }
        var key = UInt64(id.count) << 56
        for offset in id.indices { key |= UInt64(id[offset]) << (8 * UInt64(offset)) }
        return key
    }

    /// Counts the message just received, which goes no further than the read (no envelope,
    /// too large a one, a revoked key's): every message taken from the client socket is
    /// `received` in the metrics, whether it is answered or dropped.
    private func countDroppedOnArrival() {
        metrics.received(bytes: clientFrames.size(ofFrame: clientFrames.count - 1))
    }

    /// The message just received comes from a client whose key was revoked (BrokerAdmission):
    /// the first one of its connection is answered with an error, the rest are dropped.
    private func refuseRevokedClient(_ admission: BrokerAdmission) {
        countDroppedOnArrival()
        let answer = admission.refuseRevokedClient(
            routingID: clientFrames.copy(of: 0), userID: clientFrames.metadata("User-Id"),
            address: clientFrames.metadata("Peer-Address"))
        guard answer else { return }
        let message = clientFrames.copy(of: clientFrames.count - 1)
        let now = QueryClock.monotonicNanoseconds()
        let held = HeldQuery(
            tag: 0, route: .zmq(envelope: clientEnvelope()), message: .bytes(message), id: .identity, routing: "",
            receivedTimestamp: QueryClock.qTimestampNow(), receivedAt: now, deadline: now)
        if let layout = try? ClientQueryLayout(reading: message.span, maximumSize: maxMessageSize, acceptingOptions: true) {
            held.id = layout.id
        }
        reply(error: BrokerAdmission.revokedClientMessage, to: held, stage: .refused, counting: .refused)
    }

    /// Takes a client's query, of `receivedBytes` on the wire (nil: the message's own size): a
    /// ZeroMQ client's is the message in `clientFrames`.
    func handleClient(route: ReplyRoute, message queryMessage: QueryMessage, receivedBytes: Int? = nil) {
        metrics.received(bytes: receivedBytes ?? queryMessage.count)
        let receivedAt = QueryClock.monotonicNanoseconds()
        let receivedTimestamp = QueryClock.qTimestampNow()
        let held = heldQueries.make(
            tag: 0, route: route, message: queryMessage, id: .identity, routing: "",
            receivedTimestamp: receivedTimestamp, receivedAt: receivedAt,
            deadline: receivedAt + deadlineNanoseconds)

        let layout: ClientQueryLayout
        do {
            // Read in place: the frame is neither copied nor decoded, but for the id and options.
            layout = try queryMessage.withSpan { (bytes) throws(ProtocolError) in
                try ClientQueryLayout(reading: bytes, maximumSize: maxMessageSize, acceptingOptions: true)
            }
        } catch {
            if let heldBack = clientMessageLog.admit(.malformed) {
                logger.notice(
                    "\(LogThrottle.line("refused a malformed client message: \(error.message)", heldBack: heldBack))",
                    metadata: clientIdentity(route, justReceived: true))
            }
            // The id, when it reads as one, so that a client with many queries in flight knows
            // which one was refused.
            if let id = queryMessage.withSpan({ ClientQueryLayout.readableID(in: $0) }) { held.id = id }
            reply(error: error.message, to: held, stage: .refused, counting: .refused)
            return
        }
        held.id = layout.id
        if let options = layout.options {
            guard apply(options, layout: layout, to: held) else { return }
        }
        if stopping {
            reply(error: "the broker is shutting down", to: held, stage: .refused, counting: .refused)
            return
        }
        do {
            if let known = withQueryBytes(queryMessage, layout, { checkedQueries.entry(for: $0, range: layout.query) }) {
                // The very same query passed the checks before: only what may have changed since
                // is asked again.
                guard serviceFunctions.mayServe(known.function) else {
                    throw BrokerError(.unservedFunction, serviceFunctions.unservedMessage(known.function))
                }
                held.function = known.function
                held.routing = known.routing
                dispatchOrQueue(held)
                return
            }
            let checked = try withQueryBytes(queryMessage, layout) { (bytes) throws(QueryError) in
                try QueryParser.check(queryIn: bytes, range: layout.query, routing: configuration.dispatch.routing)
            }
            if BrokerFunctions.isBrokerFunction(checked.function) {
                let parsed = try checked.parsed ?? QueryParser.parse(
                    withQueryBytes(queryMessage, layout) { (bytes) throws(QIPCError) in
                        try QIPCInPlace.decodeValue(in: bytes, range: layout.query)
                    })
                let result = try BrokerFunctions.call(parsed.function, arguments: parsed.arguments, snapshot: snapshot())
                metrics.ended(.answered)
                reply(result, to: held, stage: .running(since: held.receivedAt))
                return
            }
            if let parsed = checked.parsed {
                try SecureInvocation.validate(parsed, allowlist: allowlist)
            } else {
                // Checked in place as SecureInvocation checks a parse form; the allowlist is left.
                try allowlist.check(function: checked.function)
            }
            // Refused now rather than sent to a servant that would refuse it.
            guard serviceFunctions.mayServe(checked.function) else {
                throw BrokerError(.unservedFunction, serviceFunctions.unservedMessage(checked.function))
            }
            held.function = checked.function
            held.routing = try routingString(for: checked, in: queryMessage, layout)
            if !routesByHook {
                withQueryBytes(queryMessage, layout) {
                    checkedQueries.keep($0, range: layout.query, function: held.function, routing: held.routing)
                }
            }
        } catch {
            if let heldBack = refusedQueryLog.admit() {
                logger.notice(
                    "\(LogThrottle.line("refused a query: \(error)", heldBack: heldBack))",
                    metadata: clientIdentity(route, justReceived: true))
            }
            reply(error: "\(error)", to: held, stage: .refused, counting: .refused)
            return
        }
        dispatchOrQueue(held)
    }

    /// Whether a plugin's routing hook gives routing strings (`--routing plugin:NAME`).
    var routesByHook: Bool { configuration.dispatch.routing.pluginName != nil && routingHook != nil }

    /// Sends a checked query, just received, to the servant the algorithm chooses, or queues it
    /// (or refuses it when the queue is full).
    private func dispatchOrQueue(_ held: HeldQuery) {
        // Within the look-ahead the queued queries were already offered and made to wait.
        var clock: UInt64?
        let asked = queue.count < configuration.dispatch.lookAhead
        let choice: DispatchChoice = asked ? choose(routing: held.routing, function: held.function, clock: &clock) : .wait
        // The algorithm made it wait while a servant serving it was free.
        held.keptWaitingWhileFree = asked && freeReadyServants > 0 && choice.isWait
        if case .servant(let index) = choice {
            dispatch(held, toReadyIndex: index, now: clock)
        } else if case .invalid = choice {
            failInvalidChoice(of: held)
        } else if queuedCount >= configuration.dispatch.queueCapacity {
            refuseAsQueueFull(held, "\(configuration.dispatch.queueCapacity) queries waiting")
        } else if queuedCount > 0, queuedBytes + held.message.count > configuration.dispatch.queueBytes {
            // By bytes too: a query alone is always taken (it is within --max-message).
            refuseAsQueueFull(
                held,
                "\(queuedBytes) bytes of queries waiting; this one would take them past the \(configuration.dispatch.queueBytes) of --queue-bytes")
        } else {
            queue.append(held)
            if held.hasOwnDeadline { earliestOwnDeadlineQueued = min(earliestOwnDeadlineQueued ?? .max, held.deadline) }
            offerAgainSoonWhileAServantIsFree()
            warnIfQueriesWaitWithoutServants()
        }
    }

    /// Refuses a query, just received, that the queue has no room for, saying `why`; logged
    /// like the other refusals, a line a second at most with a count of the rest.
    private func refuseAsQueueFull(_ held: HeldQuery, _ why: String) {
        if let heldBack = queueFullLog.admit() {
            logger.notice(
                "\(LogThrottle.line("refused a query: queue full (\(why))", heldBack: heldBack))",
                metadata: clientIdentity(held.route, justReceived: true))
        }
        reply(error: "queue full (\(why)); try again later", to: held, stage: .refused, counting: .queueFull)
    }

    /// Says once, until a servant is ready again, that queries wait with no servant ready: a
    /// new one queued, or one sent again after its servant was lost.
    func warnIfQueriesWaitWithoutServants() {
        guard readyIDs.isEmpty, !queue.isEmpty, !loggedWaitingWithoutServants else { return }
        loggedWaitingWithoutServants = true
        logger.warning(
            "queries wait: no servant is ready",
            metadata: ["queued": "\(queue.count)", "servantsKnown": "\(servants.count)"])
    }

    /// Reads the plain message `layout` was read from: `message` in place, or the message
    /// rewritten little-endian and uncompressed.
    func withQueryBytes<Result, Failure: Error>(
        _ message: QueryMessage, _ layout: ClientQueryLayout, _ body: (Span<UInt8>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        if let rewritten = layout.rewritten { return try body(rewritten.span) }
        return try message.withSpan(body)
    }

    /// Applies the per-query options (docs/PROTOCOL.md, "Per-query options") of a query just
    /// received to `held`:
    /// its `deadline`, capped by the broker's own, and the message servants get, `(id; query)`
    /// without the options. False when the options are refused: the client got an error reply.
    func apply(_ options: QValue, layout: ClientQueryLayout, to held: HeldQuery) -> Bool {
        let decoded: QueryOptions
        do {
            decoded = try QueryOptions(decoding: options)
        } catch {
            if let heldBack = clientMessageLog.admit(.refusedOptions) {
                logger.notice(
                    "\(LogThrottle.line("refused a query's options: \(error.message)", heldBack: heldBack))",
                    metadata: clientIdentity(held.route, justReceived: true))
            }
            reply(error: error.message, to: held, stage: .refused, counting: .refused)
            return false
        }
        if let own = decoded.deadlineNanoseconds, UInt64(own) < Self.minimumTimeToAnswer {
            // Too short to be sent at all: said so now, not as a wait in the queue it never made.
            reply(
                error: "deadline exceeded: the query's deadline, \(Self.text(nanoseconds: UInt64(own))), is under the "
                    + "\(Self.text(nanoseconds: Self.minimumTimeToAnswer)) a servant needs at least; the query was not sent",
                to: held, stage: .refused, counting: .deadline)
            return false
        }
        if let own = decoded.deadlineNanoseconds, UInt64(own) < deadlineNanoseconds {
            held.deadline = held.receivedAt &+ UInt64(own)
            held.hasOwnDeadline = true
        }
        // Servants take `(id; query)`: the options are the broker's business. The id's and the
        // query's bytes go as they came, copied once, from the frame when there is one.
        let head = layout.headWithoutOptions
        switch (held.message, layout.rewritten) {
        case (_, let rewritten?):
            held.message = .bytes(head + rewritten[layout.idItem] + rewritten[layout.query])
        case (.frame(let frame), nil):
            held.message = .frame(
                ZMQMessage(joining: [.bytes(head[...]), .body(frame, layout.idItem), .body(frame, layout.query)]))
        case (.bytes(let bytes), nil):
            held.message = .bytes(head + bytes[layout.idItem] + bytes[layout.query])
        }
        return true
    }

    /// The routing string of a checked query: as ``routingString(for:)-(ParsedQuery)`` gives it
    /// for a decoded one; for one checked in place, the one rendered in place, and a routing
    /// plugin gets each argument as a message made from the argument's bytes.
    func routingString(for checked: CheckedQuery, in message: QueryMessage, _ layout: ClientQueryLayout) throws -> String {
        if let parsed = checked.parsed { return try routingString(for: parsed) }
        let defaultRouting = checked.routing?.value ?? checked.function
        guard configuration.dispatch.routing.pluginName != nil, let routingHook else { return defaultRouting }
        let argumentMessages = withQueryBytes(message, layout) { bytes in
            checked.argumentRanges.map { range in
                var argument: [UInt8] = [1, QMessageType.async.rawValue, 0, 0, 0, 0, 0, 0]
                argument += QIPCInPlace.copy(of: bytes, range: range)
                QIPC.patchLength(&argument)
                return argument
            }
        }
        let routed = timedPluginCall(.route, ofRoutingHook: true) {
            routingHook.route(function: checked.function, argumentMessages: argumentMessages, defaultRouting: defaultRouting)
        }
        switch routed {
        case .routing(let text): return RoutingSpec.bounded(text)
        case .refused: throw BrokerError(.plugin, "the routing plugin refused the query")
        case nil: return defaultRouting
        }
    }

    func routingString(for query: ParsedQuery) throws -> String {
        let spec = configuration.dispatch.routing
        if spec.pluginName != nil, let routingHook {
            let defaultRouting = RoutingSpec.default.routingString(for: query).value
            let argumentMessages = query.arguments.map { QIPC.encode($0) }
            let routed = timedPluginCall(.route, ofRoutingHook: true) {
                routingHook.route(function: query.function, argumentMessages: argumentMessages, defaultRouting: defaultRouting)
            }
            switch routed {
            case .routing(let text): return RoutingSpec.bounded(text)
            case .refused: throw BrokerError(.plugin, "the routing plugin refused the query")
            case nil: return defaultRouting
            }
        }
        return spec.routingString(for: query).value
    }

    /// How far a query the broker answers itself got: what its info's `queued` and
    /// `execution` count (docs/PROTOCOL.md).
    enum QueryStage {
        /// Refused before waiting for a servant (malformed, refused, queue full): nothing
        /// queued, nothing executed.
        case refused
        /// Waited for a servant until now and never ran: all of its time is queue.
        case waiting
        /// Running since then (at a servant, or in the broker): the time before counts as
        /// queue, the time after as execution.
        case running(since: UInt64)
    }

    /// Sends `(id; "mserve: message"; info)`, `info` holding the `error` entry, to the query's
    /// client: every error the broker itself raises carries the `mserve: ` prefix
    /// (docs/PROTOCOL.md).
    /// Answers `query` with the error `message`, counted as `outcome`: every query the broker
    /// answers itself with an error is counted in `mserve_broker_queries_total` here.
    func reply(
        error message: String, to query: HeldQuery, servant: String = "", stage: QueryStage,
        counting outcome: BrokerMetrics.Outcome
    ) {
        metrics.ended(outcome)
        sendToClient(
            query.route,
            ReplyAssembly.failure(
                id: query.id, message: ReplyAssembly.mserveError(message), routing: query.routing,
                servant: servant, timings: timings(of: query, stage: stage)))
    }

    /// Sends `(id; result; info)` for a call of one of the broker's own functions.
    func reply(_ result: QValue, to query: HeldQuery, stage: QueryStage) {
        let info = InfoDictionary.make(
            routing: query.routing, servant: "", timings: timings(of: query, stage: stage))
        sendToClient(query.route, ReplyAssembly.result(id: query.id, result: result, info: info))
    }

    /// The timings of a query the broker answers itself, `stage` being how far it got.
    func timings(of query: HeldQuery, stage: QueryStage) -> QueryTimings {
        let now = QueryClock.monotonicNanoseconds()
        let elapsed = Int64(now &- query.receivedAt)
        let (queued, execution): (Int64, Int64)
        switch stage {
        case .refused: (queued, execution) = (0, 0)
        case .waiting: (queued, execution) = (elapsed, 0)
        case .running(let since):
            execution = min(elapsed, Int64(now &- since))
            queued = elapsed - execution
        }
        return QueryTimings(received: query.receivedTimestamp, queued: queued, execution: execution, elapsed: elapsed)
    }

    func sendToClient(_ route: ReplyRoute, _ reply: ClientReply) {
        answered &+= 1
        // The bytes that leave: the kdb+ door writes its own framing (a sync query's bare
        // result); a ZeroMQ client's reply counts once libzmq takes it (sendClientReplies).
        switch route {
        case .zmq(let envelope):
            clientReplies.append(PendingClientReply(envelope: envelope, body: .bytes(reply.bytes)))
        case .kdb(let connection, let form):
            metrics.sent(bytes: kdbDoor?.send(reply, to: connection, form: form) ?? 0)
        }
    }

    /// Sends a reply whose result stays in the servant's frame (``ClientReplyFrame``): one
    /// frame to a ZeroMQ client, joined without an array in between; to the kdb+ door, the
    /// pieces as they lie.
    func sendToClient(_ route: ReplyRoute, _ reply: ClientReplyFrame) {
        answered &+= 1
        switch route {
        case .zmq(let envelope):
            clientReplies.append(
                PendingClientReply(envelope: envelope, body: .frame(reply.frame(reusing: emptyReplyMessages.popLast()))))
        case .kdb(let connection, let form):
            metrics.sent(bytes: kdbDoor?.send(reply.detached, to: connection, form: form) ?? 0)
        }
    }

    /// Sends the replies made since the last call, in the order they were made. A reply to a
    /// client for which libzmq already holds `maxBufferedReplyBytes` (it does not read) is
    /// dropped, as is one to a client holding any while all the clients together hold
    /// `maxBufferedReplyBytesTotal`, and one libzmq cannot queue (its `sendHighWaterMark`
    /// replies are queued).
    func sendClientReplies() {
        guard !clientReplies.isEmpty else { return }
        for index in clientReplies.indices {
            let pending = clientReplies[index]
            let backlog = replyBacklogs.client(for: pending.envelope)
            let message: ZMQMessage
            switch pending.body {
            case .bytes(let bytes): message = ZMQMessage(countableCopyOf: bytes[...])
            case .frame(let frame): message = frame
            }
            let size = message.count
            let held = backlog.held.count
            if held >= maxBufferedReplyBytes || (held > 0 && replyBacklogs.total.count >= maxBufferedReplyBytesTotal) {
                dropReply(of: size, for: pending.envelope, backlog)
            } else {
                sendToZMQClient(pending.envelope, message, backlog)
            }
            // Sent, the message is empty: kept for another reply. One not sent still holds its
            // body, and goes with it.
            if case .frame = pending.body, message.count == 0, emptyReplyMessages.count < Self.emptyReplyMessagesKept {
                emptyReplyMessages.append(message)
            }
        }
        clientReplies.removeAll(keepingCapacity: true)
    }

    /// Sends a ZeroMQ client's `envelope`, then `message`, without waiting, counting the
    /// message's bytes in `backlog` while libzmq holds them: a client whose queue is full (it
    /// is not reading) or that has gone loses the reply, counted and logged.
    private func sendToZMQClient(_ envelope: [[UInt8]], _ message: ZMQMessage, _ backlog: ClientReplyBacklogs.Client) {
        let size = message.count
        do {
            for frame in envelope {
                guard try clientSocket.send(frame, more: true, dontWait: true) else {
                    dropReply(of: size, for: envelope, backlog)
                    return
                }
            }
            if try clientSocket.send(message, dontWait: true, countingIn: backlog.held) {
                metrics.sent(bytes: size)
            } else {
                dropReply(of: size, for: envelope, backlog)
            }
        } catch where error.code == .hostUnreachable {
            metrics.dropped(bytes: size)
            if let heldBack = clientGoneLog.admit() {
                logger.info("\(LogThrottle.line("dropped a reply: the client has gone", heldBack: heldBack))")
            }
        } catch {
            metrics.dropped(bytes: size)
            logger.error("sending a reply failed: \(error)")
        }
    }

    /// How often at most the broker logs the replies it dropped for one client.
    static let replyDropLineInterval: UInt64 = 10_000_000_000

    /// Drops a reply of `size` bytes for a client that does not read: counted, and logged at
    /// most once per ``replyDropLineInterval`` for that client.
    private func dropReply(of size: Int, for envelope: [[UInt8]], _ backlog: ClientReplyBacklogs.Client) {
        metrics.dropped(bytes: size)
        backlog.droppedSinceLine += 1
        backlog.droppedBytesSinceLine += size
        let now = QueryClock.monotonicNanoseconds()
        if now >= backlog.nextLineAt {
            logReplyDrops(of: envelope, backlog, now: now)
        } else {
            hasUnloggedReplyDrops = true
        }
    }

    /// Logs the drops not yet logged of each client whose interval has passed (called by the
    /// timers, so that the last drops of a burst are logged too).
    func logReplyDrops(now: UInt64) {
        var unlogged = false
        replyBacklogs.forEachWithUnloggedDrops { envelope, backlog in
            if now >= backlog.nextLineAt {
                logReplyDrops(of: envelope, backlog, now: now)
            } else {
                unlogged = true
            }
        }
        hasUnloggedReplyDrops = unlogged
    }

    private func logReplyDrops(of envelope: [[UInt8]], _ backlog: ClientReplyBacklogs.Client, now: UInt64) {
        logger.warning(
            "replies dropped for a client that is not reading",
            metadata: [
                "client": "\(Self.clientText(envelope))",
                "dropped": "\(backlog.droppedSinceLine)", "droppedBytes": "\(backlog.droppedBytesSinceLine)",
                "heldBytes": "\(backlog.held.count)", "limitBytes": "\(maxBufferedReplyBytes)",
                "allClientsHeldBytes": "\(replyBacklogs.total.count)", "allClientsLimitBytes": "\(maxBufferedReplyBytesTotal)",
            ])
        backlog.droppedSinceLine = 0
        backlog.droppedBytesSinceLine = 0
        backlog.nextLineAt = now &+ Self.replyDropLineInterval
    }
}

extension BrokerLoop {
    /// A ZeroMQ client's envelope as log lines show it (`client`): each frame in hex, the
    /// routing id first, `/` between frames.
    static func clientText(_ envelope: [[UInt8]]) -> String {
        envelope.map { $0.map { String($0, radix: 16).leftPadded(to: 2) }.joined() }.joined(separator: "/")
    }

    /// Who sent a client message the broker refused, for the line that logs it (looked up only
    /// for a line that is logged, never for a query the broker takes): for a ZeroMQ client
    /// its envelope (`client`, ``clientText(_:)``) and, when `justReceived` (the message is
    /// the one in `clientFrames`), the IP address its connection came from (`address`) and,
    /// with `--keys`, the key it authenticated with (`key`); for a kdb+ client the door's
    /// `peer` (`host:port`) and, once logged in against the door's users, its `user`.
    func clientIdentity(_ route: ReplyRoute, justReceived: Bool) -> Logger.Metadata {
        switch route {
        case .zmq(let envelope):
            var identity: Logger.Metadata = ["client": "\(Self.clientText(envelope))"]
            guard justReceived else { return identity }
            if let address = clientFrames.metadata("Peer-Address") { identity["address"] = "\(address)" }
            if admission != nil, let key = clientFrames.metadata("User-Id") { identity["key"] = "\(key)" }
            return identity
        case .kdb(let connection, _):
            return kdbDoor?.identity(of: connection) ?? [:]
        }
    }
}

extension String {
    /// The string with `0`s in front up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
