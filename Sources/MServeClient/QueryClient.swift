// MServeClient owns the client library: `QueryClient` sends `(id; query)` to a broker
// over ZeroMQ, assigns ids, keeps many queries in flight on one connection, and
// resumes each caller with its `(id; result; info)` — or a clear error, never a hang.

import Foundation
public import Logging
import MServeProtocol
import POSIXSockets
public import QData
import Synchronization
public import ZeroMQ

/// Client settings.
public struct ClientConfiguration: Sendable {
    /// How long a query may take before the client gives up on it with an error.
    /// Keep it above the broker's deadline so the broker's own error reply arrives first.
    public var deadline: Duration = .seconds(65)
    /// Largest reply accepted.
    public var maxMessageSize: Int64 = 1 << 30
    /// Largest query sent, in bytes as encoded: a larger one fails at once with
    /// ``ClientError/Code/queryTooLarge``. Keep it at most the broker's `--max-message` (64 MiB
    /// by default, the default here too): the broker's ZeroMQ socket closes the connection of a
    /// client that sends more, before reading it, and can send that client no reply.
    public var maxQuerySize: Int64 = 64 << 20
    /// With security on: the broker's public key and this client's key pair (the broker admits
    /// only allowed client keys). Nil (the default): no security.
    public var curve: ZMQCurveClientKeys? = nil
    /// How long the client may go without a connection to the broker while queries wait:
    /// past it they fail with ``ClientError/Code/notConnected`` instead of waiting out their
    /// deadline, and so does each query sent while the connection stays down. Nil (the
    /// default): queries wait for the broker as long as their deadline allows, through a
    /// broker restart say. Either way queries wait in the client until there is a connection
    /// (ZeroMQ's `ZMQ_IMMEDIATE`), so a query that failed before one came up was never sent
    /// and never runs later.
    public var connectTimeout: Duration? = nil
    /// Creates the default settings.
    public init() {}
}

/// A query's answer: the `(id; result; info)` the broker sent back.
public struct QueryReply: Sendable {
    /// The id the client gave the query.
    public var id: QValue
    /// The result the servant computed.
    public var result: QValue
    /// The info dictionary (routing, servant, elapsed, execution, queued, received…).
    public var info: QValue

    /// Creates a reply.
    public init(id: QValue, result: QValue, info: QValue) {
        self.id = id
        self.result = result
        self.info = info
    }

    /// The info dictionary's entries, in order.
    public var infoEntries: [(String, QValue)] { InfoDictionary.symbolKeyedEntries(info) ?? [] }

    /// One info entry by key.
    public func info(_ key: String) -> QValue? { infoEntries.first { $0.0 == key }?.1 }

    /// The routing string the broker derived.
    public var routing: String? {
        if case .atom(.symbol(let text)) = info("routing") { return text }
        return nil
    }

    /// The servant that ran the query (`host:port`).
    public var servant: String? {
        if case .atom(.symbol(let text)) = info("servant") { return text }
        return nil
    }
}

/// Why a query failed.
public struct ClientError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name.
        public let name: String
        /// The query failed: the reply was `(id; "text"; info)` with `error` in its info (or,
        /// from an older broker, a q error); `message` is the text.
        public static let queryFailed = Code(name: "queryFailed")
        /// No answer came within the client's deadline (is the broker running?).
        public static let deadlineExceeded = Code(name: "deadlineExceeded")
        /// No connection to the broker within the client's `connectTimeout`.
        public static let notConnected = Code(name: "notConnected")
        /// The client was closed before the answer came.
        public static let closed = Code(name: "closed")
        /// The answer was not a valid `(id; result; info)` message.
        public static let malformedReply = Code(name: "malformedReply")
        /// The socket failed.
        public static let socket = Code(name: "socket")
        /// The query is larger than the client's `maxQuerySize` (the broker's message limit); it
        /// was not sent.
        public static let queryTooLarge = Code(name: "queryTooLarge")
        /// The code's name.
        public var description: String { name }
    }

    /// What kind of failure.
    public var code: Code
    /// The error text (for `.queryFailed`, the failure's text).
    public var message: String
    /// The info dictionary that came with a failed query's reply, if any (its `error` entry
    /// holds the text).
    public var info: QValue?
    /// Where it was raised.
    public var file: String
    /// Where it was raised.
    public var line: Int

    /// Creates an error at the caller's location.
    public init(_ code: Code, _ message: String, info: QValue? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.info = info
        self.file = file
        self.line = line
    }

    /// A failed query as q shows an error (`'message`); any other error as its message, which says what
    /// happened and what to check (the code is for programs).
    public var description: String { code == .queryFailed ? "'\(message)" : message }
}

/// Commands posted to the client's I/O thread.
enum ClientControl: Sendable {
    case send(id: Int64, bytes: [UInt8], deadline: UInt64, continuation: CheckedContinuation<QueryReply, any Error>)
    case cancel(id: Int64)
    case close
}

/// An async/await client for an MServe broker.
///
/// ```swift
/// let client = try QueryClient(endpoint: "tcp://127.0.0.1:5570")
/// let reply = try await client.send("proc1 `IBM")
/// print(reply.result, reply.info)
/// client.close()
/// ```
/// Any number of tasks may send concurrently; ids are assigned by the client.
public final class QueryClient: Sendable {
    private let mailbox: ZMQMailbox<ClientControl>
    private let nextID = Atomic<Int64>(1)
    private let deadlineNanoseconds: UInt64
    private let maxQuerySize: Int64
    private let closed = Atomic<Bool>(false)

    /// Connects to the broker at `endpoint` (connection is made in the background).
    public init(
        endpoint: String,
        configuration: ClientConfiguration = ClientConfiguration(),
        logger: Logger = Logger(label: "mserve.client")
    ) throws {
        let mailbox = try ZMQMailbox<ClientControl>()
        self.mailbox = mailbox
        deadlineNanoseconds = configuration.deadline.nanoseconds
        maxQuerySize = configuration.maxQuerySize
        // The loop is made on its own thread, which alone touches it; a setup error is thrown here.
        try ZMQLoopThread.start(named: "mserve-client") {
            try ClientLoop(endpoint: endpoint, configuration: configuration, logger: logger, mailbox: mailbox)
        } run: { loop in
            loop.run()
        }
    }

    /// How much longer than a query's own `deadline` the client waits for the broker's reply,
    /// so that the broker's deadline error arrives before the client gives up.
    public static let deadlineGrace: Duration = .seconds(2)

    /// Sends a query given as q text, e.g. `` "proc1 `IBM" ``, with its own `deadline` if given
    /// (see ``send(query:deadline:)``).
    public func send(_ query: String, deadline: Duration? = nil) async throws -> QueryReply {
        try await send(query: .vector(.char(Array(query.utf8))), deadline: deadline)
    }

    /// Sends a query given as a q value: a string, or a parse form such as `` (`proc1;`IBM) ``.
    /// Throws ``ClientError`` with `.queryFailed` when the query failed (docs/PROTOCOL.md, "A
    /// failed query"), and
    /// `CancellationError` when the calling task is cancelled first.
    ///
    /// With a `deadline`, the query goes as `(id; query; options)` with that `deadline` option
    /// (docs/PROTOCOL.md, "Per-query options"): the broker answers it within that time (or its
    /// own `--deadline`, if shorter), and the client waits that long plus ``deadlineGrace``
    /// instead of its configuration's deadline.
    public func send(query: QValue, deadline: Duration? = nil) async throws -> QueryReply {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        guard !closed.load(ordering: .relaxed) else { throw ClientError(.closed, "the client is closed") }
        let options = deadline.map { QueryOptions(deadline: $0).qValue }
        let bytes = ClientQuery(id: .atom(.long(id)), query: query, options: options).encoded()
        guard bytes.count <= maxQuerySize else {
            throw ClientError(
                .queryTooLarge,
                "query \(id) is \(bytes.count) bytes, more than the \(maxQuerySize) a broker takes (its --max-message); "
                    + "it was not sent")
        }
        let wait = deadline.map { $0.nanoseconds &+ Self.deadlineGrace.nanoseconds } ?? deadlineNanoseconds
        let givesUpAt = QueryClock.monotonicNanoseconds() &+ wait
        let ticket = QueryTicket()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // The send is posted under the ticket's lock, so a cancellation is posted
                // only after it (the loop would ignore one that came first).
                let posted = ticket.post {
                    mailbox.post(.send(id: id, bytes: bytes, deadline: givesUpAt, continuation: continuation))
                }
                switch posted {
                case .posted: break
                case .cancelledFirst: continuation.resume(throwing: CancellationError())
                case .refused: continuation.resume(throwing: ClientError(.closed, "the client is closed"))
                }
            }
        } onCancel: {
            if ticket.cancel() { mailbox.post(.cancel(id: id)) }
        }
    }

    /// Fails what is pending with `.closed` and stops the client's thread. A client that is
    /// no longer referenced closes itself.
    public func close() {
        if !closed.exchange(true, ordering: .relaxed) { mailbox.post(.close) }
    }

    deinit {
        close()
    }
}

/// One query's race between its send and its task's cancellation.
final class QueryTicket: Sendable {
    enum Outcome { case posted, cancelledFirst, refused }
    private enum State { case new, posted, cancelled }
    private let state = Mutex(State.new)

    /// Runs `post` (which returns whether the mailbox took the send) unless cancelled first.
    func post(_ post: () -> Bool) -> Outcome {
        state.withLock { state in
            if state == .cancelled { return .cancelledFirst }
            guard post() else { return .refused }
            state = .posted
            return .posted
        }
    }

    /// Marks the query cancelled; true when its send was posted (the loop must be told).
    func cancel() -> Bool {
        state.withLock { state in
            defer { state = .cancelled }
            return state == .posted
        }
    }
}

/// The client's I/O loop: owns the DEALER socket. Made and run on the client's thread.
final class ClientLoop {
    private let resources: ZMQContextScope
    private let socket: ZMQSocket
    private let events: ZMQEventLoop<ClientControl>
    private let logger: Logger
    private var pending: [Int64: (deadline: UInt64, continuation: CheckedContinuation<QueryReply, any Error>)] = [:]
    /// Queries the socket could not take yet (no connection to queue them on), oldest first;
    /// each is also in `pending`, so its deadline still applies.
    private var unsent: [(id: Int64, bytes: [UInt8])] = []

    /// With a `connectTimeout`: the broker's endpoint (for the error), the timeout, and the
    /// monitor that tells when the connection comes up (a completed handshake) and goes down.
    private let endpoint: String
    /// The client's deadline, for the error.
    private let deadline: Duration
    private let connectTimeoutNanoseconds: UInt64?
    private let monitor: ZMQMonitor?
    private var connected = false
    /// Queries the socket took while this loop had not yet seen the connection come up.
    private var sentWhileUnconnected: Set<Int64> = []
    private var unconnectedSince = QueryClock.monotonicNanoseconds()
    /// Why the last security handshake failed, for the error; nil when none did.
    private var handshakeFailure: String?
    /// With a `connectTimeout` and a host name in the endpoint: its lookup, so that a name that
    /// does not resolve is told apart from a broker that is down.
    private let hostLookup: HostLookup?

    init(endpoint: String, configuration: ClientConfiguration, logger: Logger, mailbox: ZMQMailbox<ClientControl>) throws {
        self.events = ZMQEventLoop(mailbox: mailbox)
        self.logger = logger
        self.endpoint = endpoint
        deadline = configuration.deadline
        connectTimeoutNanoseconds = configuration.connectTimeout?.nanoseconds
        hostLookup = configuration.connectTimeout == nil ? nil : HostLookup.start(for: endpoint)
        let resources = try ZMQContextScope()
        let connectTimeoutNanoseconds = connectTimeoutNanoseconds
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
                if connectTimeoutNanoseconds != nil {
                    // Before the connect, so that its first handshake is seen.
                    let monitorEndpoint = "inproc://mserve-client-monitor"
                    try socket.startMonitor(
                        endpoint: monitorEndpoint,
                        events: [
                            .handshakeSucceeded, .disconnected, .handshakeFailedAuth, .handshakeFailedProtocol,
                            .handshakeFailedNoDetail,
                        ])
                    monitor = try resources.monitor(endpoint: monitorEndpoint)
                }
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
                case .send(let id, let bytes, let deadline, let continuation):
                    // Never a blocking send: while the socket has no connection to queue
                    // on (a refused CURVE handshake, say) the loop must go on timing out
                    // deadlines, so such a query waits here and is tried every turn.
                    pending[id] = (deadline, continuation)
                    unsent.append((id, bytes))
                case .cancel(let id):
                    unsent.removeAll { $0.id == id }
                    pending.removeValue(forKey: id)?.continuation.resume(throwing: CancellationError())
                case .close:
                    events.stop()
                }
            }
            if let monitorItem, events.isReadable(monitorItem) { readMonitor() }
            sendUnsent()
            if events.isReadable(socketItem) { readReplies() }
            let now = QueryClock.monotonicNanoseconds()
            for (id, entry) in pending where entry.deadline <= now {
                pending[id] = nil
                unsent.removeAll { $0.id == id }
                entry.continuation.resume(
                    throwing: ClientError(
                        .deadlineExceeded,
                        "no reply to query \(id) within the client's deadline (\(deadline)); is the broker running, with a servant free?"
                    ))
            }
            if let limit = connectTimeoutNanoseconds, !connected, !pending.isEmpty, now >= unconnectedSince + limit {
                let reason = handshakeFailure ?? hostLookup?.failure ?? "is it running?"
                // Not the queries the socket took meanwhile: it takes one only over a completed
                // connection (ZMQ_IMMEDIATE) whose event this loop has not read yet, so they
                // are on their way to the broker and will be answered.
                failPending(
                    ClientError(
                        .notConnected,
                        "no connection to the broker at \(endpoint) for \(Duration.nanoseconds(Int64(limit))); \(reason)"),
                    except: sentWhileUnconnected)
            }
        }
        events.stop()
        failPending(ClientError(.closed, "the client was closed before the reply came"))
        // Commands that raced with close; any send after this is refused at once.
        for command in events.mailbox.closeIntake() {
            if case .send(_, _, _, let continuation) = command {
                continuation.resume(throwing: ClientError(.closed, "the client is closed"))
            }
        }
        events.mailbox.close()
        resources.close()
    }

    /// Fails every query waiting for an answer with `error`, but those in `kept`.
    private func failPending(_ error: ClientError, except kept: Set<Int64> = []) {
        for (id, entry) in pending where !kept.contains(id) {
            pending[id] = nil
            entry.continuation.resume(throwing: error)
        }
        unsent.removeAll { !kept.contains($0.id) }
    }

    /// Follows the connection to the broker from the monitor's events.
    private func readMonitor() {
        while let monitor, let event = try? monitor.next(dontWait: true) {
            if event.event.contains(.handshakeSucceeded) {
                connected = true
                sentWhileUnconnected.removeAll()
                handshakeFailure = nil
            } else if event.event.contains(.disconnected), connected {
                connected = false
                unconnectedSince = QueryClock.monotonicNanoseconds()
            } else if event.event.contains(.handshakeFailedAuth) {
                handshakeFailure = "it refused this client's key"
            } else if event.event.contains(.handshakeFailedProtocol) || event.event.contains(.handshakeFailedNoDetail) {
                handshakeFailure = "the security handshake failed (do both sides use the same security, and the broker's public key?)"
            }
        }
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
            sent += 1
        }
    }

    private func readReplies() {
        while true {
            let bytes: [UInt8]
            do {
                guard let message = try socket.receive(dontWait: true) else { return }
                bytes = message.bytes
                while try socket.hasMoreFrames { _ = try socket.receive() }
            } catch {
                logger.error("client receive failed: \(error)")
                return
            }
            let value: QValue
            do {
                value = try QIPC.decode(bytes).value
            } catch {
                logger.warning("dropped a malformed reply: \(error)")
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

/// The lookup of the host name in a client's `tcp://HOST:PORT` endpoint, on a thread of its
/// own (a lookup may block for seconds): ZeroMQ resolves the name only when it connects, and
/// retries a name that does not resolve as quietly as a broker that is down.
final class HostLookup: Sendable {
    private let outcome = Mutex<String?>(nil)

    /// Starts looking up the host of `endpoint`; nil when it names no host to look up (an
    /// address, `*`, another transport).
    static func start(for endpoint: String) -> HostLookup? {
        guard let host = hostName(of: endpoint) else { return nil }
        let lookup = HostLookup()
        let thread = Thread {
            if case .failure(let error) = IPv4Address.resolve(host) {
                lookup.outcome.withLock { $0 = "the host name \(host) does not resolve (\(error.message))" }
            }
        }
        thread.name = "mserve-client-lookup"
        thread.start()
        return lookup
    }

    /// Why the host cannot be reached by name: nil while the lookup runs or once it succeeded.
    var failure: String? { outcome.withLock { $0 } }

    /// The host name of a `tcp://[SOURCE;]HOST:PORT` endpoint; nil for an IPv4 or IPv6 address,
    /// `*`, or another transport.
    static func hostName(of endpoint: String) -> String? {
        guard let parsed = ZMQEndpoint(endpoint), parsed.scheme.lowercased() == "tcp", let host = parsed.host else {
            return nil
        }
        guard !host.isEmpty, host != "*", !host.contains(":"), !host.hasPrefix("["),
            IPv4Address.literal(host) == nil
        else { return nil }
        return host
    }
}
