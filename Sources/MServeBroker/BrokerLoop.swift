import Logging
import MServePlugin
import MServeProtocol
import MServeQuery
import QData
import ZeroMQ

/// Commands other threads post to the broker's loop.
enum BrokerCommand: Sendable {
    case addServant(endpoint: String, serverKey: String?)
    case removeServant(endpoint: String)
    case snapshot(@Sendable (BrokerSnapshot) -> Void)
    case stop
}

/// A point-in-time view of the broker, for status output and tests.
public struct BrokerSnapshot: Sendable {
    /// The servants the broker knows, in join order.
    public var servants: [ServantStatus]
    /// Queries waiting for a free servant.
    public var queued: Int
    /// Queries dispatched and not yet answered.
    public var inFlight: Int
    /// Queries answered since start (results and errors).
    public var answered: UInt64
}

/// One servant as the broker sees it.
public struct ServantStatus: Sendable, Hashable {
    /// The endpoint the broker connects to.
    public var endpoint: String
    /// Its display name, `host:port`.
    public var name: String
    /// `connecting`, `ready` or `lost`.
    public var state: String
    /// Queries running on it now.
    public var inFlight: Int
    /// Queries it may run at once.
    public var capacity: Int
    /// Queries it has answered.
    public var served: UInt64
}

/// A query the broker holds, queued or in flight.
struct HeldQuery {
    var tag: UInt64
    var route: ReplyRoute
    var message: [UInt8]
    var id: QValue
    var routing: String
    var receivedTimestamp: Int64
    var receivedAt: UInt64
    var deadline: UInt64
    var dispatches: Int = 0
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
final class ServantRecord {
    enum State: String { case connecting, ready, lost }

    let id: UInt64
    let endpoint: String
    let routingID: [UInt8]
    var name: String
    let host: String
    var state: State = .connecting
    var connected = false
    var incarnation: UInt64 = 0
    var capacity = 1
    var inFlight = 0
    var lastRouting = ""
    var served: UInt64 = 0
    var totalExecution: UInt64 = 0
    var lastHeard: UInt64 = 0
    var lastHelloSent: UInt64 = 0
    /// Whether a failed try to connect was logged; once until it connects.
    var unreachableLogged = false
    /// Whether a READY without a valid incarnation was logged; once per servant.
    var badReadyLogged = false
    /// The most queries it takes in one QUERY message (its READY's `batch`; 1 when it names none).
    var batchLimit = 1
    /// Queries dispatched to it and not sent yet: they leave together at the end of the
    /// loop's turn, or as soon as `batchLimit` of them wait (`flushOutboxes`).
    var outbox: [(tag: UInt64, message: [UInt8])] = []

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
            lastRouting: lastRouting, queriesServed: served,
            meanExecutionNanoseconds: served == 0 ? 0 : totalExecution / served)
    }
}

/// The broker's event loop. Lives on one thread and owns every piece of broker state.
final class BrokerLoop {
    private let configuration: BrokerConfiguration
    private var logger: Logger
    private let mailbox: ZMQMailbox<BrokerCommand>
    private let algorithm: any DispatchAlgorithm
    private let routingHook: (any DispatchAlgorithm)?
    private let allowlist: FunctionAllowlist

    private let context: ZMQContext
    private let clientSocket: ZMQSocket
    private let servantSocket: ZMQSocket
    private let monitor: ZMQMonitor
    private let incarnation: UInt64
    /// CURVE security, when configured (BrokerAdmission.swift).
    private let admission: BrokerAdmission?
    /// The kdb+ IPC door, when configured (KdbDoor.swift).
    private let kdbDoor: KdbDoor?
    /// Connections to q servants, `kdb://host:port` (KdbServantLinks.swift).
    private let kdbServants: KdbServantLinks

    private var servants: [UInt64: ServantRecord] = [:]
    private var servantByEndpoint: [String: UInt64] = [:]
    /// Ready servants in join order, and their views (kept in step).
    private var readyIDs: [UInt64] = []
    private var views: [ServantView] = []
    /// Servants with queries in their outbox (an id may appear more than once).
    private var servantsWithOutbox: [UInt64] = []

    /// Reusable receive buffers, one per socket: reading a message allocates nothing.
    private var clientFrames = ZMQFrames()
    private var servantFrames = ZMQFrames()
    /// The tag frame of the query being sent, rewritten for each (WireInteger).
    private var tagFrame: [UInt8] = []
    /// Client envelopes by routing id, for one-frame envelopes of up to 7 bytes (libzmq's own
    /// ids are 5): a client's envelope is the same on every message, so it is made once.
    private var envelopes: [UInt64: [[UInt8]]] = [:]

    private var queue = FIFOQueue<HeldQuery>()
    private var inFlight: [UInt64: InFlightQuery] = [:]
    private var nextTag: UInt64 = 1
    private var nextServantID: UInt64 = 1
    private var answered: UInt64 = 0
    private var stopping = false
    /// Whether queries waiting with no servant ready were logged; once until one is ready.
    private var loggedWaitingWithoutServants = false

    /// When the status line is next due.
    private var status: StatusSchedule

    private let heartbeatNanoseconds: UInt64
    private let livenessNanoseconds: UInt64
    private let deadlineNanoseconds: UInt64
    private var nextHeartbeat: UInt64 = 0
    private var nextDeadlineScan: UInt64 = 0
    /// When to offer the queued queries again, while the algorithm makes them wait with a
    /// servant free (`offerAgainSoonWhileAServantIsFree`).
    private var reofferAt: UInt64?

    /// The endpoint clients connect to, with the real port.
    let clientEndpoint: String

    init(
        configuration: BrokerConfiguration,
        logger: Logger,
        mailbox: ZMQMailbox<BrokerCommand>,
        algorithm: any DispatchAlgorithm,
        routingHook: (any DispatchAlgorithm)?
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.mailbox = mailbox
        self.algorithm = algorithm
        self.routingHook = routingHook
        self.allowlist =
            configuration.dispatch.allowedFunctions.isEmpty
            ? .any : FunctionAllowlist(configuration.dispatch.allowedFunctions)
        status = StatusSchedule(every: configuration.statusInterval, now: QueryClock.monotonicNanoseconds())
        heartbeatNanoseconds = configuration.servants.heartbeatInterval.nanoseconds
        livenessNanoseconds = configuration.servants.livenessTimeout.nanoseconds
        deadlineNanoseconds = configuration.dispatch.queryDeadline.nanoseconds
        incarnation = UInt64.random(in: 1...UInt64.max)
        kdbServants = KdbServantLinks(
            credentials: configuration.servants.kdbCredentials,
            maxMessageSize: Int(configuration.clients.maxMessageSize), logger: logger)

        context = try ZMQContext(ioThreads: 1)
        var startedAdmission: BrokerAdmission? = nil
        // What is open so far, closed again if a later step fails: terminating a context
        // waits for its sockets to close.
        var opened: [ZMQSocket] = []
        do {
            clientSocket = try ZMQSocket(context: context, type: .router)
            opened.append(clientSocket)
            try clientSocket.setRouterMandatory(true)
            try clientSocket.setMaxMessageSize(configuration.clients.maxMessageSize)
            try clientSocket.setSendHighWaterMark(configuration.clients.sendHighWaterMark)
            try clientSocket.setReceiveHighWaterMark(0)
            try clientSocket.setLinger(milliseconds: 0)
            startedAdmission = try BrokerAdmission.start(configuration, context: context, clientSocket: clientSocket, logger: logger)
            admission = startedAdmission
            do {
                try clientSocket.bind(configuration.clients.endpoint)
            } catch {
                throw BrokerError(
                    .socket, "cannot bind the client endpoint \(configuration.clients.endpoint): \(error.reason)")
            }
            clientEndpoint = try clientSocket.lastEndpoint

            servantSocket = try ZMQSocket(context: context, type: .router)
            opened.append(servantSocket)
            try servantSocket.setRoutingId(Array("broker-\(String(incarnation, radix: 16))".utf8))
            try servantSocket.setRouterMandatory(true)
            try servantSocket.setMaxMessageSize(configuration.clients.maxMessageSize)
            try servantSocket.setSendHighWaterMark(0)
            try servantSocket.setReceiveHighWaterMark(0)
            try servantSocket.setLinger(milliseconds: 0)
            try servantSocket.setReconnectInterval(milliseconds: 100, max: 1_000)
            let monitorEndpoint = "inproc://mserve-broker-monitor-\(incarnation)"
            try servantSocket.startMonitor(
                endpoint: monitorEndpoint, events: [.connected, .disconnected, .connectRetried])
            monitor = try ZMQMonitor(context: context, endpoint: monitorEndpoint)
            opened.append(monitor.socket)
            kdbDoor = try configuration.kdb.map { try KdbDoor(configuration: $0, logger: logger) }
        } catch {
            startedAdmission?.stop()
            for socket in opened { socket.close() }
            context.terminate()
            throw error
        }
        self.logger[metadataKey: "broker"] = "\(clientEndpoint)"
    }

    // MARK: running

    /// Runs until a stop command, then drains and closes every socket.
    func run() {
        logger.info(
            "broker listening for clients",
            metadata: ["endpoint": "\(clientEndpoint)", "algorithm": "\(algorithm.name)"])
        for endpoint in configuration.servants.endpoints { addServant(endpoint: endpoint) }

        var poller = ZMQPoller()
        let clientIndex = 0, servantIndex = 1, monitorIndex = 2, mailboxIndex = 3
        var drainDeadline: UInt64 = 0
        // While messages keep coming, the loop reads its two ZeroMQ sockets directly for a few
        // turns between polls: a poll is a system call, and under load every turn finds work.
        var turnsSincePoll = 0

        while true {
            if turnsSincePoll < Self.turnsBetweenPollsUnderLoad, !stopping {
                turnsSincePoll += 1
                let handled = readServants() + readClients()
                if handled > 0 {
                    timers(now: QueryClock.monotonicNanoseconds())
                    flushOutboxes()
                    continue
                }
            }
            turnsSincePoll = 0
            // Rebuilt each turn: the kdb+ door's connections come and go.
            poller.removeAll()
            poller.add(clientSocket)
            poller.add(servantSocket)
            poller.add(monitor.socket)
            poller.add(fileDescriptor: mailbox.wakeSignal.fileDescriptor)
            kdbDoor?.register(in: &poller)
            kdbServants.register(in: &poller)
            let now = QueryClock.monotonicNanoseconds()
            if stopping {
                if inFlight.values.allSatisfy(\.abandoned) || now >= drainDeadline { break }
            }
            let timeout = pollTimeout(now: now)
            do {
                _ = try poller.poll(timeoutMilliseconds: timeout)
            } catch {
                logger.error("poll failed, stopping the broker: \(error)")
                break
            }
            if poller.returnedEvents(at: mailboxIndex).contains(.readable) {
                for command in mailbox.takeAll() {
                    switch command {
                    case .addServant(let endpoint, let serverKey): addServant(endpoint: endpoint, serverKey: serverKey)
                    case .removeServant(let endpoint): removeServant(endpoint: endpoint, reason: "removed")
                    case .snapshot(let reply): reply(snapshot())
                    case .stop:
                        if !stopping {
                            stopping = true
                            drainDeadline = QueryClock.monotonicNanoseconds() + 2_000_000_000
                            logger.info(
                                "broker stopping",
                                metadata: ["queued": "\(queue.count)", "inFlight": "\(inFlight.count)"])
                            failQueued(reason: "the broker is shutting down")
                        }
                    }
                }
            }
            if poller.returnedEvents(at: monitorIndex).contains(.readable) { readMonitor() }
            var handled = 0
            if poller.returnedEvents(at: servantIndex).contains(.readable) { handled += readServants() }
            if poller.returnedEvents(at: clientIndex).contains(.readable) { handled += readClients() }
            // A turn without ZeroMQ messages polls again at once, sleeping until the next event.
            if handled == 0 { turnsSincePoll = Self.turnsBetweenPollsUnderLoad }
            kdbDoor?.service(poller, now: QueryClock.monotonicNanoseconds()) {
                handleClient(route: $0.route, message: $0.message)
            }
            for event in kdbServants.service(poller, now: QueryClock.monotonicNanoseconds()) {
                handleKdbServant(event)
            }
            timers(now: QueryClock.monotonicNanoseconds())
            // Whatever this turn dispatched leaves now: the poll may sleep.
            flushOutboxes()
        }
        shutdown()
    }

    /// Turns the loop may take without polling while each finds messages (see `run`): the
    /// mailbox, the monitor and the kdb+ sockets wait at most this many busy turns.
    static let turnsBetweenPollsUnderLoad = 8

    private func pollTimeout(now: UInt64) -> Int {
        let next = min(nextHeartbeat, nextDeadlineScan, reofferAt ?? .max)
        if next <= now { return 0 }
        return Int(min((next - now) / 1_000_000 + 1, 100))
    }

    private func shutdown() {
        for (tag, flight) in inFlight where !flight.abandoned {
            reply(error: "the broker shut down before the servant answered", to: flight.query)
            inFlight[tag] = nil
        }
        // Queries of a servant lost during the drain went back to the queue: they end here too.
        failQueued(reason: "the broker is shutting down")
        for record in servants.values where !kdbServants.owns(record.id) {
            sendToServant(record.routingID, .bye)
        }
        kdbDoor?.close()
        kdbServants.close()
        let final = snapshot()
        for case .snapshot(let reply) in mailbox.closeIntake() { reply(final) }
        monitor.close()
        clientSocket.close()
        servantSocket.close()
        admission?.stop()
        context.terminate()
        logger.info("broker stopped", metadata: ["answered": "\(answered)"])
    }

    private func snapshot() -> BrokerSnapshot {
        let ordered = servants.values.sorted { $0.id < $1.id }
        return BrokerSnapshot(
            servants: ordered.map {
                ServantStatus(
                    endpoint: $0.endpoint, name: $0.name, state: $0.state.rawValue,
                    inFlight: $0.inFlight, capacity: $0.capacity, served: $0.served)
            },
            queued: queue.count, inFlight: inFlight.count, answered: answered)
    }

    // MARK: clients

    /// Reads and handles every waiting client message; returns how many there were.
    @discardableResult
    private func readClients() -> Int {
        var handled = 0
        while true {
            do {
                guard try clientSocket.receive(into: &clientFrames, dontWait: true) else {
                    flushOutboxes()
                    return handled
                }
            } catch {
                logger.error("receiving from clients failed: \(error)")
                return handled
            }
            handled += 1
            let count = clientFrames.count
            guard count >= 2 else {
                logger.warning("dropped a client message without an envelope")
                continue
            }
            handleClient(route: .zmq(envelope: clientEnvelope()), message: clientFrames.copy(of: count - 1))
        }
    }

    /// The frames before the message just received from a client (its routing id, and any
    /// frames the client put in front of the message).
    private func clientEnvelope() -> [[UInt8]] {
        let count = clientFrames.count
        if count == 2, clientFrames[0].count <= 7 {
            let id = clientFrames[0]
            var key = UInt64(id.count) << 56
            for (offset, byte) in id.enumerated() { key |= UInt64(byte) << (8 * UInt64(offset)) }
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

    private func handleClient(route: ReplyRoute, message: [UInt8]) {
        let receivedAt = QueryClock.monotonicNanoseconds()
        let receivedTimestamp = QueryClock.qTimestampNow()
        var held = HeldQuery(
            tag: 0, route: route, message: message, id: .identity, routing: "",
            receivedTimestamp: receivedTimestamp, receivedAt: receivedAt,
            deadline: receivedAt + deadlineNanoseconds)

        let clientQuery: ClientQuery
        do {
            clientQuery = try ClientQuery(bytes: message)
        } catch {
            logger.notice("refused a malformed client message: \(error.message)")
            reply(error: "mserve: \(error.message)", to: held)
            return
        }
        held.id = clientQuery.id
        if stopping {
            reply(error: "the broker is shutting down", to: held)
            return
        }
        do {
            let parsed = try QueryParser.parse(clientQuery.query)
            try SecureInvocation.validate(parsed, allowlist: allowlist)
            held.routing = try routingString(for: parsed)
        } catch {
            logger.notice("refused a query: \(error)")
            reply(error: "mserve: \(error)", to: held)
            return
        }
        held.tag = nextTag
        nextTag &+= 1
        if queue.count < configuration.dispatch.lookAhead, let index = choose(routing: held.routing) {
            // Within the look-ahead the queued queries were already offered and made to wait.
            dispatch(held, toReadyIndex: index)
        } else if queue.count >= configuration.dispatch.queueCapacity {
            reply(
                error: "mserve: queue full (\(configuration.dispatch.queueCapacity) queries waiting); try again later",
                to: held)
        } else {
            queue.append(held)
            offerAgainSoonWhileAServantIsFree()
            if readyIDs.isEmpty && !loggedWaitingWithoutServants {
                loggedWaitingWithoutServants = true
                logger.warning(
                    "queries wait: no servant is ready",
                    metadata: ["queued": "\(queue.count)", "servantsKnown": "\(servants.count)"])
            }
        }
    }

    private func routingString(for query: ParsedQuery) throws -> String {
        let spec = configuration.dispatch.routing
        if spec.pluginName != nil, let routingHook {
            let defaultRouting = RoutingSpec.default.routingString(for: query).value
            let argumentMessages = query.arguments.map { QIPC.encode($0) }
            switch routingHook.route(
                function: query.function, argumentMessages: argumentMessages,
                defaultRouting: defaultRouting)
            {
            case .routing(let text): return text
            case .refused: throw BrokerError(.plugin, "the routing plugin refused the query")
            case nil: return defaultRouting
            }
        }
        return spec.routingString(for: query).value
    }

    /// Sends `(id; 'message; info)` to the query's client.
    private func reply(error message: String, to query: HeldQuery, servant: String = "") {
        let now = QueryClock.monotonicNanoseconds()
        let elapsed = Int64(now &- query.receivedAt)
        let info = InfoDictionary.make(
            routing: query.routing, servant: servant,
            timings: QueryTimings(
                received: query.receivedTimestamp, queued: elapsed, execution: 0, elapsed: elapsed))
        sendToClient(query.route, ReplyAssembly.errorReply(id: query.id, message: message, info: info))
    }

    private func sendToClient(_ route: ReplyRoute, _ message: [UInt8]) {
        answered &+= 1
        let envelope: [[UInt8]]
        switch route {
        case .zmq(let zmqEnvelope): envelope = zmqEnvelope
        case .kdb(let connection, let form):
            kdbDoor?.send(message, to: connection, form: form)
            return
        }
        do {
            for frame in envelope {
                guard try clientSocket.send(frame, more: true, dontWait: true) else {
                    logger.warning("dropped a reply: the client is not reading (send queue full)")
                    return
                }
            }
            if try !clientSocket.send(message, dontWait: true) {
                logger.warning("dropped a reply: the client is not reading (send queue full)")
            }
        } catch where error.code == .hostUnreachable {
            logger.info("dropped a reply: the client has gone")
        } catch {
            logger.error("sending a reply failed: \(error)")
        }
    }

    // MARK: dispatch

    private func choose(routing: String) -> Int? {
        guard !views.isEmpty else { return nil }
        guard let index = algorithm.choose(routing: routing, servants: views) else { return nil }
        guard views.indices.contains(index), views[index].isFree else {
            logger.warning(
                "the dispatch algorithm chose an invalid or busy servant; the query waits",
                metadata: ["algorithm": "\(algorithm.name)", "index": "\(index)"])
            return nil
        }
        return index
    }

    /// Sends `query` to the ready servant at `index` — a ZeroMQ servant's queries go to its
    /// outbox and leave with the turn's others (`flushOutboxes`) — and counts it in flight;
    /// false when that servant turned out to be gone (it is then lost, and its queries are back
    /// at the front of the queue).
    @discardableResult
    private func dispatch(_ query: HeldQuery, toReadyIndex index: Int) -> Bool {
        var query = query
        let servantID = readyIDs[index]
        guard let record = servants[servantID] else { return false }
        query.dispatches += 1
        let isQServant = kdbServants.owns(servantID)
        if isQServant {
            guard kdbServants.send(query: query.message, tag: query.tag, to: servantID) else {
                // The servant vanished under us: it is lost; the query goes back to the front.
                query.dispatches -= 1
                queue.prepend(query)
                servantLost(servantID, reason: "unreachable")
                return false
            }
        }
        record.inFlight += 1
        record.lastRouting = query.routing
        views[index].inFlight += 1
        views[index].lastRouting = query.routing
        inFlight[query.tag] = InFlightQuery(
            query: query, servantID: servantID, dispatchedAt: QueryClock.monotonicNanoseconds())
        guard !isQServant else { return true }
        if record.outbox.isEmpty { servantsWithOutbox.append(servantID) }
        record.outbox.append((query.tag, query.message))
        return record.outbox.count < min(record.batchLimit, configuration.servants.batchLimit)
            || flushOutbox(of: servantID)
    }

    /// Sends every outbox.
    private func flushOutboxes() {
        // A servant found gone is lost, which drains the queue into other outboxes: loop.
        while !servantsWithOutbox.isEmpty {
            let ids = servantsWithOutbox
            servantsWithOutbox.removeAll(keepingCapacity: true)
            for id in ids { flushOutbox(of: id) }
        }
    }

    /// Sends the servant's outbox as one QUERY message, `[tag, (id; query)]` per query; false
    /// when the servant cannot be reached: it is then lost, and the queries that were to go
    /// are back in the queue without counting as sent.
    @discardableResult
    private func flushOutbox(of id: UInt64) -> Bool {
        guard let record = servants[id], !record.outbox.isEmpty else { return true }
        var batch = record.outbox
        record.outbox = []
        let routingID = record.routingID
        do {
            if try beginServantMessage(routingID, .query, hasBody: true) {
                for index in batch.indices {
                    WireInteger.encode(batch[index].tag, into: &tagFrame)
                    try servantSocket.send(tagFrame, more: true)
                    try servantSocket.send(batch[index].message, more: index != batch.count - 1)
                }
                // The emptied storage goes back to the outbox: the next batch grows no array.
                batch.removeAll(keepingCapacity: true)
                if record.outbox.isEmpty { record.outbox = batch }
                return true
            }
        } catch {}
        for item in batch { inFlight[item.tag]?.query.dispatches -= 1 }
        servantLost(id, reason: "unreachable")
        return false
    }

    /// Offers the queued queries to the algorithm in arrival order, up to the look-ahead from
    /// the front, while a servant is free: a query it makes wait stays where it is and the
    /// ones behind it may go first. An algorithm that takes queries for a free servant
    /// (`take`) is asked first, for each free servant in the order of the list.
    private func drainQueue() {
        if algorithm.takesQueries, !queue.isEmpty {
            guard letFreeServantsTakeQueries() else { return }
        }
        var offset = 0
        while offset < queue.count, offset < configuration.dispatch.lookAhead, views.contains(where: \.isFree) {
            let query = queue[offset: offset]
            guard let index = choose(routing: query.routing) else {
                offset += 1
                continue
            }
            queue.remove(atOffset: offset)
            // A servant found gone was lost, which drained the queue again: stop here.
            guard dispatch(query, toReadyIndex: index) else { return }
        }
        if offset > 0 { offerAgainSoonWhileAServantIsFree() }
    }

    /// Asks the algorithm, for each free servant in the order of the list, which of the queries
    /// at the front of the line (up to the look-ahead) it takes, and dispatches them; false when
    /// a servant turned out to be gone (it was lost, which drained the queue again).
    private func letFreeServantsTakeQueries() -> Bool {
        // The routing strings in the look-ahead, gathered again only once a query was taken.
        var routings: [String] = []
        var index = 0
        while index < views.count, !queue.isEmpty {
            guard views[index].isFree else {
                index += 1
                continue
            }
            if routings.isEmpty {
                let window = min(queue.count, configuration.dispatch.lookAhead)
                routings.reserveCapacity(window)
                for offset in 0..<window { routings.append(queue[offset: offset].routing) }
            }
            guard let taken = algorithm.take(servant: views[index], routings: routings), taken >= 0,
                taken < routings.count
            else {
                index += 1
                continue
            }
            routings.removeAll(keepingCapacity: true)
            // The same servant is asked again while it is still free (a capacity above one).
            guard dispatch(queue.remove(atOffset: taken), toReadyIndex: index) else { return false }
        }
        return true
    }

    /// Queries the algorithm made wait while a servant was free are offered again within
    /// `reofferInterval`, not only at the next arrival or answer: an algorithm that waits for
    /// a time (match waits at most a cold run's worth) keeps its word when nothing else happens.
    private func offerAgainSoonWhileAServantIsFree() {
        guard reofferAt == nil, !queue.isEmpty, views.contains(where: \.isFree) else { return }
        reofferAt = QueryClock.monotonicNanoseconds() + Self.reofferInterval
    }

    /// How soon queries made to wait while a servant is free are offered again.
    static let reofferInterval: UInt64 = 1_000_000

    private func failQueued(reason: String) {
        for query in queue.removeAll() { reply(error: "mserve: \(reason)", to: query) }
    }

    // MARK: servants

    private func addServant(endpoint: String, serverKey: String? = nil) {
        guard servantByEndpoint[endpoint] == nil else { return }
        // Admission first: a q servant cannot prove a CURVE key, so a broker with keys refuses it.
        if let admission, !admission.admitsServant(endpoint: endpoint, serverKey: serverKey) { return }
        if KdbServantLinks.isKdbEndpoint(endpoint) { return addKdbServant(endpoint: endpoint) }
        let id = nextServantID
        nextServantID += 1
        let routingID = Self.routingID(ofServant: id)
        let (host, port) = Self.hostAndPort(endpoint)
        let record = ServantRecord(
            id: id, endpoint: endpoint, routingID: routingID, name: "\(host):\(port)", host: host)
        record.lastHeard = QueryClock.monotonicNanoseconds()
        do {
            try servantSocket.setConnectRoutingId(routingID)
            try admission?.prepareConnect(servantSocket, serverKey: serverKey)
            try servantSocket.connect(endpoint)
        } catch {
            logger.error("cannot connect to servant \(endpoint): \((error as? ZMQError)?.reason ?? "\(error)")")
            return
        }
        servants[id] = record
        servantByEndpoint[endpoint] = id
        logger.info("servant added", metadata: ["endpoint": "\(endpoint)"])
    }

    private func removeServant(endpoint: String, reason: String) {
        guard let id = servantByEndpoint[endpoint], let record = servants[id] else { return }
        servantLost(id, reason: reason)
        if kdbServants.owns(id) {
            kdbServants.remove(servantID: id)
        } else {
            sendToServant(record.routingID, .bye)
            try? servantSocket.disconnect(endpoint)
        }
        servants[id] = nil
        servantByEndpoint[endpoint] = nil
    }

    /// The routing id the broker gives servant `id` on its servant socket: `servant-ID`.
    static func routingID(ofServant id: UInt64) -> [UInt8] {
        Array("servant-\(id)".utf8)
    }

    /// The servant id in a routing id made by ``routingID(ofServant:)``; nil for anything else.
    /// Read in place: this runs for every message from a servant.
    static func servantID(fromRoutingID bytes: ArraySlice<UInt8>) -> UInt64? {
        let prefix = "servant-".utf8
        guard bytes.count > prefix.count, bytes.count <= prefix.count + 20,
            bytes.prefix(prefix.count).elementsEqual(prefix)
        else { return nil }
        var id: UInt64 = 0
        for byte in bytes.dropFirst(prefix.count) {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = id.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            id = sum
        }
        return id
    }

    static func hostAndPort(_ endpoint: String) -> (String, String) {
        var rest = Substring(endpoint)
        if let range = rest.range(of: "://") { rest = rest[range.upperBound...] }
        guard let colon = rest.lastIndex(of: ":") else { return (String(rest), "") }
        return (String(rest[..<colon]), String(rest[rest.index(after: colon)...]))
    }

    /// Sends `[routing id, MSV1, command, body…]`; false when the servant is not connected.
    @discardableResult
    private func sendToServant(_ routingID: [UInt8], _ command: ServantCommand, _ body: [UInt8]...) -> Bool {
        do {
            guard try beginServantMessage(routingID, command, hasBody: !body.isEmpty) else { return false }
            for index in body.indices {
                try servantSocket.send(body[index], more: index != body.count - 1)
            }
            return true
        } catch {
            return false
        }
    }

    /// Sends the head of a servant message, `[routing id, MSV1, command`; the caller sends the
    /// body frames next when `hasBody`. False when the servant is not connected: nothing is
    /// sent then, since the routing id goes first, alone, and only it can fail to route.
    private func beginServantMessage(
        _ routingID: [UInt8], _ command: ServantCommand, hasBody: Bool
    ) throws(ZMQError) -> Bool {
        guard try servantSocket.send(routingID, more: true, dontWait: true) else { return false }
        try servantSocket.send(ServantLink.protocolMarker, more: true)
        try servantSocket.send(command.frame, more: hasBody)
        return true
    }

    private func readMonitor() {
        while let event = try? monitor.next(dontWait: true) {
            guard let id = servantByEndpoint[event.endpoint], let record = servants[id] else { continue }
            if event.event.contains(.connected) {
                record.connected = true
                record.unreachableLogged = false
                sendHello(id)
            } else if event.event.contains(.disconnected) {
                record.connected = false
                servantLost(id, reason: "disconnected")
            } else if event.event.contains(.connectRetried), !record.connected, !record.unreachableLogged {
                record.unreachableLogged = true
                logger.notice(
                    "cannot reach servant; retrying until it is up", metadata: ["servant": "\(record.endpoint)"])
            }
        }
    }

    private func sendHello(_ id: UInt64) {
        guard let record = servants[id] else { return }
        record.lastHelloSent = QueryClock.monotonicNanoseconds()
        sendToServant(
            record.routingID, .hello, WireInteger.encode(incarnation),
            WireInteger.encode(UInt64(max(1, configuration.servants.batchLimit))))
    }

    /// Reads and handles every waiting servant message; returns how many there were.
    @discardableResult
    private func readServants() -> Int {
        var handled = 0
        while true {
            do {
                guard try servantSocket.receive(into: &servantFrames, dontWait: true) else {
                    flushOutboxes()
                    return handled
                }
            } catch {
                logger.error("receiving from servants failed: \(error)")
                return handled
            }
            handled += 1
            let frames = servantFrames
            guard frames.count >= 3, frames[1].elementsEqual(ServantLink.protocolMarker),
                let command = ServantCommand(frame: frames[2])
            else {
                logger.warning("dropped a servant message that is not MSV1")
                continue
            }
            guard let id = Self.servantID(fromRoutingID: frames[0]), let record = servants[id],
                record.routingID.elementsEqual(frames[0])
            else {
                continue  // a servant we removed
            }
            record.lastHeard = QueryClock.monotonicNanoseconds()
            switch command {
            case .ready: servantReady(id, readyInfo: frames.count > 3 ? frames.copy(of: 3) : nil)
            case .pong:
                if let reported = frames.count > 3 ? WireInteger.decode(frames[3]) : nil,
                    record.state == .ready, reported != record.incarnation
                {
                    servantLost(id, reason: "restarted")
                    sendHello(id)
                }
            case .reply:
                // `tag, reply` alone, or one or more `tag, reply, execution` triples.
                let bodyFrames = frames.count - 3
                guard bodyFrames == 2 || (bodyFrames > 0 && bodyFrames % 3 == 0) else {
                    logger.warning("dropped a malformed REPLY from a servant")
                    continue
                }
                for first in stride(from: 3, to: frames.count, by: 3) {
                    guard let tag = WireInteger.decode(frames[first]) else {
                        logger.warning("dropped a REPLY with a malformed tag from a servant")
                        continue
                    }
                    completeQuery(
                        servantID: id, tag: tag, replyMessage: frames.copy(of: first + 1),
                        reportedExecution: frames.count > first + 2 ? WireInteger.decode(frames[first + 2]) : nil)
                }
            case .bye: servantLost(id, reason: "said goodbye")
            case .hello, .query, .ping:
                logger.warning("dropped an unexpected \(command.rawValue) from servant \(record.name)")
            }
        }
    }

    /// A ZeroMQ servant's READY: its capacity, batch limit, incarnation and name.
    private func servantReady(_ id: UInt64, readyInfo: [UInt8]?) {
        guard let record = servants[id] else { return }
        var capacity = 1
        var batchLimit = 1
        var incarnation: UInt64 = 0
        var name: String? = nil
        if let readyInfo, let info = try? QIPC.decode(readyInfo).value,
            let entries = InfoDictionary.symbolKeyedEntries(info)
        {
            for (key, value) in entries {
                switch (key, value) {
                case ("capacity", .atom(.long(let n))): capacity = max(1, Int(n))
                case ("batch", .atom(.long(let n))): batchLimit = max(1, Int(min(n, 1 << 20)))
                case ("incarnation", .atom(.long(let n))): incarnation = UInt64(bitPattern: n)
                case ("name", .atom(.symbol(let text))) where !text.isEmpty: name = text
                default: break
                }
            }
        }
        // Without its incarnation a restart of the servant could not be told from a repeated
        // READY, and queries lost with the old process would wait for ever: not ready.
        guard incarnation != 0 else {
            if !record.badReadyLogged {
                record.badReadyLogged = true
                logger.warning(
                    "ignored a READY without an incarnation (a nonzero long, docs/PROTOCOL.md); the servant stays out of dispatch",
                    metadata: ["servant": "\(record.name)"])
            }
            return
        }
        if let name { record.name = name }
        becomeReady(id, capacity: capacity, batchLimit: batchLimit, incarnation: incarnation)
    }

    /// Puts a servant in dispatch (a ZeroMQ servant's READY, a q servant's connection). A
    /// servant already ready under another incarnation restarted: its queries are lost first.
    private func becomeReady(_ id: UInt64, capacity: Int, batchLimit: Int, incarnation: UInt64) {
        guard let record = servants[id] else { return }
        if record.state == .ready {
            if record.incarnation == incarnation { return }
            servantLost(id, reason: "restarted")
        }
        record.capacity = capacity
        record.batchLimit = batchLimit
        record.incarnation = incarnation
        record.state = .ready
        record.inFlight = 0
        // Keep servants in the order they were added (the configuration's order, then joins),
        // whatever order they became ready in: "the top of the list" means the same every run.
        let position = readyIDs.firstIndex { $0 > id } ?? readyIDs.count
        readyIDs.insert(id, at: position)
        views.insert(record.view, at: position)
        logger.info(
            "servant ready",
            metadata: ["servant": "\(record.name)", "capacity": "\(capacity)"])
        loggedWaitingWithoutServants = false
        drainQueue()
    }

    /// Answers the client of query `tag` with the servant's `(id; result[; info])`.
    private func completeQuery(servantID id: UInt64, tag: UInt64, replyMessage: [UInt8], reportedExecution: UInt64?) {
        let now = QueryClock.monotonicNanoseconds()
        // A reply from a servant the query is no longer at (one lost, whose query went to
        // another) must leave the query in flight there: that servant's answer is the one due.
        guard inFlight[tag]?.servantID == id, let flight = inFlight.removeValue(forKey: tag) else {
            logger.debug("dropped a late reply", metadata: ["tag": "\(tag)"])
            return
        }
        let execution = reportedExecution ?? (now &- flight.dispatchedAt)
        var servantName = ""
        if let record = servants[id] {
            record.inFlight = max(0, record.inFlight - 1)
            record.served += 1
            record.totalExecution &+= execution
            servantName = record.name
            if let index = readyIDs.firstIndex(of: id) {
                views[index].inFlight = record.inFlight
                views[index].queriesServed = record.served
                views[index].meanExecutionNanoseconds = record.totalExecution / record.served
                algorithm.completed(
                    servant: views[index], routing: flight.query.routing, executionNanoseconds: execution)
            }
        }
        if !flight.abandoned {
            let query = flight.query
            let timings = QueryTimings(
                received: query.receivedTimestamp,
                queued: Int64(flight.dispatchedAt &- query.receivedAt),
                execution: Int64(execution),
                elapsed: Int64(now &- query.receivedAt))
            do {
                let sliced = try SlicedReply(bytes: replyMessage)
                sendToClient(
                    query.route,
                    ReplyAssembly.clientReply(
                        sliced, routing: query.routing, servant: servantName, timings: timings))
            } catch {
                logger.warning("servant \(servantName) sent a malformed reply: \(error.message)")
                reply(error: "mserve: the servant sent a malformed reply", to: query, servant: servantName)
            }
        }
        drainQueue()
    }

    /// Takes a servant out of dispatch and re-dispatches or fails what it was running.
    private func servantLost(_ id: UInt64, reason: String) {
        guard let record = servants[id] else { return }
        let wasReady = record.state == .ready
        record.state = .lost
        record.inFlight = 0
        // Its unsent queries are in flight too: they go back to the queue below, not counted
        // as sent (they never left), so the redispatch limit counts only real sends.
        for item in record.outbox { inFlight[item.tag]?.query.dispatches -= 1 }
        record.outbox.removeAll()
        if let index = readyIDs.firstIndex(of: id) {
            readyIDs.remove(at: index)
            views.remove(at: index)
        }
        if wasReady {
            logger.warning("servant lost", metadata: ["servant": "\(record.name)", "reason": "\(reason)"])
        }
        let orphans = inFlight.values.filter { $0.servantID == id }.sorted { $0.query.tag > $1.query.tag }
        for flight in orphans {
            inFlight[flight.query.tag] = nil
            if flight.abandoned { continue }
            if flight.query.dispatches <= configuration.servants.redispatchLimit {
                queue.prepend(flight.query)
            } else {
                reply(
                    error:
                        "mserve: servant \(record.name) was lost (\(reason)) while running the query; "
                        + "sent \(flight.query.dispatches) time(s), giving up",
                    to: flight.query, servant: record.name)
            }
        }
        drainQueue()
    }

    // MARK: timers

    private func timers(now: UInt64) {
        if now >= nextHeartbeat {
            nextHeartbeat = now + heartbeatNanoseconds
            // q servants' liveness is their TCP connection (KdbServantLinks).
            for record in servants.values where !kdbServants.owns(record.id) {
                switch record.state {
                case .ready:
                    if now &- record.lastHeard > livenessNanoseconds {
                        servantLost(record.id, reason: "missed heartbeats")
                    } else if record.connected {
                        sendToServant(record.routingID, .ping)
                    }
                case .connecting, .lost:
                    if record.connected && now &- record.lastHelloSent >= heartbeatNanoseconds {
                        sendHello(record.id)
                    }
                }
            }
        }
        if let reofferAt, now >= reofferAt {
            self.reofferAt = nil
            drainQueue()
        }
        if now >= nextDeadlineScan {
            nextDeadlineScan = now + 50_000_000
            expireDeadlines(now: now)
            resetKdbServantsPastDeadline()
        }
        if let (answeredNow, perSecond) = status.due(now: now, count: answered) {
            logStatus(answeredNow: answeredNow, perSecond: perSecond)
        }
    }

    /// Logs what the broker did in the last period and holds now, unless it was idle.
    private func logStatus(answeredNow: UInt64, perSecond: Int) {
        guard answeredNow > 0 || !queue.isEmpty || !inFlight.isEmpty else { return }
        logger.info(
            "broker status",
            metadata: [
                "answered": "\(answered)", "perSecond": "\(perSecond)",
                "queued": "\(queue.count)", "inFlight": "\(inFlight.count)",
                "servantsReady": "\(readyIDs.count)/\(servants.count)",
            ])
    }

    private func expireDeadlines(now: UInt64) {
        // New queries queue in arrival order, so the expired ones among them come first. Ahead
        // of them are the queries of lost servants, in the order the servants were lost: an
        // older one may wait behind a younger one there, so each is looked at.
        var expiredQueued = false
        var requeued = queue.prependedCount
        var offset = 0
        while offset < requeued {
            guard queue[offset: offset].deadline <= now else {
                offset += 1
                continue
            }
            let expired = queue.remove(atOffset: offset)
            requeued -= 1
            reply(error: "mserve: deadline exceeded: no servant was free in time", to: expired)
            expiredQueued = true
        }
        while requeued < queue.count, queue[offset: requeued].deadline <= now {
            let expired = queue.remove(atOffset: requeued)
            reply(error: "mserve: deadline exceeded: no servant was free in time", to: expired)
            expiredQueued = true
        }
        // The queries behind one that held the front may go now.
        if expiredQueued { drainQueue() }
        for (tag, flight) in inFlight where !flight.abandoned && flight.query.deadline <= now {
            inFlight[tag]?.abandoned = true
            let name = servants[flight.servantID]?.name ?? ""
            reply(
                error: "mserve: deadline exceeded: servant \(name) did not answer in time",
                to: flight.query, servant: name)
            // A q servant is reset for it (resetKdbServantsPastDeadline); a ZeroMQ servant may
            // still be running it, and counts as busy with it until it answers.
            logger.warning(
                "a query passed its deadline at its servant; the client got an error",
                metadata: [
                    "servant": "\(name)", "deadline": "\(configuration.dispatch.queryDeadline)",
                    "routing": "\(flight.query.routing)",
                ])
        }
    }
}

// MARK: q servants

extension BrokerLoop {
    /// Starts using the q servant at `kdb://host:port`: a servant of capacity 1, ready while
    /// its kdb+ IPC connection is logged in (KdbServantLinks.swift).
    private func addKdbServant(endpoint: String) {
        let id = nextServantID
        do {
            try kdbServants.add(servantID: id, endpoint: endpoint)
        } catch {
            logger.error("cannot use q servant \(endpoint): \(error)")
            return
        }
        nextServantID += 1
        let (host, port) = Self.hostAndPort(endpoint)
        servants[id] = ServantRecord(
            id: id, endpoint: endpoint, routingID: [], name: "\(host):\(port)", host: host)
        servantByEndpoint[endpoint] = id
        logger.info("servant added", metadata: ["endpoint": "\(endpoint)"])
    }

    /// A q servant holding a query past its deadline is reconnected, which frees it: q sends
    /// nothing back when an async handler fails, so such a servant would stay busy for ever.
    private func resetKdbServantsPastDeadline() {
        for (id, tags) in kdbServants.pendingTags where tags.allSatisfy({ inFlight[$0]?.abandoned ?? true }) {
            kdbServants.reset(servantID: id, reason: "no answer before the query's deadline")
            servantLost(id, reason: "no answer before the query's deadline")
        }
    }

    private func handleKdbServant(_ event: KdbServantEvent) {
        switch event {
        case .ready(let id):
            servants[id]?.connected = true
            // One query at a time; a q servant's connection is its session, so no incarnation.
            becomeReady(id, capacity: 1, batchLimit: 1, incarnation: 0)
        case .lost(let id, let reason):
            servants[id]?.connected = false
            servantLost(id, reason: reason)
        case .reply(let id, let tag, let message):
            // The servant saw the broker's tag in the id's place; the client gets its own id.
            let restored = inFlight[tag].flatMap { try? KdbServantLinks.restoringClientID(message, id: $0.query.id) }
            completeQuery(servantID: id, tag: tag, replyMessage: restored ?? message, reportedExecution: nil)
        }
    }
}
