import Logging
import MServeProtocol
import POSIXSockets
import QData
import ZeroMQ

/// The client's I/O loop: owns the DEALER socket. Made and run on the client's thread.
final class ClientLoop {
    private let resources: ZMQContextScope
    private let socket: ZMQSocket
    private let events: ZMQEventLoop<ClientControl>
    private let logger: Logger
    /// The queries sent and not answered: when the client gives up on each, how long that is
    /// from its send, and who waits.
    private var pending: [Int64: PendingQuery] = [:]
    /// Queries the socket could not take yet (no connection to queue them on), oldest first;
    /// each is also in `pending`, so its deadline still applies.
    private var unsent: [(id: Int64, bytes: [UInt8])] = []

    /// A query sent and not answered: when the client gives up on it, how long that is from
    /// its send, who waits, and the connection the socket took it on (nil while it waits in
    /// `unsent`).
    private struct PendingQuery {
        var deadline: UInt64
        var waitDescription: String
        var continuation: CheckedContinuation<QueryReply, any Error>
        var sentOnConnection: UInt64? = nil
    }

    /// Connections to the broker that came up (a completed handshake) so far: the one a query
    /// went out on tells, at its deadline, whether that connection ended since.
    private var connectionsUp: UInt64 = 0
    /// With a `connectTimeout`: the broker's endpoint (for the error), the timeout, and the
    /// monitor that tells when the connection comes up (a completed handshake) and goes down.
    private let endpoint: String
    private let connectTimeoutNanoseconds: UInt64?
    private let monitor: ZMQMonitor?
    private var connected = false
    /// Queries the socket took while this loop had not yet seen the connection come up.
    private var sentWhileUnconnected: Set<Int64> = []
    private var unconnectedSince = QueryClock.monotonicNanoseconds()
    /// When the connection to the broker ended, while libzmq has not been seen connecting
    /// again since: after a protocol error (a reply over `maxMessageSize`) it never does.
    private var endedAt: UInt64?
    /// The endpoint was disconnected to be connected again at the next turn.
    private var reconnectDue = false
    /// Why the last security handshake failed, for the error; nil when none did.
    private var handshakeFailure: String?
    /// With a `connectTimeout` and a host name in the endpoint: its lookup, so that a name that
    /// does not resolve is told apart from a broker that is down.
    private let hostLookup: HostLookup?
    /// Whether this client speaks CURVE: a failed handshake then most likely means other keys.
    private let usesCurve: Bool

    init(endpoint: String, configuration: ClientConfiguration, logger: Logger, mailbox: ZMQMailbox<ClientControl>) throws {
        self.events = ZMQEventLoop(mailbox: mailbox)
        self.logger = logger
        self.endpoint = endpoint
        usesCurve = configuration.curve != nil
        connectTimeoutNanoseconds = configuration.connectTimeout?.nanoseconds
        hostLookup = configuration.connectTimeout == nil ? nil : HostLookup.start(for: endpoint)
        let resources = try ZMQContextScope()
        let opened = try resources.setUp {
            let socket: ZMQSocket
            do {
                socket = try resources.socket(.dealer)
            } catch {
                throw ClientError(.socket, "cannot make a socket: \(error)")
            }
            var monitor: ZMQMonitor? = nil
            do throws(ZMQError) {
                try socket.setLinger(milliseconds: 0)
                try socket.setMaxMessageSize(configuration.maxMessageSize)
                try socket.setSendHighWaterMark(0)
                try socket.setReceiveHighWaterMark(0)
                try socket.setReconnectInterval(milliseconds: 100, max: 1_000)
                if let curve = configuration.curve { try socket.setCurveClient(curve) }
                // Queries go to the socket only over a completed connection: until then they wait
                // in `unsent`, so one that failed meanwhile (its deadline, the connect timeout) is
                // never sent later, to run for nobody.
                try socket.setImmediate(true)
                // Before the connect, so that its first handshake is seen.
                let monitorEndpoint = "inproc://mserve-client-monitor"
                try socket.startMonitor(
                    endpoint: monitorEndpoint,
                    events: [
                        .handshakeSucceeded, .disconnected, .handshakeFailedAuth, .handshakeFailedProtocol,
                        .handshakeFailedNoDetail, .connected, .connectRetried,
                    ])
                monitor = try resources.monitor(endpoint: monitorEndpoint)
                try socket.connect(endpoint)
            } catch {
                throw ClientError(.socket, "cannot connect to \(endpoint): \(error.reason)")
            }
            return (socket: socket, monitor: monitor)
        }
        self.resources = resources
        socket = opened.socket
        monitor = opened.monitor
    }

    func run() {
        let socketItem = events.add(socket)
        let monitorItem = monitor.map { events.add($0.socket) }
        while events.state == .running {
            // Writable too while queries wait for the socket, so they go the moment it takes them.
            events.setEvents(unsent.isEmpty ? .readable : [.readable, .writable], for: socketItem)
            let commands: [ClientControl]
            do {
                commands = try events.poll(
                    now: QueryClock.monotonicNanoseconds(), atMostMilliseconds: pending.isEmpty ? 1_000 : 50)
            } catch {
                logger.error("client poll failed, the client stops: \(error)")
                break
            }
            for command in commands {
                switch command {
                case .send(let id, let bytes, let deadline, let waitDescription, let continuation):
                    // Never a blocking send: while the socket has no connection to queue
                    // on (a refused CURVE handshake, say) the loop must go on timing out
                    // deadlines, so such a query waits here and is tried every turn.
                    pending[id] = PendingQuery(deadline: deadline, waitDescription: waitDescription, continuation: continuation)
                    unsent.append((id, bytes))
                case .cancel(let id):
                    unsent.removeAll { $0.id == id }
                    pending.removeValue(forKey: id)?.continuation.resume(throwing: CancellationError())
                case .close:
                    events.stop()
                }
            }
            if let monitorItem, events.isReadable(monitorItem) { readMonitor() }
            reconnectIfEndedForGood(now: QueryClock.monotonicNanoseconds())
            sendUnsent()
            if events.isReadable(socketItem) { readReplies() }
            let now = QueryClock.monotonicNanoseconds()
            for (id, entry) in pending where entry.deadline <= now {
                pending[id] = nil
                unsent.removeAll { $0.id == id }
                entry.continuation.resume(
                    throwing: ClientError(.deadlineExceeded, "no reply within \(entry.waitDescription); \(noReplyReason(entry))"))
            }
            if let limit = connectTimeoutNanoseconds, !connected, !pending.isEmpty, now >= unconnectedSince + limit {
                let reason = handshakeFailure ?? hostLookup?.failure ?? "is it running?"
                let unconnected = "no connection to the broker at \(endpoint) for \(Duration.nanoseconds(Int64(limit)))"
                // Not the queries the socket took meanwhile: it takes one only over a completed
                // connection (ZMQ_IMMEDIATE) whose event this loop has not read yet, so they
                // are on their way to the broker and will be answered.
                failPending(except: sentWhileUnconnected) { entry in
                    // A query that went out before the connection ended may have run: the
                    // caller must know before sending it again.
                    ClientError(
                        .notConnected,
                        entry.sentOnConnection == nil
                            ? "\(unconnected); \(reason)"
                            : "\(unconnected) since the connection the query went out on ended; the query may have run (the broker stopped or was killed before it answered)")
                }
            }
        }
        events.stop()
        failPending(ClientError(.closed, "the client was closed before the reply came"))
        // Commands that raced with close; any send after this is refused at once.
        for command in events.mailbox.closeIntake() {
            if case .send(_, _, _, _, let continuation) = command {
                continuation.resume(throwing: ClientError(.closed, "the client is closed"))
            }
        }
        events.mailbox.close()
        resources.close()
    }

    /// What the client knows of why no reply came to a query in time: the connection it went
    /// out on is still up (the broker took it, and it may still be running), or it ended after
    /// the query went (libzmq ends a connection over a message past the broker's
    /// `--max-message`, without a reply), or the query never went out.
    private func noReplyReason(_ entry: PendingQuery) -> String {
        guard let connection = entry.sentOnConnection else { return "is the broker running, with a servant free?" }
        if connected && connection == connectionsUp {
            return "the connection to the broker stayed up, so the broker took the query, but no reply came in time: "
                + "the query may still be running (the broker's own --deadline is 60 s unless set otherwise); "
                + "give a longer deadline (mserve send --deadline SECONDS, a deadline to send) to wait for it"
        }
        return "the connection to the broker ended after the query was sent, and no reply came: a query over the "
            + "broker's --max-message ends the connection unanswered (or the broker stopped; the query may have run)"
    }

    /// Fails every query waiting for an answer with `error`, but those in `kept`.
    private func failPending(_ error: ClientError, except kept: Set<Int64> = []) {
        failPending(except: kept) { _ in error }
    }

    /// Fails every query waiting for an answer with the error `error` makes for it, but those
    /// in `kept`; none of the failed ones is sent later.
    private func failPending(except kept: Set<Int64>, _ error: (PendingQuery) -> ClientError) {
        for (id, entry) in pending where !kept.contains(id) {
            pending[id] = nil
            entry.continuation.resume(throwing: error(entry))
        }
        unsent.removeAll { !kept.contains($0.id) }
    }

    /// Follows the connection to the broker from the monitor's events.
    private func readMonitor() {
        while let monitor, let event = try? monitor.next(dontWait: true) {
            if event.event.contains(.handshakeSucceeded) {
                connected = true
                connectionsUp += 1
                sentWhileUnconnected.removeAll()
                handshakeFailure = nil
            } else if event.event.contains(.disconnected), connected {
                connected = false
                unconnectedSince = QueryClock.monotonicNanoseconds()
                endedAt = unconnectedSince
            } else if event.event.contains(.connected) || event.event.contains(.connectRetried) {
                endedAt = nil  // libzmq is connecting again by itself
            } else if event.event.contains(.handshakeFailedAuth) {
                handshakeFailure = "it refused this client's key"
            } else if event.event.contains(.handshakeFailedProtocol) || event.event.contains(.handshakeFailedNoDetail) {
                handshakeFailure =
                    usesCurve
                    ? "the security handshake failed (do both sides use the same security, and the broker's public key?)"
                    : "the ZeroMQ handshake failed: the broker uses CURVE keys and this client none, "
                        + "or the endpoint is not a ZeroMQ socket (a kdb+ door's port, say)"
            }
        }
    }

    /// How long after a connection ended without libzmq connecting again the client makes a
    /// new one itself.
    static let endedForGoodAfter: UInt64 = 2_000_000_000

    /// Makes a new connection when libzmq ended the last one for good: after a protocol error
    /// (a reply over this client's `maxMessageSize`) it does not reconnect, and every later
    /// query would fail. The queries sent over the ended connection fail now, with the likely
    /// cause: their replies cannot come. In two steps, as the broker does: the endpoint is
    /// disconnected now and connected at the next turn, once libzmq has let the old one go.
    private func reconnectIfEndedForGood(now: UInt64) {
        if reconnectDue {
            reconnectDue = false
            try? socket.connect(endpoint)
            return
        }
        guard let endedAt, !connected, now &- endedAt >= Self.endedForGoodAfter else { return }
        self.endedAt = nil
        try? socket.disconnect(endpoint)
        reconnectDue = true
        let unsentIDs = Set(unsent.map(\.id))
        let sentIDs = Set(pending.keys).subtracting(unsentIDs)
        failPending(
            ClientError(
                .notConnected,
                "the connection to the broker at \(endpoint) ended and was not made again by libzmq: most likely a reply "
                    + "over this client's maxMessageSize; the query may have run; the client connects again"),
            except: unsentIDs)
        logger.notice(
            "connecting to the broker again: libzmq ended the connection for good (a reply over maxMessageSize, most likely)",
            metadata: ["broker": "\(endpoint)", "failed": "\(sentIDs.count)"])
    }

    /// Sends the queries waiting for the socket, in order, as far as it takes them now.
    private func sendUnsent() {
        var sent = 0
        defer { unsent.removeFirst(sent) }
        for (id, bytes) in unsent {
            do {
                guard try socket.send(bytes, dontWait: true) else { return }
            } catch {
                pending.removeValue(forKey: id)?.continuation.resume(
                    throwing: ClientError(.socket, "send failed: \(error)"))
            }
            if !connected && connectTimeoutNanoseconds != nil { sentWhileUnconnected.insert(id) }
            // On the connection up now; one whose handshake this loop has not read yet counts
            // as the next.
            pending[id]?.sentOnConnection = connected ? connectionsUp : connectionsUp + 1
            sent += 1
        }
    }

    private func readReplies() {
        while true {
            let bytes: [UInt8]
            var frames = 1
            do {
                guard let message = try socket.receive(dontWait: true) else { return }
                bytes = message.bytes
                while try socket.hasMoreFrames {
                    _ = try socket.receive()
                    frames += 1
                }
            } catch {
                logger.error("client receive failed: \(error)")
                return
            }
            let value: QValue
            do {
                guard frames == 1 else { throw QIPCError(.unexpectedShape, "a message of \(frames) frames") }
                value = try QIPC.decode(bytes).value
            } catch {
                // A broker sends nothing else: the endpoint is something other than a broker's
                // client socket (a hub's, a servant's), which will answer no query. The queries
                // waiting fail with the reason; logged only when none waits to be told.
                if pending.isEmpty { logger.warning("dropped a malformed reply: \(error)") }
                failPending(
                    ClientError(
                        .malformedReply,
                        "the peer at \(endpoint) answered with something other than a kdb+ IPC reply (\(error)); "
                            + "is it a broker's client endpoint?"))
                continue
            }
            guard case .list(let items, _) = value, items.count >= 2 else {
                logger.warning("dropped a reply that is not (id; result; info)")
                continue
            }
            let info = items.count > 2 ? items[2] : .identity
            let failure = ReplyAssembly.failure(result: items[1], info: info)
            guard case .atom(.long(let id)) = items[0], let entry = pending.removeValue(forKey: id) else {
                if let failure {
                    logger.warning("the broker refused a message: \(failure)")
                } else {
                    logger.debug("dropped a reply for an unknown id")
                }
                continue
            }
            if let failure {
                entry.continuation.resume(throwing: ClientError(.queryFailed, failure, info: info))
            } else {
                entry.continuation.resume(returning: QueryReply(id: items[0], result: items[1], info: info))
            }
        }
    }
}
