// What the broker counts as it works: plain integers and fixed-bucket histograms that the loop
// adds to on its own thread, one call per event, with no lock, no atomic and no allocation. They
// leave the loop only as a copy, in each `BrokerSnapshot`: the HTTP side (`--http`) asks for one
// at each scrape and publishes it to Prometheus there, off the loop's thread.

/// The broker's counters and time histograms (docs/OPERATIONS.md, "Monitoring", lists them as
/// `/metrics` shows them). A value: the loop owns one and mutates it; a ``BrokerSnapshot``
/// carries a copy.
public struct BrokerMetrics: Sendable, Hashable {
    /// How a query ended, the `outcome` label of `mserve_broker_queries_total`.
    public enum Outcome: String, Sendable, CaseIterable {
        /// The servant's result reached the client.
        case answered
        /// The servant answered with an error.
        case servantError = "servant_error"
        /// Refused before queueing: malformed, not allowed, no such broker function, shutting down.
        case refused
        /// Refused: the queue was full.
        case queueFull = "queue_full"
        /// Its deadline passed, in the queue or at a servant.
        case deadline
        /// Its servant was lost more often than the re-dispatch limit allows.
        case servantLost = "servant_lost"
        /// No servant was ready within the servant wait.
        case noServant = "no_servant"
        /// Anything else the broker answered with an error (an invalid dispatch choice, a
        /// malformed servant reply, the broker shutting down with the query queued, a query
        /// queued from a kdb+ connection that closed).
        case failed
    }

    /// Why a servant in session (ready or draining) was lost, the `reason` label of
    /// `mserve_broker_servants_lost_total`. A servant that left as it should (it drained, then
    /// said goodbye or went) is not lost.
    public enum ServantLossReason: String, Sendable, CaseIterable {
        /// It missed its heartbeats for the liveness time (its host unreachable, the process
        /// stopped or wedged, a connection that carries nothing back).
        case missedHeartbeats = "missed_heartbeats"
        /// Its connection ended (the process killed or crashed); for a q servant, any failure
        /// of its kdb+ IPC connection.
        case disconnected
        /// It answered in another incarnation than its READY's: a new process at its endpoint.
        case restarted
        /// It said goodbye (BYE) without draining first.
        case saidGoodbye = "said_goodbye"
        /// It sent a REPLY naming no query the broker could read.
        case malformedReply = "malformed_reply"
        /// A message to it found no connection to go on.
        case unreachable
        /// A q servant held a query past its deadline, and its connection was made anew.
        case noAnswer = "no_answer"
        /// The broker stopped using it while it was in session: its key revoked or no longer
        /// allowed, another key registered at its endpoint, `removeServant`.
        case removed
    }

    /// Queries ended, by outcome (``Outcome``'s order).
    private var outcomes = OutcomeCounts()
    /// Servants lost while in session, by reason (``ServantLossReason``'s order): unlike each
    /// servant's own count, kept when the servant is removed.
    private var servantLosses = [UInt64](repeating: 0, count: ServantLossReason.allCases.count)
    /// Queries sent again to a servant because the one running them was lost or left before
    /// answering: counted each time one goes out again, not when it is put back in the queue.
    public private(set) var redispatched: UInt64 = 0
    /// Calls into the dispatch plugin that took 100 ms or more (`BrokerLoop.slowPluginCall`),
    /// holding up the broker's loop.
    public private(set) var slowPluginCalls: UInt64 = 0
    /// Arrival to answer, of the queries whose answer from a servant the broker passed on to
    /// their client (what each servant's `served` counts).
    public private(set) var elapsed = TimeHistogram()
    /// Arrival to dispatch, of the same queries.
    public private(set) var queued = TimeHistogram()
    /// Execution at the servant, of the same queries.
    public private(set) var execution = TimeHistogram()
    /// Messages from clients (ZeroMQ and the kdb+ door), and their bytes.
    public private(set) var messagesReceived: UInt64 = 0, bytesReceived: UInt64 = 0
    /// Replies to clients, and their bytes (to a ZeroMQ client: those libzmq took).
    public private(set) var messagesSent: UInt64 = 0, bytesSent: UInt64 = 0
    /// Replies to ZeroMQ clients dropped (the client did not read them, or had gone), and
    /// their bytes.
    public private(set) var messagesDropped: UInt64 = 0, bytesDropped: UInt64 = 0
    /// What the kdb+ door counted (zero without a door).
    public internal(set) var door = KdbDoorMetrics()
    /// Peers the client door refused with `--keys`: their key not allowed as a client, or a
    /// security handshake that failed (plaintext, say).
    public internal(set) var refusedPeerKeys: UInt64 = 0, refusedPeerHandshakes: UInt64 = 0

    /// Nothing counted yet.
    public init() {}

    /// How many queries ended with `outcome`.
    public func queries(_ outcome: Outcome) -> UInt64 { outcomes[outcome] }

    /// Counts a query that ended with `outcome`.
    @inline(__always)
    mutating func ended(_ outcome: Outcome) {
        outcomes[outcome] &+= 1
    }

    /// Counts a query answered by its servant, with its times in nanoseconds.
    @inline(__always)
    mutating func answered(isError: Bool, queued queuedNanoseconds: UInt64, execution executionNanoseconds: UInt64, elapsed elapsedNanoseconds: UInt64) {
        ended(isError ? .servantError : .answered)
        queued.record(nanoseconds: queuedNanoseconds)
        execution.record(nanoseconds: executionNanoseconds)
        elapsed.record(nanoseconds: elapsedNanoseconds)
    }

    /// How many servants were lost while in session for `reason`.
    public func servantsLost(_ reason: ServantLossReason) -> UInt64 {
        servantLosses[ServantLossReason.allCases.firstIndex(of: reason) ?? 0]
    }

    /// Counts a servant lost while in session.
    mutating func servantLost(_ reason: ServantLossReason) {
        servantLosses[ServantLossReason.allCases.firstIndex(of: reason) ?? 0] &+= 1
    }

    /// Counts `count` queries sent again because the servant running them was lost or left.
    mutating func sentAgain(_ count: Int = 1) { redispatched &+= UInt64(count) }

    /// Counts a call into the dispatch plugin that held up the loop.
    mutating func slowPluginCall() { slowPluginCalls &+= 1 }

    /// Counts a message of `bytes` from a client.
    @inline(__always)
    mutating func received(bytes: Int) {
        messagesReceived &+= 1
        bytesReceived &+= UInt64(truncatingIfNeeded: bytes)
    }

    /// Counts a reply of `bytes` to a client.
    @inline(__always)
    mutating func sent(bytes: Int) {
        messagesSent &+= 1
        bytesSent &+= UInt64(truncatingIfNeeded: bytes)
    }

    /// Counts a reply of `bytes` dropped for a ZeroMQ client.
    mutating func dropped(bytes: Int) {
        messagesDropped &+= 1
        bytesDropped &+= UInt64(truncatingIfNeeded: bytes)
    }
}

/// What the kdb+ door counts: connections accepted and refused, logins refused.
public struct KdbDoorMetrics: Sendable, Hashable {
    /// Connections the door accepted.
    public private(set) var connectionsAccepted: UInt64 = 0
    /// Connections the door refused at once (over its connection limits).
    public private(set) var connectionsRefused: UInt64 = 0
    /// Logins the door refused (wrong credentials, a malformed handshake).
    public private(set) var loginsRefused: UInt64 = 0

    /// Nothing counted yet.
    public init() {}

    /// Counts a kdb+ connection the door accepted (true) or refused at once (false).
    mutating func doorConnection(accepted: Bool) {
        if accepted { connectionsAccepted &+= 1 } else { connectionsRefused &+= 1 }
    }

    /// Counts a kdb+ login the door refused.
    mutating func doorLoginRefused() { loginsRefused &+= 1 }
}

/// One counter per ``BrokerMetrics/Outcome``, as stored fields: counting one is a single add.
private struct OutcomeCounts: Sendable, Hashable {
    var answered: UInt64 = 0, servantError: UInt64 = 0, refused: UInt64 = 0, queueFull: UInt64 = 0
    var deadline: UInt64 = 0, servantLost: UInt64 = 0, noServant: UInt64 = 0, failed: UInt64 = 0

    subscript(outcome: BrokerMetrics.Outcome) -> UInt64 {
        get {
            switch outcome {
            case .answered: answered
            case .servantError: servantError
            case .refused: refused
            case .queueFull: queueFull
            case .deadline: deadline
            case .servantLost: servantLost
            case .noServant: noServant
            case .failed: failed
            }
        }
        set {
            switch outcome {
            case .answered: answered = newValue
            case .servantError: servantError = newValue
            case .refused: refused = newValue
            case .queueFull: queueFull = newValue
            case .deadline: deadline = newValue
            case .servantLost: servantLost = newValue
            case .noServant: noServant = newValue
            case .failed: failed = newValue
            }
        }
    }
}

/// Times counted in fixed buckets, the ones `/metrics` shows: from 50 µs (a broker answers in
/// well under a millisecond) to a minute (the default query deadline). Recording one is a few
/// comparisons and two adds into inline storage: nothing is allocated or locked.
public struct TimeHistogram: Sendable, Hashable {
    /// The buckets' upper bounds in nanoseconds, ascending; a last bucket (`+Inf`) holds the rest.
    public static let boundsNanoseconds: [UInt64] = [
        50_000, 100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
        100_000_000, 250_000_000, 500_000_000,
        1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000, 30_000_000_000, 60_000_000_000,
    ]

    /// How many buckets there are: one per bound, and `+Inf`.
    public static let bucketCount = 20

    /// Counts per bucket, not cumulative (``boundsNanoseconds`` order, then `+Inf`).
    private var counts = InlineArray<20, UInt64>(repeating: 0)
    /// The sum of the times recorded, in nanoseconds.
    public private(set) var sumNanoseconds: UInt64 = 0

    /// No times yet.
    public init() {}

    /// Counts one time.
    @inline(__always)
    public mutating func record(nanoseconds: UInt64) {
        counts[Self.bucket(nanoseconds: nanoseconds)] &+= 1
        sumNanoseconds &+= nanoseconds
    }

    /// The index of the bucket a time of `nanoseconds` falls in: the first whose bound it does
    /// not exceed (Prometheus's `le`), else the last. Kept in step with ``boundsNanoseconds``
    /// (TimeHistogramTests checks every bound).
    @inline(__always)
    public static func bucket(nanoseconds value: UInt64) -> Int {
        // Broker times are mostly under a millisecond: the first comparisons settle them.
        if value <= 1_000_000 {
            if value <= 100_000 { return value <= 50_000 ? 0 : 1 }
            return value <= 250_000 ? 2 : value <= 500_000 ? 3 : 4
        }
        if value <= 100_000_000 {
            if value <= 10_000_000 { return value <= 2_500_000 ? 5 : value <= 5_000_000 ? 6 : 7 }
            return value <= 25_000_000 ? 8 : value <= 50_000_000 ? 9 : 10
        }
        if value <= 1_000_000_000 { return value <= 250_000_000 ? 11 : value <= 500_000_000 ? 12 : 13 }
        if value <= 10_000_000_000 { return value <= 2_500_000_000 ? 14 : value <= 5_000_000_000 ? 15 : 16 }
        return value <= 30_000_000_000 ? 17 : value <= 60_000_000_000 ? 18 : 19
    }

    /// The counts per bucket, not cumulative: one per bound, then `+Inf`.
    public var bucketCounts: [UInt64] { (0..<Self.bucketCount).map { counts[$0] } }

    /// How many times were recorded.
    public var count: UInt64 { (0..<Self.bucketCount).reduce(0) { $0 &+ counts[$1] } }

    public static func == (left: TimeHistogram, right: TimeHistogram) -> Bool {
        left.sumNanoseconds == right.sumNanoseconds && left.bucketCounts == right.bucketCounts
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(sumNanoseconds)
        hasher.combine(bucketCounts)
    }
}
