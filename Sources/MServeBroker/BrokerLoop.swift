// The broker's event loop: its state, the sockets it owns, and the turn that polls them.
// What a turn does lives beside it, one concern a file: BrokerLoop+Clients, +Dispatch,
// +Servants, +Timers and +KdbServants.

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

/// The broker's event loop. Lives on one thread and owns every piece of broker state.
final class BrokerLoop {
    let configuration: BrokerConfiguration
    var logger: Logger
    let mailbox: ZMQMailbox<BrokerCommand>
    let algorithm: any DispatchAlgorithm
    let routingHook: (any DispatchAlgorithm)?
    let allowlist: FunctionAllowlist

    let context: ZMQContext
    let clientSocket: ZMQSocket
    let servantSocket: ZMQSocket
    let monitor: ZMQMonitor
    let incarnation: UInt64
    /// CURVE security, when configured (BrokerAdmission.swift).
    let admission: BrokerAdmission?
    /// What the loop counts (BrokerMetrics.swift): one call per event, on this thread.
    let metrics: BrokerMetrics
    /// The kdb+ IPC door, when configured (KdbDoor.swift).
    let kdbDoor: KdbDoor?
    /// Connections to q servants, `kdb://host:port` (KdbServantLinks.swift).
    let kdbServants: KdbServantLinks

    var servants: [UInt64: ServantRecord] = [:]
    var servantByEndpoint: [String: UInt64] = [:]
    /// Ready servants in join order, and their views (kept in step).
    var readyIDs: [UInt64] = []
    var views: [ServantView] = []
    /// Servants with queries in their outbox (an id may appear more than once).
    var servantsWithOutbox: [UInt64] = []

    /// Reusable receive buffers, one per socket: reading a message allocates nothing.
    var clientFrames = ZMQFrames()
    var servantFrames = ZMQFrames()
    /// The tag frame of the query being sent, rewritten for each (WireInteger).
    var tagFrame: [UInt8] = []
    /// Client envelopes by routing id, for one-frame envelopes of up to 7 bytes (libzmq's own
    /// ids are 5): a client's envelope is the same on every message, so it is made once.
    var envelopes: [UInt64: [[UInt8]]] = [:]

    var queue = FIFOQueue<HeldQuery>()
    var inFlight: [UInt64: InFlightQuery] = [:]
    var nextTag: UInt64 = 1
    var nextServantID: UInt64 = 1
    var answered: UInt64 = 0
    var stopping = false
    /// Whether queries waiting with no servant ready were logged; once until one is ready.
    var loggedWaitingWithoutServants = false
    /// Lines a client can cause at any rate: a line a second each, with a count of the rest.
    var malformedMessageLog = LogThrottle()
    var refusedQueryLog = LogThrottle()
    var droppedReplyLog = LogThrottle()
    var invalidChoiceLog = LogThrottle()

    /// When the status line is next due.
    var status: StatusSchedule

    let heartbeatNanoseconds: UInt64
    let livenessNanoseconds: UInt64
    let deadlineNanoseconds: UInt64
    /// The largest message taken from a client or a servant, compressed or once decompressed.
    let maxMessageSize: Int
    var nextHeartbeat: UInt64 = 0
    var nextDeadlineScan: UInt64 = 0
    /// When to offer the queued queries again, while the algorithm makes them wait with a
    /// servant free (`offerAgainSoonWhileAServantIsFree`).
    var reofferAt: UInt64?
    /// Since when no servant has been ready (monotonic clock, as the deadline scan saw it);
    /// nil while one is. Queued queries then wait at most `servantWait`.
    var noServantReadySince: UInt64?

    /// The endpoint clients connect to, with the real port.
    let clientEndpoint: String
    /// When the loop was made (monotonic clock), for the uptime.
    let startedAt = QueryClock.monotonicNanoseconds()

    init(
        configuration: BrokerConfiguration,
        logger: Logger,
        mailbox: ZMQMailbox<BrokerCommand>,
        algorithm: any DispatchAlgorithm,
        routingHook: (any DispatchAlgorithm)?,
        metrics: BrokerMetrics = .disabled
    ) throws {
        self.configuration = configuration
        self.metrics = metrics
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
        maxMessageSize = Int(configuration.clients.maxMessageSize)
        incarnation = UInt64.random(in: 1...UInt64.max)
        kdbServants = KdbServantLinks(
            credentials: configuration.servants.kdbCredentials,
            maxMessageSize: maxMessageSize, logger: logger)

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
            kdbDoor = try configuration.kdb.map { try KdbDoor(configuration: $0, logger: logger, metrics: metrics) }
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

    func pollTimeout(now: UInt64) -> Int {
        let next = min(nextHeartbeat, nextDeadlineScan, reofferAt ?? .max)
        if next <= now { return 0 }
        return Int(min((next - now) / 1_000_000 + 1, 100))
    }

    func shutdown() {
        for (tag, flight) in inFlight where !flight.abandoned {
            reply(
                error: "the broker shut down before the servant answered", to: flight.query,
                stage: .running(since: flight.dispatchedAt))
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
        // The replies just sent (the last answers, the shutdown errors) must reach their
        // clients: closed at once, libzmq would drop what it has not written yet.
        try? clientSocket.setLinger(milliseconds: 1_000)
        clientSocket.close()
        servantSocket.close()
        admission?.stop()
        context.terminate()
        logger.info("broker stopped", metadata: ["answered": "\(answered)"])
    }

    func snapshot() -> BrokerSnapshot {
        let ordered = servants.values.sorted { $0.id < $1.id }
        return BrokerSnapshot(
            servants: ordered.map {
                ServantStatus(
                    endpoint: $0.endpoint, name: $0.name, state: $0.state.rawValue,
                    inFlight: $0.inFlight, capacity: $0.capacity, served: $0.served,
                    meanExecution: .nanoseconds(Int64(clamping: $0.meanExecutionNanoseconds)),
                    lastRouting: $0.lastRouting, lost: $0.lost)
            },
            queued: queue.count, inFlight: inFlight.count, answered: answered,
            clientEndpoint: clientEndpoint, algorithm: configuration.dispatch.algorithm,
            uptime: .nanoseconds(Int64(clamping: QueryClock.monotonicNanoseconds() &- startedAt)),
            settings: BrokerSnapshot.Settings(configuration))
    }
}
