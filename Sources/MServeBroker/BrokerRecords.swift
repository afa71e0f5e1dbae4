// What the broker's loop keeps per query and per servant.

import Logging
import MServePlugin
import MServeProtocol
import QData
import ZeroMQ

/// A query's `(id; query)` message as the broker holds it for servants.
enum QueryMessage {
    /// A large client message in the ZeroMQ frame it came in: sent on to each servant it goes
    /// to as that frame (``ZMQMessage/copy()`` shares the body), never copied.
    case frame(ZMQMessage)
    /// Bytes: a small client message, a kdb+ door query, a message rewritten without options.
    case bytes([UInt8])

    /// The size of the message in bytes.
    var count: Int {
        switch self {
        case .frame(let message): message.count
        case .bytes(let bytes): bytes.count
        }
    }

    /// Reads the message's bytes in place, a frame's in the frame.
    func withSpan<Result, Failure: Error>(_ body: (Span<UInt8>) throws(Failure) -> Result) throws(Failure) -> Result {
        switch self {
        case .frame(let message): return try message.withSpan(body)
        case .bytes(let bytes): return try body(bytes.span)
        }
    }

    /// The message's bytes (a frame's copied).
    var bytes: [UInt8] {
        switch self {
        case .frame(let message): message.bytes
        case .bytes(let bytes): bytes
        }
    }
}

/// A query the broker holds, queued or in flight. A class: a query is read and passed on
/// several times on its way (queue, dispatch, in flight, answer), and a value this size would
/// be copied at each step, a retain and a release per reference it holds. One object is in
/// the queue or in flight at a time, never both. Only the loop's thread touches it, so its
/// state skips the run-time exclusivity check, as the loop's own does.
final class HeldQuery {
    @exclusivity(unchecked) var tag: UInt64 = 0
    @exclusivity(unchecked) var route: ReplyRoute = .zmq(envelope: [])
    @exclusivity(unchecked) var message: QueryMessage = .bytes([])
    @exclusivity(unchecked) var id: QValue = .identity
    @exclusivity(unchecked) var routing = ""
    /// The function the query calls; "" before it is parsed.
    @exclusivity(unchecked) var function = ""
    @exclusivity(unchecked) var receivedTimestamp: Int64 = 0
    @exclusivity(unchecked) var receivedAt: UInt64 = 0
    @exclusivity(unchecked) var deadline: UInt64 = 0
    @exclusivity(unchecked) var dispatches: Int = 0
    /// Whether `deadline` is the client's own (its `deadline` option, shorter than the
    /// broker's): such a query may expire before queries that came before it.
    @exclusivity(unchecked) var hasOwnDeadline = false
    /// Whether the algorithm, the last time it was offered the query, made it wait while a
    /// servant serving it was free (`MSERVE_DISPATCH_WAIT`): if its deadline passes in the
    /// queue, its error says the algorithm kept it, not that no servant was free.
    @exclusivity(unchecked) var keptWaitingWhileFree = false

    /// A record of no query yet, for ``reset(tag:route:message:id:routing:receivedTimestamp:receivedAt:deadline:)``.
    init() {}

    convenience init(
        tag: UInt64, route: ReplyRoute, message: QueryMessage, id: QValue, routing: String,
        receivedTimestamp: Int64, receivedAt: UInt64, deadline: UInt64
    ) {
        self.init()
        reset(
            tag: tag, route: route, message: message, id: id, routing: routing,
            receivedTimestamp: receivedTimestamp, receivedAt: receivedAt, deadline: deadline)
    }

    /// Makes the object a new query's, every field as `init` sets it: the loop reuses the
    /// object of a query it answered (``HeldQueryPool``).
    func reset(
        tag: UInt64, route: ReplyRoute, message: QueryMessage, id: QValue, routing: String,
        receivedTimestamp: Int64, receivedAt: UInt64, deadline: UInt64
    ) {
        self.tag = tag
        self.route = route
        self.message = message
        self.id = id
        self.routing = routing
        self.function = ""
        self.receivedTimestamp = receivedTimestamp
        self.receivedAt = receivedAt
        self.deadline = deadline
        self.dispatches = 0
        self.hasOwnDeadline = false
        self.keptWaitingWhileFree = false
    }
}

/// Objects of answered queries, kept for the next queries (``BrokerLoop/handleClient(route:message:)``):
/// a query then costs the loop no allocation of its record. Only an object nothing else holds
/// is taken back, so a query still referred to anywhere is never reused under it.
struct HeldQueryPool {
    private var spare: [HeldQuery] = []
    /// The most objects kept: more than a busy turn answers (a servant's `REPLY` brings up
    /// to 32 answers, and a turn reads several), about 150 kB at most.
    static let capacity = 1_024

    /// Objects kept for reuse.
    var count: Int { spare.count }

    /// A record for a new query: a kept object reset, or a new one.
    mutating func make(
        tag: UInt64, route: ReplyRoute, message: QueryMessage, id: QValue, routing: String,
        receivedTimestamp: Int64, receivedAt: UInt64, deadline: UInt64
    ) -> HeldQuery {
        let query = spare.popLast() ?? HeldQuery()
        query.reset(
            tag: tag, route: route, message: message, id: id, routing: routing,
            receivedTimestamp: receivedTimestamp, receivedAt: receivedAt, deadline: deadline)
        return query
    }

    /// Takes back an answered query's object if `query` is its only reference; its message
    /// and id are let go at once.
    mutating func recycle(_ query: inout HeldQuery) {
        guard spare.count < Self.capacity, isKnownUniquelyReferenced(&query) else { return }
        query.message = .bytes([])
        query.id = .identity
        query.route = .zmq(envelope: [])
        spare.append(query)
    }
}

/// A query sent to a servant.
struct InFlightQuery {
    var query: HeldQuery
    var servantID: UInt64
    var dispatchedAt: UInt64
    /// Already answered to the client (deadline passed); the servant's reply is dropped.
    var abandoned = false
}

/// A servant's record in the broker. A class: the loop reads and updates it on every query,
/// and a value this size would be copied (a retain and a release per field) at each read.
/// Only the loop's thread touches it: its state skips the run-time exclusivity check.
/// A query a servant was sent and had not answered when it was lost: what its late answer
/// tells the dispatch algorithm (``ServantRecord/lostInFlight``).
struct LostQuery {
    /// Its routing string.
    var routing: String
    /// When it was sent to the servant (monotonic nanoseconds).
    var dispatchedAt: UInt64
}

final class ServantRecord {
    /// The CURVE public key the connection is pinned to (a secured broker's servants); nil:
    /// none.
    var serverKey: String?
    /// `draining`: the servant is stopping (its DRAIN); out of dispatch, its running queries
    /// still due, its heartbeats still watched. `left`: it stopped as a servant should (it
    /// drained, then said goodbye or went); `lost`: it went any other way. Both are out of
    /// session, and the broker greets either again at its endpoint.
    enum State: String {
        case connecting, ready, draining, left, lost

        /// Whether the servant is out of session: left or lost.
        var isGone: Bool { self == .left || self == .lost }

        /// Whether the servant is in session: ready or draining.
        var isInSession: Bool { self == .ready || self == .draining }
    }

    let id: UInt64
    let endpoint: String
    /// Its routing id on the broker's servant socket, new for each connection the broker
    /// makes anew itself (``BrokerLoop/routingID(ofServant:connection:)``).
    @exclusivity(unchecked) var routingID: [UInt8]
    /// How many times the broker made its connection anew itself.
    @exclusivity(unchecked) var connectionsMadeAgain: UInt64 = 0
    @exclusivity(unchecked) var name: String
    let host: String
    @exclusivity(unchecked) var state: State = .connecting
    @exclusivity(unchecked) var connected = false
    /// Heard from before the event of the connection it spoke on was read: the loop reads its
    /// servant socket between polls without its connection monitor, so the answer to a HELLO
    /// queued while it was not connected (a READY) can come first. That connection's event,
    /// when it comes, is not a new connection to greet.
    @exclusivity(unchecked) var heardBeforeItsConnectionEvent = false
    @exclusivity(unchecked) var incarnation: UInt64 = 0
    @exclusivity(unchecked) var capacity = 1
    @exclusivity(unchecked) var inFlight = 0
    /// The queries sent it that were still unanswered when it was lost, by tag (sent again
    /// since, or answered with an error). Lost for missed heartbeats or a dropped connection,
    /// the process may run on: back in session in the same incarnation, it runs those of them
    /// its READY counts (`running`) still, each holding a place (``stillRunning``) until its
    /// answer comes; its answer itself is not passed on.
    @exclusivity(unchecked) var lostInFlight: [UInt64: LostQuery] = [:]
    /// How many places of ``inFlight`` the queries of ``lostInFlight`` hold: the servant said it
    /// still runs them.
    @exclusivity(unchecked) var stillRunning = 0
    @exclusivity(unchecked) var lastRouting = ""
    /// The queries whose answer from it (its result or its error) the broker passed on to
    /// their client: the `served` of the status and the metrics, the queries of the elapsed
    /// histogram.
    @exclusivity(unchecked) var served: UInt64 = 0
    /// The queries it finished: every reply it sent for a query it held, those after the
    /// query's deadline (the client was answered already) and unreadable ones included. What
    /// the dispatch algorithms see as `queriesServed`, and the mean execution's count.
    @exclusivity(unchecked) var finished: UInt64 = 0
    /// How many times it was lost while ready or draining.
    @exclusivity(unchecked) var lost: UInt64 = 0
    /// The execution time of the queries it finished.
    @exclusivity(unchecked) var totalExecution: UInt64 = 0
    /// The execution time of the queries it finished, by function: the deadline rule's mean
    /// (``meanExecutionNanoseconds(of:)``).
    @exclusivity(unchecked) var executionByFunction = FunctionExecutionTimes()
    /// When the broker sent the first heartbeat this servant has not answered (nothing heard
    /// since); nil once it is heard from. Silence counts from here, not from the last message
    /// heard, so a pause of the broker's own loop, which sends no heartbeat, does not count.
    @exclusivity(unchecked) var unansweredPingSince: UInt64?
    @exclusivity(unchecked) var lastHelloSent: UInt64 = 0
    /// HELLOs sent while it was not known to be connected, since it was last connected, heard
    /// from or lost: they space out the next (``BrokerLoop/unconnectedHelloPause(heartbeat:unanswered:)``).
    @exclusivity(unchecked) var unconnectedHellos = 0
    /// Whether a failed try to connect was logged, or needs no line (the servant said it was
    /// leaving); once until it connects.
    @exclusivity(unchecked) var unreachableLogged = false
    /// Lines saying the endpoint answered, but not as a servant does (its ZeroMQ handshake
    /// failed, or it answered a HELLO with a HELLO): the first at once, then at most one a
    /// minute with a count of the rest, until it is heard from as a servant.
    @exclusivity(unchecked) var notAServantLog = LogThrottle(interval: .seconds(60))
    /// Disconnected after libzmq ended its connection for good; connected again at the next
    /// heartbeat visit at or after ``reconnectAt`` (``BrokerLoop/endConnectionForGood(_:cause:)``).
    @exclusivity(unchecked) var reconnectDue = false
    /// The monotonic time before which a due reconnection waits: 0, the next visit, but for an
    /// endpoint that answered as no servant does (``BrokerLoop/backOffFromWrongEndpoint(_:)``).
    @exclusivity(unchecked) var reconnectAt: UInt64 = 0
    /// Before this monotonic time no HELLO goes while it is not known to be connected: set when
    /// the broker connects to it again itself, whose first connection the connection event
    /// reports (and ``BrokerLoop/readMonitor()`` greets). Queued meanwhile, HELLOs would all
    /// reach a peer that is slow to connect, several a connection.
    @exclusivity(unchecked) var unconnectedHelloNotBefore: UInt64 = 0
    /// How many connections in a row the endpoint answered, but not as a servant does, since
    /// it was last heard from as one: each doubles the wait before the next connection.
    @exclusivity(unchecked) var notAServantAnswers = 0
    /// Whether that was logged since it was last heard from.
    @exclusivity(unchecked) var reconnectLogged = false
    /// When the first HELLO sent over a connection that came up went unanswered (nil once
    /// heard from, and when the connection is ended): a connection that carries nothing back
    /// for the liveness time is ended and made anew (``BrokerLoop/ReconnectCause/silent``).
    @exclusivity(unchecked) var helloUnansweredSince: UInt64?
    /// Refused READYs: each logged when its reason is not the last one logged, a repeated one
    /// once a minute at most, so a servant author fixing a READY sees each mistake in turn.
    @exclusivity(unchecked) var badReadyLog = LogThrottle(interval: .seconds(60))
    /// The reason of the last refused READY logged.
    @exclusivity(unchecked) var lastBadReadyReason: String?
    /// READYs ignored in a row on this connection (refused, or in the incarnation it said
    /// goodbye in): each doubles the pause before the next HELLO, up to a minute
    /// (``BrokerLoop/ignoredReadyHelloPause(heartbeat:ignored:)``), so a servant whose every
    /// READY is ignored is not greeted, nor its READY read, at every heartbeat.
    @exclusivity(unchecked) var ignoredReadies = 0
    /// Whether a servant was in session with this broker at its endpoint: this record's READY,
    /// or one of a record of the same endpoint removed before it was added
    /// (``FormerServantEndpoints``). A connection there that stays silent is then most likely
    /// that servant still holding this broker's earlier connection, not another service.
    @exclusivity(unchecked) var wasInSession = false
    /// The incarnation in which it said goodbye (BYE) in session; 0: none. A READY in it is
    /// ignored: a servant that said it is going comes back by restarting, under a new one.
    @exclusivity(unchecked) var saidGoodbyeIn: UInt64 = 0
    /// Whether a READY in ``saidGoodbyeIn`` was logged; once per such incarnation.
    @exclusivity(unchecked) var readyAfterGoodbyeLogged = false
    /// The READY that put it in dispatch last (a ZeroMQ servant's): a READY repeating it in the
    /// same incarnation changes nothing; one announcing something else is refused with a
    /// warning.
    @exclusivity(unchecked) var readyAnnouncement: ReadyAnnouncement?
    /// The most queries it takes in one QUERY message (its READY's `batch`; 1 when it names none).
    @exclusivity(unchecked) var batchLimit = 1
    /// Queries dispatched to it and not sent yet: they leave together at the end of the
    /// loop's turn, or as soon as `batchLimit` of them wait (`flushOutboxes`). `sentBefore`:
    /// the query went to a servant before, which was lost or left while running it (counted
    /// as sent again once it leaves).
    @exclusivity(unchecked) var outbox: [(tag: UInt64, message: QueryMessage, sentBefore: Bool)] = []
    /// The functions it serves, as its last READY announced them; nil until its first READY.
    @exclusivity(unchecked) var functions: ServedFunctions?
    /// The number of `functions` among the lists servants announce (``FreeServants``); 0 until
    /// its first READY.
    @exclusivity(unchecked) var functionList = 0
    /// The candidate groups it is a member of while ready (for an algorithm following events).
    @exclusivity(unchecked) var groups: [UInt32] = []

    init(id: UInt64, endpoint: String, routingID: [UInt8], name: String, host: String) {
        self.id = id
        self.endpoint = endpoint
        self.routingID = routingID
        self.name = name
        self.host = host
    }

    var view: ServantView {
        ServantView(
            id: id, name: name, host: host, inFlight: inFlight, capacity: capacity,
            lastRouting: lastRouting, queriesServed: finished,
            meanExecutionNanoseconds: meanExecutionNanoseconds)
    }

    /// What a broker line about this servant says of it (``logMetadata(name:endpoint:_:)``),
    /// with `more` beside it.
    func logMetadata(_ more: Logger.Metadata = [:]) -> Logger.Metadata {
        Self.logMetadata(name: name, endpoint: endpoint, more)
    }

    /// What a broker line about a servant says of it: its name (`servant`, its READY's, else
    /// its `HOST:PORT`) and its endpoint (`endpoint`), with `more` beside them. The name alone
    /// cannot tell a servant restarted under the same name (a new endpoint) from the one lost
    /// before it, nor two servants given one name; the endpoint alone is not the name that
    /// replies, metrics and the status page show.
    static func logMetadata(name: String, endpoint: String, _ more: Logger.Metadata = [:]) -> Logger.Metadata {
        more.merging(["servant": "\(name)", "endpoint": "\(endpoint)"]) { _, identity in identity }
    }

    /// The mean execution time of the queries it finished (``finished``): how long it takes,
    /// whether or not the client still waited; 0 before the first.
    var meanExecutionNanoseconds: UInt64 { finished == 0 ? 0 : totalExecution / finished }

    /// The mean execution time of the queries of `function` it finished; its mean over every
    /// function (``meanExecutionNanoseconds``) until it has finished one (or when it has
    /// finished queries of more functions than are kept apart).
    func meanExecutionNanoseconds(of function: String) -> UInt64 {
        executionByFunction.mean(of: function) ?? meanExecutionNanoseconds
    }
}

/// The execution time of the queries one servant finished, by function, for at most
/// ``mostFunctions`` functions (the first it finished queries of): the function names come
/// from clients' queries, so what is kept is bounded.
struct FunctionExecutionTimes {
    /// The most functions kept apart per servant.
    static let mostFunctions = 256
    private var times: [String: (total: UInt64, count: UInt64)] = [:]

    /// Counts a query of `function` that took `execution` nanoseconds.
    mutating func add(_ execution: UInt64, function: String) {
        if let known = times[function] {
            times[function] = (known.total &+ execution, known.count + 1)
        } else if times.count < Self.mostFunctions {
            times[function] = (execution, 1)
        }
    }

    /// The mean of `function`'s queries; nil before the first (or when it is not kept).
    func mean(of function: String) -> UInt64? {
        times[function].map { $0.total / $0.count }
    }

    /// How many functions are kept.
    var count: Int { times.count }
}

/// Endpoints of servants that were in session with this broker and were removed since (the
/// hub dropped them, their key was revoked), the newest ``capacity`` of them, each with the
/// name the servant had: a servant added again at one of them is known to have answered there
/// (``ServantRecord/wasInSession``), and goes by that name until its READY says otherwise.
struct FormerServantEndpoints {
    /// The most endpoints kept: servants restarting on new ports leave one each.
    static let capacity = 1_024
    /// Each endpoint, with when it was added (a count) and the servant's name.
    private var endpoints: [String: (added: UInt64, name: String)] = [:]
    private var added: UInt64 = 0

    var count: Int { endpoints.count }

    /// Remembers `endpoint`, where the servant `name` was; the oldest is forgotten past
    /// ``capacity``.
    mutating func insert(_ endpoint: String, name: String) {
        endpoints[endpoint] = (added, name)
        added &+= 1
        if endpoints.count > Self.capacity, let oldest = endpoints.min(by: { $0.value.added < $1.value.added }) {
            endpoints[oldest.key] = nil
        }
    }

    /// The name of the servant that was at `endpoint`, when it is remembered; it is then
    /// forgotten (its new record carries it).
    mutating func take(_ endpoint: String) -> String? {
        endpoints.removeValue(forKey: endpoint)?.name
    }
}
