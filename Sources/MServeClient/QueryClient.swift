// MServeClient owns the client library: `QueryClient` sends `(id; query)` to a broker
// over ZeroMQ, assigns ids, keeps many queries in flight on one connection, and
// resumes each caller with its `(id; result; info)` — or a clear error, never a hang.
public import Logging
import MServeProtocol
public import QData
import Synchronization
import ZeroMQ

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
        if let deadline, deadline <= .zero {
            // The broker refuses a deadline that is not positive; refused here, it is not sent
            // as the nanosecond the option would make of it.
            throw ClientError(.invalidOption, "the deadline must be positive; got \(deadline)")
        }
        let options = deadline.map { QueryOptions(deadline: $0).qValue }
        let bytes = ClientQuery(id: .atom(.long(id)), query: query, options: options).encoded()
        guard bytes.count <= maxQuerySize else {
            throw ClientError(
                .queryTooLarge,
                "the query is \(bytes.count) bytes, more than the \(maxQuerySize) a broker takes (its --max-message); "
                    + "it was not sent")
        }
        let wait = deadline.map { $0.nanoseconds &+ Self.deadlineGrace.nanoseconds } ?? deadlineNanoseconds
        // What the error of a query that gets no reply says it waited for: the deadline asked
        // for and the grace apart, so that the figure the caller gave is the one quoted.
        let waitDescription =
            deadline.map { "the client's deadline of \($0) (and \(Self.deadlineGrace) of grace)" }
            ?? "the client's deadline of \(Duration.nanoseconds(Int64(clamping: deadlineNanoseconds)))"
        let givesUpAt = QueryClock.monotonicNanoseconds() &+ wait
        let ticket = QueryTicket()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // The send is posted under the ticket's lock, so a cancellation is posted
                // only after it (the loop would ignore one that came first).
                let posted = ticket.post {
                    mailbox.post(
                        .send(
                            id: id, bytes: bytes, deadline: givesUpAt, waitDescription: waitDescription,
                            continuation: continuation))
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
