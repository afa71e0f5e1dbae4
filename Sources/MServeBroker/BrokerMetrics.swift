// What the broker counts as it works, through the swift-metrics API: the loop updates these on
// its own thread, one call per event; whatever backend the process bootstrapped (Prometheus,
// with `mserve broker --http`) reads them from any thread. With no backend the calls do nothing.

public import CoreMetrics

/// The broker's counters and histograms (docs/OPERATIONS.md, "Monitoring", lists them).
///
/// Made once per broker from a swift-metrics `MetricsFactory`; the dimensions given
/// (`service`, say) are added to every metric. Thread-safe: the loop updates it, the
/// metrics backend reads it.
public final class BrokerMetrics: Sendable {
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
        /// malformed servant reply, the broker shutting down with the query queued).
        case failed
    }

    private let outcomes: [Counter]
    private let redispatched: Counter
    private let elapsed: CoreMetrics.Timer
    private let queued: CoreMetrics.Timer
    private let execution: CoreMetrics.Timer
    private let messagesReceived: Counter
    private let messagesSent: Counter
    private let bytesReceived: Counter
    private let bytesSent: Counter
    private let doorConnections: Counter
    private let doorRefusedConnections: Counter
    private let doorRefusedLogins: Counter

    /// Metrics made by `factory`, each with `dimensions` (e.g. `[("service", "default")]`).
    public init(factory: any MetricsFactory, dimensions: [(String, String)] = []) {
        func counter(_ label: String, _ extra: [(String, String)] = []) -> Counter {
            Counter(label: label, dimensions: dimensions + extra, factory: factory)
        }
        func timer(_ label: String) -> CoreMetrics.Timer {
            CoreMetrics.Timer(label: label, dimensions: dimensions, factory: factory)
        }
        outcomes = Outcome.allCases.map { counter("mserve_broker_queries_total", [("outcome", $0.rawValue)]) }
        redispatched = counter("mserve_broker_queries_redispatched_total")
        elapsed = timer("mserve_broker_query_elapsed_seconds")
        queued = timer("mserve_broker_query_queued_seconds")
        execution = timer("mserve_broker_query_execution_seconds")
        messagesReceived = counter("mserve_broker_client_messages_total", [("direction", "received")])
        messagesSent = counter("mserve_broker_client_messages_total", [("direction", "sent")])
        bytesReceived = counter("mserve_broker_client_bytes_total", [("direction", "received")])
        bytesSent = counter("mserve_broker_client_bytes_total", [("direction", "sent")])
        doorConnections = counter("mserve_broker_kdb_connections_total", [("result", "accepted")])
        doorRefusedConnections = counter("mserve_broker_kdb_connections_total", [("result", "refused")])
        doorRefusedLogins = counter("mserve_broker_kdb_logins_refused_total")
    }

    /// Metrics that go nowhere: what a broker counts when nothing reads it.
    public static let disabled = BrokerMetrics(factory: NOOPMetricsHandler.instance)

    /// Counts a query that ended with `outcome`.
    @inline(__always)
    func ended(_ outcome: Outcome) {
        outcomes[outcomeIndex(outcome)].increment()
    }

    /// Counts a query answered by its servant, with its times in nanoseconds.
    @inline(__always)
    func answered(isError: Bool, queued queuedNanoseconds: UInt64, execution executionNanoseconds: UInt64, elapsed elapsedNanoseconds: UInt64) {
        ended(isError ? .servantError : .answered)
        queued.recordNanoseconds(Int64(clamping: queuedNanoseconds))
        execution.recordNanoseconds(Int64(clamping: executionNanoseconds))
        elapsed.recordNanoseconds(Int64(clamping: elapsedNanoseconds))
    }

    /// Counts a query sent again because its servant was lost.
    func redispatchedQuery() { redispatched.increment() }

    /// Counts a message of `bytes` from a client.
    @inline(__always)
    func received(bytes: Int) {
        messagesReceived.increment()
        bytesReceived.increment(by: Int64(bytes))
    }

    /// Counts a reply of `bytes` to a client.
    @inline(__always)
    func sent(bytes: Int) {
        messagesSent.increment()
        bytesSent.increment(by: Int64(bytes))
    }

    /// Counts a kdb+ connection the door accepted (true) or refused at once (false).
    func doorConnection(accepted: Bool) {
        (accepted ? doorConnections : doorRefusedConnections).increment()
    }

    /// Counts a kdb+ login the door refused.
    func doorLoginRefused() { doorRefusedLogins.increment() }

    private func outcomeIndex(_ outcome: Outcome) -> Int {
        switch outcome {
        case .answered: 0
        case .servantError: 1
        case .refused: 2
        case .queueFull: 3
        case .deadline: 4
        case .servantLost: 5
        case .noServant: 6
        case .failed: 7
        }
    }
}
