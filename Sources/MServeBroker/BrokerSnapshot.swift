// The broker's state as status output, the broker's own functions (`.mserve.status[]`) and
// tests see it.

import MServeQuery

/// A point-in-time view of the broker, for status output and tests.
public struct BrokerSnapshot: Sendable {
    /// The servants the broker knows, in join order.
    public var servants: [ServantStatus]
    /// Queries waiting for a free servant.
    public var queued: Int
    /// The bytes of the messages of the queries waiting for a free servant.
    public var queuedBytes: Int = 0
    /// Queries dispatched and not yet answered.
    public var inFlight: Int
    /// Queries answered since start (results and errors).
    public var answered: UInt64
    /// The endpoint clients connect to.
    public var clientEndpoint: String = ""
    /// The dispatch algorithm as configured, with its configuration (`match:nowait`).
    public var algorithm: String = ""
    /// How long the broker has been running.
    public var uptime: Duration = .zero
    /// Whether the broker is stopping (draining what it holds, taking no new query) or has
    /// stopped: a stopped broker's snapshot is what it held when it stopped.
    public var stopping = false
    /// The limits and settings in force, from the broker's configuration.
    public var settings = Settings()
    /// The broker process's resident memory (`VmRSS`), in bytes; nil when unknown.
    public var residentBytes: Int?
    /// The largest resident memory the broker process has had (`VmHWM`), in bytes; nil when unknown.
    public var peakResidentBytes: Int?
    /// What the broker counted since it started: queries by outcome, times, messages and bytes
    /// (what `/metrics` shows).
    public var metrics = BrokerMetrics()

    /// The dispatch settings and limits a broker runs with, as `.mserve.status[]` shows them.
    public struct Settings: Sendable, Hashable {
        /// The routing spec (`arg:1`, `function,arg:2`, `plugin:NAME`).
        public var routing: String = RoutingSpec.default.description
        /// How many queued queries, from the front, are offered to the algorithm.
        public var lookAhead: Int = 16
        /// The most queries that may wait for a servant.
        public var queueCapacity: Int = 100_000
        /// The most bytes of queries that may wait for a servant together.
        public var queueBytes: Int = 1 << 30
        /// The time a query has to be answered.
        public var deadline: Duration = .seconds(60)
        /// How many times a query whose servant died is sent to another servant.
        public var redispatchLimit: Int = 1
        /// The largest message accepted from a client, in bytes.
        public var maxMessageSize: Int64 = 64 << 20
        /// How long a query waits while no servant is ready.
        public var servantWait: Duration = .seconds(5)

        /// The defaults of ``BrokerConfiguration``.
        public init() {}

        /// The settings in force under `configuration`.
        public init(_ configuration: BrokerConfiguration) {
            routing = configuration.dispatch.routing.description
            lookAhead = configuration.dispatch.lookAhead
            queueCapacity = configuration.dispatch.queueCapacity
            queueBytes = configuration.dispatch.queueBytes
            deadline = configuration.dispatch.queryDeadline
            redispatchLimit = configuration.servants.redispatchLimit
            maxMessageSize = configuration.clients.maxMessageSize
            servantWait = configuration.dispatch.servantWait
        }
    }

    /// A broker holding nothing: no servants, no queries.
    public static let empty = BrokerSnapshot(servants: [], queued: 0, inFlight: 0, answered: 0)

    /// Creates a snapshot.
    public init(
        servants: [ServantStatus], queued: Int, inFlight: Int, answered: UInt64, clientEndpoint: String = "",
        algorithm: String = "", uptime: Duration = .zero, settings: Settings = Settings(),
        residentBytes: Int? = nil, peakResidentBytes: Int? = nil, metrics: BrokerMetrics = BrokerMetrics(),
        stopping: Bool = false
    ) {
        self.metrics = metrics
        self.stopping = stopping
        self.servants = servants
        self.queued = queued
        self.inFlight = inFlight
        self.answered = answered
        self.clientEndpoint = clientEndpoint
        self.algorithm = algorithm
        self.uptime = uptime
        self.settings = settings
        self.residentBytes = residentBytes
        self.peakResidentBytes = peakResidentBytes
    }
}

/// One servant as the broker sees it.
public struct ServantStatus: Sendable, Hashable {
    /// The endpoint the broker connects to.
    public var endpoint: String
    /// Its display name, `host:port`.
    public var name: String
    /// `connecting`, `ready`, `draining` (stopping: sent no more queries, its running ones
    /// awaited), `left` (stopped as a servant should) or `lost`.
    public var state: String
    /// Queries running on it now.
    public var inFlight: Int
    /// Queries it may run at once.
    public var capacity: Int
    /// Queries whose answer from it (its result or its error) the broker passed on to their
    /// client: not a reply after the query's deadline, nor an unreadable one.
    public var served: UInt64
    /// The mean execution time of every query it finished, replies after their deadline
    /// included (zero before the first).
    public var meanExecution: Duration = .zero
    /// The routing string of the last query sent to it; empty before the first.
    public var lastRouting: String = ""
    /// How many times it was lost while ready or draining.
    public var lost: UInt64 = 0

    /// Creates a servant's status.
    public init(
        endpoint: String, name: String, state: String, inFlight: Int, capacity: Int, served: UInt64,
        meanExecution: Duration = .zero, lastRouting: String = "", lost: UInt64 = 0
    ) {
        self.lost = lost
        self.endpoint = endpoint
        self.name = name
        self.state = state
        self.inFlight = inFlight
        self.capacity = capacity
        self.served = served
        self.meanExecution = meanExecution
        self.lastRouting = lastRouting
    }
}
