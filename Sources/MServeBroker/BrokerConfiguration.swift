// MServeBroker owns the broker: one event-loop thread that owns all broker state
// (servant table, FIFO queue, in-flight map), polls the client ROUTER and the
// servant ROUTER, and routes each client's (id; query) to a servant chosen by a
// dispatch algorithm. `Broker` runs it as a swift-service-lifecycle `Service`.

import MServePlugin
import MServeProtocol
public import MServeQuery
public import ZeroMQ

/// Everything a broker is configured with. Every field has a sane default.
public struct BrokerConfiguration: Sendable {
    /// Where clients connect.
    public struct Clients: Sendable {
        /// The endpoint a broker's clients reach it at when none is given.
        public static let defaultEndpoint = "tcp://127.0.0.1:5570"
        /// The ZeroMQ endpoint the client ROUTER binds; port 0 picks a free port.
        public var endpoint: String = Clients.defaultEndpoint
        /// The largest frame taken from a client or a servant (`ZMQ_MAXMSGSIZE` on both sockets):
        /// libzmq closes the connection of a peer that sends a larger one before allocating it.
        /// The `HELLO` tells servants this limit, so theirs refuse a larger result with an error
        /// reply instead of sending it; ``MServeClient`` refuses a larger query before sending
        /// it. Also the bound on a compressed query once decompressed. 64 MiB, like the kdb+
        /// door's limit.
        public var maxMessageSize: Int64 = 64 << 20
        /// Replies queued for one client that does not read (`ZMQ_SNDHWM` on the client
        /// ROUTER) before further replies to it are dropped.
        public var sendHighWaterMark: Int32 = 100_000
        /// Reply bytes kept for one client that does not read (queued in libzmq for it, or
        /// being written to its connection) before further replies to it are dropped, counted
        /// (`mserve_broker_client_messages_total{direction="dropped"}`) and logged. A reply is
        /// dropped only when the bytes already held reach this: a client that reads gets every
        /// reply up to ``maxMessageSize``, and one that does not costs at most this much and
        /// one more reply. 64 MiB, like the kdb+ door's `--kdb-reply-buffer`.
        public var maxBufferedReplyBytes: Int = 64 << 20
        /// Reply bytes kept for all the ZeroMQ clients together: once they reach this, a reply
        /// to a client that already has one held is dropped (counted and logged as above), so
        /// that many clients that do not read cannot hold ``maxBufferedReplyBytes`` each. A
        /// client with nothing held still gets its reply: clients that read are not starved.
        /// 256 MiB.
        public var maxBufferedReplyBytesTotal: Int = 256 << 20
        /// Creates the default client settings.
        public init() {}
    }

    /// How the broker finds and watches servants.
    public struct Servants: Sendable {
        /// Servant endpoints known at start (`tcp://host:port`, or `kdb://host:port` for a q
        /// servant); more can join at run time.
        public var endpoints: [String] = []
        /// How often the broker pings each servant.
        public var heartbeatInterval: Duration = .milliseconds(400)
        /// A servant silent for this long is taken out of dispatch.
        public var livenessTimeout: Duration = .milliseconds(1_600)
        /// How long the servants keep the session of a broker they hear nothing from
        /// (``ServantLink/brokerSessionTimeout``, a minute). When the broker's own process did
        /// not run for nearly this long (stopped, its host suspended), it takes every servant
        /// out of dispatch and greets it again, before it sends one a query of a session the
        /// servant may have forgotten. Set it as the servants' own (a test's shorter one).
        public var servantSessionTimeout: Duration = ServantLink.brokerSessionTimeout
        /// How many times a query whose servant died is sent to another servant.
        public var redispatchLimit: Int = 1
        /// The most queries sent to a servant in one `QUERY` message (and taken back in one
        /// `REPLY`), for servants that accept batches. Queries dispatched to the same servant
        /// in one turn of the broker's loop travel together: under load this saves a message,
        /// a wake-up and a system call per query on both sides. Nothing waits for a batch to
        /// fill; 1 sends every query on its own.
        public var batchLimit: Int = 32
        /// `user:password` sent in the kdb+ handshake to q servants (`kdb://host:port`
        /// endpoints) in ``endpoints``; empty logs in with no credentials.
        public var kdbCredentials: String = ""
        /// Whether q servants added while the broker runs (``Broker/addServant(endpoint:)``:
        /// those a hub lists) get ``kdbCredentials`` too; by default they log in with none.
        /// Anyone who can register with a hub without keys can list a q servant of their own
        /// there, and would receive the password.
        public var kdbCredentialsForAddedServants: Bool = false
        /// Creates the default servant settings.
        public init() {}
    }

    /// How queries are routed and queued.
    public struct Dispatch: Sendable {
        /// The dispatch algorithm when none is chosen.
        public static let defaultAlgorithm = "match"
        /// The dispatch algorithm, `name` or `name:config` (`MSERVE_ALGO`).
        public var algorithm: String = Dispatch.defaultAlgorithm
        /// How the routing string is derived (`MSERVE_ROUTING`).
        public var routing: RoutingSpec = .default
        /// Function names clients may call; empty means any registered on the servants.
        public var allowedFunctions: [String] = []
        /// Queries that may wait for a free servant; beyond this the client gets an error at once.
        public var queueCapacity: Int = 100_000
        /// The most bytes of query messages that may wait for a free servant together; a query
        /// that would take them past it gets the queue-full error at once, unless none waits.
        /// Queries sent again after their servant was lost are queued whatever their size.
        public var queueBytes: Int = 1 << 30
        /// How many queued queries, from the front, are offered to the dispatch algorithm when a
        /// servant is free. A query the algorithm makes wait (it prefers a busy servant) then
        /// does not hold up the ones behind it. 1 means strict first-in first-out.
        public var lookAhead: Int = 16
        /// A query not answered within this time gets an error reply.
        public var queryDeadline: Duration = .seconds(60)
        /// While no servant is ready, a query waits at most this long (from its arrival, or
        /// from when the last ready servant went) before it gets an error reply saying so.
        public var servantWait: Duration = .seconds(5)
        /// How often the broker scans for queries past their deadline in the queue and for
        /// servants that went while queries waited for them. A query at a servant is answered at
        /// its own deadline, not at the next scan. Not an option: tests lengthen it.
        var deadlineScanInterval: Duration = .milliseconds(50)
        /// Creates the default dispatch settings.
        public init() {}
    }

    /// Client side settings.
    public var clients = Clients()
    /// Servant side settings.
    public var servants = Servants()
    /// Routing and queueing settings.
    public var dispatch = Dispatch()
    /// The kdb+ IPC door; nil: none.
    public var kdb: Kdb?
    /// How often the broker logs a status line (queries answered and their rate, queued, in
    /// flight, servants ready) while it has work; an idle broker stays quiet. Nil: never.
    public var statusInterval: Duration? = .seconds(60)
    /// With security on: the broker's CURVE key pair and the keys allowed as clients. The client
    /// endpoint is then a CURVE server admitting only those keys, and servants are reached as a
    /// CURVE client, only those whose key is in ``servantKeys``. Nil (the default): no security.
    public var curve: ZMQCurveServerKeys? = nil
    /// With security on: the keys servants may serve with (those allowed as servants). Nil: the
    /// servants' keys are looked up in `curve`'s list, one list for clients and servants alike.
    public var servantKeys: ZAPKeyList? = nil

    /// Creates the default configuration.
    public init() {}
}

