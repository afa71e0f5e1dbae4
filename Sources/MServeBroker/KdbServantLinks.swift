import Logging
import MServeProtocol
import MServeQuery
import POSIXSockets
import QData
import ZeroMQ

/// What the broker's kdb+ servant connections reported in one turn of its loop.
enum KdbServantEvent {
    /// The servant's connection finished its handshake: it may take queries.
    case ready(servantID: UInt64)
    /// The servant's connection closed, failed or timed out.
    case lost(servantID: UInt64, reason: String)
    /// The servant answered `(tag; result)` or `(tag; result; info)`, as a general list.
    case reply(servantID: UInt64, tag: UInt64, message: [UInt8])
}

/// The broker's links to q servants, kdb+ processes listed as `kdb://host:port`.
///
/// Each servant is one non-blocking TCP connection in the broker's own poll set (like
/// the kdb+ door's clients): connect, the kdb+ handshake (`user:password`, capability 3, NUL;
/// one byte back), then async messages. A query goes out as the async `(tag; query)` — the
/// client's id replaced by the broker's tag, a long, so that replies match exactly — and the
/// servant answers with the async `(tag; result)` or `(tag; result; info)`, as a q
/// `servant.q` does with `neg[.z.w](id; result)`. Liveness is the connection itself: a
/// closed or reset connection loses the servant, and it is reconnected every second.
final class KdbServantLinks {
    private enum Phase {
        /// Not connected; the next attempt is due at `retryAt`.
        case waiting(retryAt: UInt64)
        /// Waiting since `since` for the host name's address (``HostResolver``).
        case resolving(since: UInt64)
        /// A connect or handshake under way since `since`.
        case connecting(since: UInt64)
        case handshaking(since: UInt64)
        /// Logged in: queries may be sent.
        case ready
    }

    private struct Link {
        var endpoint: String
        var host: String
        var port: Int
        var phase: Phase = .waiting(retryAt: 0)
        var stream: KdbStream?
        /// Failed attempts in a row, so a servant that is down is logged once, not every second.
        var failures = 0
        /// Tags sent and not yet answered on this connection.
        var pendingTags: Set<UInt64> = []
        /// Whether the handshake carries the broker's credentials (``init(credentials:maxMessageSize:logger:resolver:)``):
        /// a servant the broker was given, or one listed by a hub it trusts with them.
        var sendsCredentials: Bool

        /// What a broker line about this servant says of it: the name and endpoint its
        /// ``ServantRecord`` has (``ServantRecord/logMetadata(name:endpoint:_:)``).
        func logMetadata(_ more: Logger.Metadata) -> Logger.Metadata {
            let (host, port) = BrokerLoop.hostAndPort(endpoint)
            return ServantRecord.logMetadata(name: "\(host):\(port)", endpoint: endpoint, more)
        }
    }

    private let credentials: String
    private let maxMessageSize: Int
    private let logger: Logger
    private var links: [UInt64: Link] = [:]
    /// Looks host names up off the event loop.
    private let resolver: HostResolver
    /// Servants registered in the last ``register(in:)``, with their poll indexes.
    private var registered: [(servantID: UInt64, index: Int)] = []

    /// Time between connection attempts to a servant that is down.
    static let reconnectInterval: UInt64 = 1_000_000_000
    /// Time a connect and handshake may take before the attempt is abandoned.
    static let connectTimeout: UInt64 = 5_000_000_000
    /// Bytes of queries buffered for a servant that does not read.
    static let maxBufferedOutput = 256 << 20

    /// Links that log in with `credentials` (`user:password`, or empty) and accept messages
    /// of at most `maxMessageSize` bytes from servants.
    init(credentials: String, maxMessageSize: Int, logger: Logger, resolver: HostResolver = HostResolver()) {
        self.resolver = resolver
        self.credentials = credentials
        self.maxMessageSize = maxMessageSize
        self.logger = logger
    }

    /// Whether `endpoint` names a q servant (`kdb://host:port`).
    static func isKdbEndpoint(_ endpoint: String) -> Bool {
        endpoint.lowercased().hasPrefix("kdb://")
    }

    /// The host and port of `kdb://host:port`.
    static func hostAndPort(of endpoint: String) throws(BrokerError) -> (host: String, port: Int) {
        guard let (found, port) = ServantEndpoint.hostAndPort(of: endpoint) else {
            throw BrokerError(.configuration, "a q servant endpoint is kdb://host:port, not \(endpoint)")
        }
        var host = found
        if host == "*" || host == "localhost" { host = "127.0.0.1" }
        return (host, port)
    }

    /// Whether the servant `servantID` is a q servant.
    func owns(_ servantID: UInt64) -> Bool { links[servantID] != nil }

    /// Starts connecting to the q servant at `endpoint` under `servantID`, logging in with the
    /// broker's credentials when `sendsCredentials`, else with none (an empty user).
    func add(servantID: UInt64, endpoint: String, sendsCredentials: Bool = true) throws(BrokerError) {
        let (host, port) = try Self.hostAndPort(of: endpoint)
        links[servantID] = Link(endpoint: endpoint, host: host, port: port, sendsCredentials: sendsCredentials)
    }

    /// Closes and forgets the servant's connection.
    func remove(servantID: UInt64) {
        guard var link = links.removeValue(forKey: servantID) else { return }
        link.stream?.close()
    }

    /// Closes every connection.
    func close() {
        for id in Array(links.keys) { remove(servantID: id) }
    }

    /// Sends the query `clientMessage` (the client's `(id; query)`) to a ready servant as the
    /// async `(tag; query)`. False when the servant is not ready or its connection has failed.
    func send(query clientMessage: [UInt8], tag: UInt64, to servantID: UInt64) -> Bool {
        guard var link = links[servantID], case .ready = link.phase, var stream = link.stream,
            let message = try? Self.servantMessage(tag: tag, clientMessage: clientMessage)
        else { return false }
        let sent = stream.enqueue(message)
        link.stream = stream
        link.pendingTags.insert(tag)
        links[servantID] = link
        // The caller takes the servant out of dispatch; the link reconnects.
        if !sent { fail(servantID, now: QueryClock.monotonicNanoseconds(), reason: "the connection was reset") }
        return sent
    }

    /// Adds every open connection to the poll set.
    func register(in poller: inout ZMQPoller) {
        registered.removeAll(keepingCapacity: true)
        for (id, link) in links {
            guard let stream = link.stream else { continue }
            let events: ZMQPollEvents
            switch link.phase {
            case .connecting: events = .writable
            default: events = stream.wantsWrite ? [.readable, .writable] : .readable
            }
            registered.append((id, poller.add(fileDescriptor: stream.descriptor, events: events)))
        }
    }

    /// Connects, logs in, reads and writes what the last poll found ready, and starts the
    /// connection attempts that are due. Returns what happened, in order.
    func service(_ poller: ZMQPoller, now: UInt64) -> [KdbServantEvent] {
        var events: [KdbServantEvent] = []
        for (id, index) in registered {
            let returned = poller.returnedEvents(at: index)
            if returned.isEmpty { continue }
            service(id, returned, now: now, events: &events)
        }
        registered.removeAll(keepingCapacity: true)
        for (id, link) in links {
            switch link.phase {
            case .waiting(let retryAt) where now >= retryAt:
                connect(id, now: now)
            case .resolving(let since):
                if now &- since > Self.connectTimeout {
                    fail(
                        id, now: now,
                        reason: "no address for \(link.host) within \(Self.connectTimeout / 1_000_000_000) s")
                } else {
                    connect(id, now: now)
                }
            case .connecting(let since), .handshaking(let since):
                if now &- since > Self.connectTimeout {
                    fail(id, now: now, reason: "no connection within \(Self.connectTimeout / 1_000_000_000) s")
                }
            default:
                break
            }
        }
        return events
    }

    /// The servants with queries sent and not answered, and those queries' tags.
    var pendingTags: [(servantID: UInt64, tags: Set<UInt64>)] {
        links.compactMap { $0.value.pendingTags.isEmpty ? nil : ($0.key, $0.value.pendingTags) }
    }

    /// Drops the servant's connection and reconnects at once: for a servant that did not
    /// answer a query in time, which q does when its handler fails.
    func reset(servantID: UInt64, reason: String) {
        let now = QueryClock.monotonicNanoseconds()
        fail(servantID, now: now, reason: reason)
        links[servantID]?.phase = .waiting(retryAt: now)
    }

    // MARK: connections

    /// Starts connecting once the host's address is known; until then the link is resolving.
    private func connect(_ id: UInt64, now: UInt64) {
        guard var link = links[id] else { return }
        let address: UInt32
        switch resolver.address(of: link.host) {
        case nil:
            if case .resolving = link.phase { return }
            link.phase = .resolving(since: now)
            links[id] = link
            return
        case .failed(let reason)?:
            fail(id, now: now, reason: "cannot resolve kdb+ servant host \(link.host): \(reason)")
            return
        case .address(let found)?:
            address = found
        }
        do {
            let descriptor = try TCPSocket.connect(address: address, port: link.port)
            link.stream = KdbStream(
                descriptor: descriptor, maxMessageSize: maxMessageSize, maxBufferedOutput: Self.maxBufferedOutput)
            link.phase = .connecting(since: now)
            links[id] = link
        } catch {
            links[id] = link
            fail(id, now: now, reason: error.message)
        }
    }

    private func service(_ id: UInt64, _ returned: ZMQPollEvents, now: UInt64, events: inout [KdbServantEvent]) {
        guard var link = links[id], var stream = link.stream else { return }
        switch link.phase {
        case .connecting(let since):
            guard TCPSocket.connectSucceeded(stream.descriptor) else {
                fail(id, now: now, reason: "connection refused")
                return
            }
            guard stream.enqueue(Array((link.sendsCredentials ? credentials : "").utf8) + [3, 0]) else {
                link.stream = stream
                links[id] = link
                fail(id, now: now, reason: "the connection failed during the handshake")
                return
            }
            link.phase = .handshaking(since: since)
            link.stream = stream
            links[id] = link
        case .handshaking:
            if returned.contains(.writable) && !stream.flush() {
                link.stream = stream
                links[id] = link
                fail(id, now: now, reason: "the connection failed during the handshake")
                return
            }
            let open = stream.readAvailable()
            guard let capability = stream.pendingInput.first else {
                link.stream = stream
                links[id] = link
                if !open {
                    let reason =
                        link.sendsCredentials || credentials.isEmpty
                        ? "the servant refused the login (wrong --servant-auth?)"
                        : "the servant refused a login without credentials: --servant-auth goes only to the q servants given with --servant, unless --servant-auth-hub is given"
                    fail(id, now: now, reason: reason)
                }
                return
            }
            stream.consumeInput(1)
            link.stream = stream
            link.phase = .ready
            logger.info(
                "q servant connected", metadata: link.logMetadata(["capability": "\(capability)"]))
            link.failures = 0
            links[id] = link
            events.append(.ready(servantID: id))
            readMessages(id, events: &events, now: now)
            if !open { fail(id, now: now, reason: "the connection closed", events: &events) }
        case .ready:
            if returned.contains(.writable) || returned.contains(.error) {
                if !stream.flush() {
                    link.stream = stream
                    links[id] = link
                    fail(id, now: now, reason: "the connection was reset", events: &events)
                    return
                }
                link.stream = stream
                links[id] = link
            }
            if returned.contains(.readable) || returned.contains(.error) {
                let open = stream.readAvailable()
                link.stream = stream
                links[id] = link
                readMessages(id, events: &events, now: now)
                if !open { fail(id, now: now, reason: "the connection closed", events: &events) }
            }
        case .waiting, .resolving:
            break
        }
    }

    /// Takes every whole message from the servant's input.
    private func readMessages(_ id: UInt64, events: inout [KdbServantEvent], now: UInt64) {
        guard var link = links[id], var stream = link.stream else { return }
        var failure: String?
        while true {
            let message: [UInt8]
            do {
                guard let next = try stream.nextMessage() else { break }
                message = next
            } catch {
                switch error {
                case .tooLarge(let length):
                    failure = "a message of \(length) bytes exceeds the limit of \(maxMessageSize)"
                    // The servant did answer: its queries fail with the size, as a ZeroMQ
                    // servant's own over-limit result does, rather than run again elsewhere.
                    // The connection cannot skip the bytes, so it closes below.
                    answerTooLarge(link.pendingTags, bytes: length, events: &events, servantID: id)
                    link.pendingTags = []
                case .badHeader(let text):
                    failure = text
                }
                break
            }
            if message[1] == QMessageType.sync.rawValue {
                // The servant asked the broker something: answer, so that it does not wait.
                _ = stream.enqueue(
                    ReplyAssembly.errorResponse(ReplyAssembly.mserveError("a broker answers no queries from its servants")))
                continue
            }
            if let size = QIPC.decompressedSize(of: message), size > maxMessageSize {
                // Whole, but over the limit once decompressed (q compresses what it sends to
                // other hosts): answered as too large, not dropped to wait for the deadline.
                answerTooLarge(link.pendingTags, bytes: size, events: &events, servantID: id)
                link.pendingTags = []
                continue
            }
            do {
                let (tag, reply) = try Self.reply(from: message, maximumSize: maxMessageSize)
                link.pendingTags.remove(tag)
                events.append(.reply(servantID: id, tag: tag, message: reply))
            } catch {
                logger.warning(
                    "dropped a message from a q servant that is not (tag; result)",
                    metadata: link.logMetadata(["error": "\(error.message)"]))
            }
        }
        link.stream = stream
        links[id] = link
        if let failure { fail(id, now: now, reason: failure, events: &events) }
    }

    /// Answers the queries `tags` at servant `servantID` with the error a servant gives a result
    /// over the limit (``ReplyAssembly/servantFailure(id:message:)``, counted as its answer).
    private func answerTooLarge(_ tags: Set<UInt64>, bytes: Int, events: inout [KdbServantEvent], servantID: UInt64) {
        for tag in tags {
            let message = ReplyAssembly.resultTooLarge(id: .atom(.long(Int64(bitPattern: tag))), bytes: bytes, limit: maxMessageSize)
            events.append(.reply(servantID: servantID, tag: tag, message: message))
        }
    }

    private func fail(_ id: UInt64, now: UInt64, reason: String) {
        var ignored: [KdbServantEvent] = []
        fail(id, now: now, reason: reason, events: &ignored)
    }

    /// Closes the connection and schedules the next attempt; a servant that was ready is lost.
    private func fail(_ id: UInt64, now: UInt64, reason: String, events: inout [KdbServantEvent]) {
        guard var link = links[id] else { return }
        let wasReady: Bool
        if case .ready = link.phase { wasReady = true } else { wasReady = false }
        link.stream?.close()
        link.stream = nil
        link.pendingTags = []
        link.phase = .waiting(retryAt: now + Self.reconnectInterval)
        if link.failures == 0 && !wasReady {
            logger.notice(
                "cannot reach q servant; retrying every second",
                metadata: link.logMetadata(["reason": "\(reason)"]))
        }
        link.failures += wasReady ? 0 : 1
        links[id] = link
        // Always reported: a servant still connecting is marked lost too, which is harmless.
        events.append(.lost(servantID: id, reason: reason))
    }

    // MARK: messages

    /// The async `(tag; query)` for a q servant, from the client's `(id; query)`. The query
    /// goes as the broker parsed and checked it, a parse tree whose arguments are quoted
    /// (``ParsedQuery/qParseTree``): q's `value` then calls the function on those literals and
    /// evaluates nothing else, whatever q's own parser would make of the text, and a symbol in
    /// a client's parse form stays a symbol instead of naming a variable.
    static func servantMessage(tag: UInt64, clientMessage: [UInt8]) throws(ProtocolError) -> [UInt8] {
        let query = try ClientQuery(bytes: clientMessage).query
        let parsed: ParsedQuery
        do {
            parsed = try QueryParser.parse(query)
        } catch {
            throw ProtocolError(.malformed, "the query cannot be parsed: \(error.message)")
        }
        return QIPC.encode(.list([.atom(.long(Int64(bitPattern: tag))), parsed.qParseTree]), messageType: .async)
    }

    /// Reads a servant's `(tag; result)` or `(tag; result; info)`: its tag, and the message as
    /// a general list. q sends `(tag; result)` as a long vector when the result is a long
    /// atom; that one is rebuilt as a general list. A compressed reply is held to
    /// `maximumSize` once decompressed, as a plain one is.
    static func reply(from message: [UInt8], maximumSize: Int) throws(ProtocolError) -> (tag: UInt64, message: [UInt8]) {
        let plain: [UInt8]
        do {
            let header = try QIPC.decodeHeader(message)
            plain = header.compressed ? try QIPC.decompress(message, maximumSize: maximumSize) : message
        } catch {
            throw ProtocolError(.malformed, "malformed message: \(error)")
        }
        guard plain.count > 8 else { throw ProtocolError(.malformed, "an empty message") }
        if plain[8] != 0 {
            // Not a general list: only a pair of longs, `tag result`, is a reply.
            guard let decoded = try? QIPC.decode(plain), case .vector(.long(let pair), _) = decoded.value,
                pair.count == 2
            else {
                throw ProtocolError(
                    .unexpectedShape, "expected (tag; result), got a value of type \(Int8(bitPattern: plain[8]))")
            }
            return (
                UInt64(bitPattern: pair[0]),
                QIPC.encode(.list([.atom(.long(pair[0])), .atom(.long(pair[1]))]), messageType: .async)
            )
        }
        let sliced = try SlicedReply(bytes: plain)
        guard let tagValue = try? ReplyAssembly.decodePayload(sliced.bytes[sliced.id]) else {
            throw ProtocolError(.malformed, "the tag cannot be decoded")
        }
        switch tagValue {
        case .atom(.long(let tag)): return (UInt64(bitPattern: tag), sliced.bytes)
        case .atom(.int(let tag)) where tag >= 0: return (UInt64(tag), sliced.bytes)
        default: throw ProtocolError(.unexpectedShape, "the first item is not the long tag the broker sent")
        }
    }
}
