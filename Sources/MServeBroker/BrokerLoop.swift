// The broker's event loop: its state, the sockets it owns, and the turn that polls them.
// What a turn does lives beside it, one concern a file: BrokerLoop+Clients, +Dispatch,
// +Servants, +Timers and +KdbServants.

import Logging
import MServePlugin
import MServeProtocol
import ProcessMemory
import MServeQuery
import QData
import ZeroMQ

/// Commands other threads post to the broker's loop.
enum BrokerControl: Sendable {
    case addServant(endpoint: String, serverKey: String?)
    case removeServant(endpoint: String)
    case servantLeft(endpoint: String)
    case snapshot(@Sendable (BrokerSnapshot) -> Void)
    case stop
    /// Runs `body` on the loop's thread between two turns, or `dropped` if the loop stops
    /// first: for tests that must put the loop in a state no timing can be relied on to
    /// reach (``Broker/onLoop(_:)``).
    case onLoop(body: @Sendable (BrokerLoop) -> Void, dropped: @Sendable () -> Void)

    /// A command the loop will not run (it stopped, or never started): whoever waits on it is
    /// answered (a snapshot with `final`, a closure with `dropped`), so no asker waits for ever.
    func answerUnrun(with final: BrokerSnapshot) {
        switch self {
        case .snapshot(let reply): reply(final)
        case .onLoop(_, let dropped): dropped()
        case .addServant, .removeServant, .servantLeft, .stop: break
        }
    }
}

/// The broker's event loop. Lives on one thread and owns every piece of broker state.
///
/// The state the loop touches for every query is marked `@exclusivity(unchecked)`: only the
/// loop's own thread reaches it, one method at a time, so Swift's run-time check that no two
/// accesses overlap (a call into the runtime at the start and end of each) guards nothing
/// here and cost the loop about 5 % of its time (`perf`, bench/README.md).
final class BrokerLoop {
    let configuration: BrokerConfiguration
    var logger: Logger
    /// The poll set, timers, mailbox and state (running, draining, stopped) of the loop.
    let events: ZMQEventLoop<BrokerControl>
    let algorithm: any DispatchAlgorithm
    let routingHook: (any DispatchAlgorithm)?
    let allowlist: FunctionAllowlist

    /// The context and everything opened in it, closed together.
    let resources: ZMQContextScope
    let clientSocket: ZMQSocket
    let servantSocket: ZMQSocket
    let monitor: ZMQMonitor
    let incarnation: UInt64
    /// CURVE security, when configured (BrokerAdmission.swift).
    let admission: BrokerAdmission?
    /// What the loop counts (BrokerMetrics.swift): one call per event, plain adds on this
    /// thread; each snapshot carries a copy.
    @exclusivity(unchecked) var metrics = BrokerMetrics()
    /// The kdb+ IPC door, when configured (KdbDoor.swift).
    let kdbDoor: KdbDoor?
    /// Connections to q servants, `kdb://host:port` (KdbServantLinks.swift).
    let kdbServants: KdbServantLinks

    @exclusivity(unchecked) var servants: [UInt64: ServantRecord] = [:]
    var servantByEndpoint: [String: UInt64] = [:]
    /// Servants in session with this broker that the hub no longer lists: kept while their
    /// session lasts (``servantLeft(endpoint:)``).
    var unlistedServants: Set<UInt64> = []
    /// Those of them whose session ended, to be removed at the end of the turn's timers
    /// (``forgetUnlistedServantsOutOfSession()``).
    var unlistedOutOfSession: [UInt64] = []
    /// Endpoints of servants that were in session with this broker and were removed since.
    var formerServantEndpoints = FormerServantEndpoints()
    /// Ready servants in join order, and their views (kept in step).
    @exclusivity(unchecked) var readyIDs: [UInt64] = []
    @exclusivity(unchecked) var views: [ServantView] = []
    /// The index in `readyIDs` and `views` of each ready servant, and how many of them are free
    /// (kept in step with `views`): a query's bookkeeping looks no servant up by scanning.
    @exclusivity(unchecked) var readyPosition: [UInt64: Int] = [:]
    /// The free ready servants, in list order (ids ascend down the list), and apart by the
    /// functions they announced: a free servant is found without a pass over the busy ones,
    /// and one that may take a waiting query without a pass over those serving none of them.
    @exclusivity(unchecked) var freeServants = FreeServants()
    var freeReadyServants: Int { freeServants.count }
    /// Which functions the servants serve (what narrows dispatch and refuses unserved functions).
    let serviceFunctions = ServiceFunctions()
    /// The views of the ready servants serving one function, and their indices in `views`:
    /// the candidates `choose` is given when not every ready servant serves the query's function.
    @exclusivity(unchecked) var candidateViews: [ServantView] = []
    @exclusivity(unchecked) var candidateIndices: [Int] = []
    /// Servants with queries in their outbox (an id may appear more than once).
    @exclusivity(unchecked) var servantsWithOutbox: [UInt64] = []
    /// The ids `flushOutboxes` is sending, swapped with `servantsWithOutbox` so that neither
    /// array is copied or grown again at each flush.
    @exclusivity(unchecked) var servantsBeingFlushed: [UInt64] = []

    /// Reusable receive buffers, one per socket: reading a message allocates nothing.
    @exclusivity(unchecked) var clientFrames = ZMQFrames()
    @exclusivity(unchecked) var servantFrames = ZMQFrames()
    /// The tag frame of the query being sent, rewritten for each (WireInteger).
    @exclusivity(unchecked) var tagFrame: [UInt8] = []
    /// Client envelopes by routing id, for one-frame envelopes of up to 7 bytes (libzmq's own
    /// ids are 5): a client's envelope is the same on every message, so it is made once.
    @exclusivity(unchecked) var envelopes: [UInt64: [[UInt8]]] = [:]
    /// Replies to ZeroMQ clients made since the loop last sent them (``sendClientReplies()``):
    /// they leave together, at the end of each read, so that libzmq's I/O thread finds them
    /// in one wake-up and writes each client's in as few `send` calls as it can.
    @exclusivity(unchecked) var clientReplies: [PendingClientReply] = []
    /// Reply messages a send emptied, reused for the next replies (``ClientReplyFrame/frame(reusing:)``):
    /// a reply then costs libzmq's body alone, no message object of its own.
    @exclusivity(unchecked) var emptyReplyMessages: [ZMQMessage] = []
    /// The bytes libzmq holds for each ZeroMQ client, and the replies dropped for it
    /// (``BrokerConfiguration/Clients/maxBufferedReplyBytes``).
    @exclusivity(unchecked) var replyBacklogs = ClientReplyBacklogs()
    /// Whether some client has dropped replies its last log line did not count.
    var hasUnloggedReplyDrops = false
    /// The head and tail of the client reply being made around a servant's result (``ReplyAssembly``):
    /// kept from one reply to the next, so making one allocates neither.
    @exclusivity(unchecked) var replyHead: [UInt8] = []
    @exclusivity(unchecked) var replyTail: [UInt8] = []
    /// The queries that passed the checks, by their bytes: one sent again is not parsed again.
    @exclusivity(unchecked) var checkedQueries = CheckedQueryCache()

    @exclusivity(unchecked) var queue = QueryQueue()
    /// Queued queries whose function no ready servant serves (its servants lost), taken out of
    /// the line by an offer so that they hold no place in the look-ahead, in arrival order. They
    /// go back to the front of the line (``unparkQueries()``) when a servant becomes ready and
    /// at every deadline scan, which answers those that waited long enough. They count as
    /// queued everywhere.
    @exclusivity(unchecked) var parked = QueryQueue()
    /// The earliest deadline of the parked queries; nil while none is parked. The loop wakes
    /// for it (`run`), so that a parked query is answered at its deadline, not at the next scan.
    @exclusivity(unchecked) var earliestParkedDeadline: UInt64?
    /// Records of answered queries, reused for new ones.
    @exclusivity(unchecked) var heldQueries = HeldQueryPool()
    /// The queries sent to servants and not answered yet, by tag (InFlightTable.swift).
    @exclusivity(unchecked) var inFlight = InFlightTable()
    @exclusivity(unchecked) var nextTag: UInt64 = 1
    var nextServantID: UInt64 = 1
    @exclusivity(unchecked) var answered: UInt64 = 0
    /// Whether the broker is stopping: draining what it holds, taking no new queries.
    var stopping: Bool { events.state != .running }
    /// Whether queries waiting with no servant ready were logged; once until one is ready.
    var loggedWaitingWithoutServants = false
    /// Lines a client can cause at any rate: a line a second each, with a count of the rest.
    /// Lines about client messages dropped or refused before their query is read, one throttle
    /// for each kind (``ClientMessageLine``).
    var clientMessageLog = LogThrottles<ClientMessageLine>()
    var refusedQueryLog = LogThrottle()
    /// Queued queries dropped with their closed kdb+ connection: a line a second at most.
    var closedClientQueriesLog = LogThrottle()
    /// Queries refused as queue full (`--queue-capacity`, `--queue-bytes`): a burst of them
    /// hides no other refusal.
    var queueFullLog = LogThrottle()
    var clientGoneLog = LogThrottle()
    var invalidChoiceLog = LogThrottle()
    /// Calls into the dispatch plugin that held up the loop (BrokerLoop+PluginCalls.swift).
    var slowPluginCallLog = LogThrottle()
    /// Queries whose deadline passed in the queue while the algorithm kept them waiting with a
    /// servant free.
    var keptWaitingLog = LogThrottle()
    /// Servant messages the protocol does not define: a line a second of each kind, as a peer
    /// may send them at any rate.
    var unreadableServantMessageLog = LogThrottles<UnreadableServantMessage>()
    /// QUERYs and PINGs from servants, which only a broker sends: a line a second of each.
    var unexpectedServantCommandLog = LogThrottles<ServantCommand>()
    /// PONGs without an 8-byte incarnation, and PONGs whose incarnation is not the READY's: a
    /// line a second at most of each.
    var pongLog = LogThrottles<PongProblem>()
    /// REPLYs the broker cannot read, and READYs it refuses in a servant's session: a line a
    /// second each, as a servant may send them at any rate.
    var malformedReplyLog = LogThrottle()
    var repeatedReadyLog = LogThrottle()
    /// Servants that sent a REPLY naming no query they run that the broker could read, with
    /// what was wrong with it: lost, and their connection ended once the servant socket is read
    /// to the end (ending it while a message may be half taken from it would abort libzmq;
    /// ``BrokerLoop/readServants()``).
    var untrustedServants: [(id: UInt64, what: String)] = []

    /// When the status line is next due.
    var status: StatusSchedule
    /// When to give freed memory back to the system (BrokerLoop+Timers.swift).
    var memoryRelease = MemoryReleaseSchedule()

    let heartbeatNanoseconds: UInt64
    /// When the loop last looked for a pause of its own (``noticeAPause()``).
    @exclusivity(unchecked) var lastAwake: UInt64 = 0
    let livenessNanoseconds: UInt64
    let deadlineNanoseconds: UInt64
    /// How often the deadline scan runs (``BrokerConfiguration/Dispatch/deadlineScanInterval``).
    let deadlineScanNanoseconds: UInt64
    /// The largest message taken from a client or a servant, compressed or once decompressed.
    let maxMessageSize: Int
    /// The most reply bytes libzmq may hold for one ZeroMQ client before replies to it are dropped.
    let maxBufferedReplyBytes: Int
    /// The reply bytes kept for all ZeroMQ clients together
    /// (``BrokerConfiguration/Clients/maxBufferedReplyBytesTotal``).
    let maxBufferedReplyBytesTotal: Int
    @exclusivity(unchecked) var nextHeartbeat: UInt64 = 0
    /// The heartbeat slot whose servants the next heartbeat turn visits (`HeartbeatSlots`).
    var heartbeatSlot: UInt64 = 0
    @exclusivity(unchecked) var nextDeadlineScan: UInt64 = 0
    /// When to offer the queued queries again, while the algorithm makes them wait with a
    /// servant free (`offerAgainSoonWhileAServantIsFree`).
    @exclusivity(unchecked) var reofferAt: UInt64?
    /// Since when no servant has been ready (monotonic clock, as the deadline scan saw it);
    /// nil while one is. Queued queries then wait at most `servantWait`.
    var noServantReadySince: UInt64?
    /// While servants are ready but none serving some function is (``ServiceFunctions/someFunctionLacksAReadyServant``):
    /// since when each function queued queries call has had none, as the deadline scan found.
    var noServantReadyForFunctionSince: [String: UInt64] = [:]
    /// The earliest deadline of the queued queries with a deadline of their own (a client's
    /// option), which may expire before queries ahead of them; nil when none was queued.
    @exclusivity(unchecked) var earliestOwnDeadlineQueued: UInt64?
    /// The earliest deadline of the queries in flight, or an earlier one (of a query answered
    /// since); nil when none was in flight. Lowered at each dispatch and recomputed by each pass
    /// over `inFlight` (``expireInFlightQueries(now:)``): the loop wakes for it, so that a query
    /// at a servant is answered at its deadline, not at the next deadline scan.
    @exclusivity(unchecked) var earliestDeadlineInFlight: UInt64?
    /// The earliest deadline of the queries put back at the front of the queue (``putBack(_:)``:
    /// a lost servant's, the parked ones offered again), or an earlier one (of a query sent
    /// since); recomputed by each pass over them (``expireQueuedQueries(now:)``).
    @exclusivity(unchecked) var earliestPutBackDeadline: UInt64?
    /// The earliest deadline among the queued queries: a client's own shorter deadline, the
    /// first arrival's, a parked query's, or one put back at the front. The loop wakes for it
    /// (`run`), so that a queued query is answered at its deadline.
    var earliestQueuedDeadline: UInt64 {
        let prepended = queue.prependedCount
        let firstArrived = queue.count > prepended ? queue[offset: prepended].deadline : .max
        let putBack = prepended > 0 ? earliestPutBackDeadline ?? .max : .max
        return min(min(earliestOwnDeadlineQueued ?? .max, earliestParkedDeadline ?? .max), min(firstArrived, putBack))
    }
    /// When the loop last read a client message (monotonic nanoseconds).
    var lastClientMessageAt: UInt64 = 0
    /// While the loop is saturated, when it reads the client socket next (see `run`).
    var nextClientReadWhileSaturated: UInt64 = 0
    /// While the broker stops, once nothing runs: the replies sent so far (``answered``) and
    /// since when none has been sent, and when the last running query ended (see
    /// ``repliesReadGrace``); nil before.
    var closing: (answered: UInt64, quietSince: UInt64, drainedAt: UInt64)?

    /// The endpoint clients connect to, with the real port.
    let clientEndpoint: String
    /// When the loop was made (monotonic clock), for the uptime.
    let startedAt = QueryClock.monotonicNanoseconds()

    init(
        configuration: BrokerConfiguration,
        logger: Logger,
        mailbox: ZMQMailbox<BrokerControl>,
        algorithm: any DispatchAlgorithm,
        routingHook: (any DispatchAlgorithm)?
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.events = ZMQEventLoop(mailbox: mailbox)
        self.algorithm = algorithm
        self.routingHook = routingHook
        self.allowlist =
            configuration.dispatch.allowedFunctions.isEmpty
            ? .any : FunctionAllowlist(configuration.dispatch.allowedFunctions)
        status = StatusSchedule(every: configuration.statusInterval, now: QueryClock.monotonicNanoseconds())
        heartbeatNanoseconds = configuration.servants.heartbeatInterval.nanoseconds
        livenessNanoseconds = configuration.servants.livenessTimeout.nanoseconds
        deadlineNanoseconds = configuration.dispatch.queryDeadline.nanoseconds
        deadlineScanNanoseconds = configuration.dispatch.deadlineScanInterval.nanoseconds
        maxMessageSize = Int(configuration.clients.maxMessageSize)
        maxBufferedReplyBytes = configuration.clients.maxBufferedReplyBytes
        maxBufferedReplyBytesTotal = configuration.clients.maxBufferedReplyBytesTotal
        incarnation = UInt64.random(in: 1...UInt64.max)
        kdbServants = KdbServantLinks(
            credentials: configuration.servants.kdbCredentials,
            maxMessageSize: maxMessageSize, logger: logger)

        let resources = try ZMQContextScope()
        let incarnation = incarnation
        let opened = try resources.setUp {
            let clientSocket = try resources.socket(.router)
            try clientSocket.setRouterMandatory(true)
            // A client that chose its own routing id and connects again under it takes its
            // connection over, with the replies still due to it. Without this, libzmq ignores a
            // connection under a routing id another one still holds, and goes on ignoring it
            // once the old one is gone: the client's queries were never read, never answered.
            try clientSocket.setRouterHandover(true)
            try clientSocket.setMaxMessageSize(configuration.clients.maxMessageSize)
            try clientSocket.setSendHighWaterMark(configuration.clients.sendHighWaterMark)
            try clientSocket.setReceiveHighWaterMark(0)
            try clientSocket.setLinger(milliseconds: 0)
            // A peer that never completes its handshake, or whose connection died unseen, does
            // not hold a file descriptor for long.
            try clientSocket.setPeerTimeouts()
            let admission = try BrokerAdmission.start(
                configuration, context: resources.context, clientSocket: clientSocket, logger: logger)
            if let admission { resources.onClose { admission.stop() } }
            do throws(ZMQError) {
                try clientSocket.bind(configuration.clients.endpoint)
            } catch {
                throw BrokerError(
                    .socket, "cannot bind the client endpoint \(configuration.clients.endpoint): \(error.reason)")
            }
            let clientEndpoint = try clientSocket.lastEndpoint

            let servantSocket = try resources.socket(.router)
            try servantSocket.setRoutingId(Array("broker-\(String(incarnation, radix: 16))".utf8))
            try servantSocket.setRouterMandatory(true)
            try servantSocket.setMaxMessageSize(configuration.clients.maxMessageSize)
            try servantSocket.setSendHighWaterMark(0)
            try servantSocket.setReceiveHighWaterMark(0)
            try servantSocket.setLinger(milliseconds: 0)
            try servantSocket.setReconnectInterval(milliseconds: 100, max: 1_000)
            // A connect attempt to a servant host that is unreachable is given up after two
            // seconds, not left in TCP's SYN retries for minutes: the host is reached within
            // about a second once it is back.
            try servantSocket.setConnectTimeout(milliseconds: 2_000)
            let monitorEndpoint = "inproc://mserve-broker-monitor-\(incarnation)"
            try servantSocket.startMonitor(
                endpoint: monitorEndpoint,
                events: [.connected, .disconnected, .connectRetried, .handshakeFailedNoDetail, .handshakeFailedProtocol])
            let monitor = try resources.monitor(endpoint: monitorEndpoint)
            var doorLogger = logger
            doorLogger[metadataKey: "broker"] = "\(clientEndpoint)"
            let kdbDoor = try configuration.kdb.map { try KdbDoor(configuration: $0, logger: doorLogger) }
            return (
                clientSocket: clientSocket, admission: admission, clientEndpoint: clientEndpoint,
                servantSocket: servantSocket, monitor: monitor, kdbDoor: kdbDoor
            )
        }
        self.resources = resources
        clientSocket = opened.clientSocket
        admission = opened.admission
        clientEndpoint = opened.clientEndpoint
        servantSocket = opened.servantSocket
        monitor = opened.monitor
        kdbDoor = opened.kdbDoor
        self.logger[metadataKey: "broker"] = "\(clientEndpoint)"
    }

    // MARK: running

    /// Runs until a stop command, then drains and closes every socket; gives `onStopped` the
    /// last snapshot before the mailbox stops taking requests.
    func run(onStopped: (BrokerSnapshot) -> Void = { _ in }) {
        logger.info(
            "broker listening for clients",
            metadata: ["endpoint": "\(clientEndpoint)", "algorithm": "\(algorithm.name)"])
        for endpoint in configuration.servants.endpoints { addServant(endpoint: endpoint, configured: true) }

        let clientItem = events.add(clientSocket)
        let servantItem = events.add(servantSocket)
        let monitorItem = events.add(monitor.socket)
        // While messages keep coming, the loop reads its two ZeroMQ sockets directly for a few
        // turns between polls: a poll is a system call, and under load every turn finds work.
        var turnsSincePoll = 0
        // Whether the client socket is out of the poll (every servant busy, queries waiting).
        var clientPollPaused = false

        lastAwake = QueryClock.monotonicNanoseconds()
        while true {
            noticeAPause()
            if turnsSincePoll < Self.turnsBetweenPollsUnderLoad, !stopping {
                turnsSincePoll += 1
                let handled = readServants() + readClientsWhenDue()
                if handled > 0 {
                    timers(now: QueryClock.monotonicNanoseconds())
                    flushOutboxes()
                    continue
                }
            }
            turnsSincePoll = 0
            let now = QueryClock.monotonicNanoseconds()
            if stopping, inFlight.values.allSatisfy(\.abandoned) || events.drainTimedOut(now: now) {
                // What still runs when the drain time is up ends here; then the clients are given
                // time to read their last replies (`repliesReadGrace`) before the sockets close.
                endRunningQueries()
                // Queries of a servant lost during the drain went back to the queue: they end
                // here, before the grace, not in `shutdown`.
                failQueued(reason: "the broker is shutting down")
                sendClientReplies()
                if readyToClose(now: now) { break }
            }
            // Saturated (every servant busy, queries waiting, and queries still coming), a new
            // client query could only join the queue: the client socket is left out of the
            // poll, as a load-balancing broker leaves its front end while no worker is free,
            // so that each query does not wake the loop twice (its arrival, then its
            // servant's answer). Its queries are read every millisecond or so all the same
            // (`readClientsWhenDue`), not at every wake-up: queries left waiting in the
            // socket cost libzmq no signal to the loop, one read that takes them all does.
            // Once no query has come for a while (`clientTrafficWindow`), the socket is
            // polled again: a broker whose servants run long queries sleeps until a client
            // writes.
            let saturated = isSaturated(now: now)
            if saturated != clientPollPaused {
                clientPollPaused = saturated
                events.setEvents(saturated ? [] : .readable, for: clientItem)
            }
            let commands: [BrokerControl]
            do {
                commands = try events.poll(
                    now: now,
                    // Two at a time: `min` of more than two builds an array at every turn.
                    wakeAt: min(
                        min(
                            min(nextHeartbeat, nextDeadlineScan),
                            min(earliestDeadlineInFlight ?? .max, earliestQueuedDeadline)),
                        min(
                            min(reofferAt ?? .max, saturated ? nextClientReadWhileSaturated : .max),
                            min(
                                closing.map { $0.quietSince &+ Self.repliesReadGrace } ?? .max,
                                kdbDoor?.hasInputToResume == true ? now : .max))),
                    atMostMilliseconds: Self.longestPollMilliseconds
                ) { turnItems in
                    // Each turn's own: the kdb+ door's connections come and go.
                    kdbDoor?.register(in: &turnItems)
                    kdbServants.register(in: &turnItems)
                }
            } catch {
                logger.error("poll failed, stopping the broker: \(error)")
                break
            }
            for command in commands {
                switch command {
                case .addServant(let endpoint, let serverKey): addServant(endpoint: endpoint, serverKey: serverKey)
                case .removeServant(let endpoint): removeServant(endpoint: endpoint, reason: .removed)
                case .servantLeft(let endpoint): servantLeft(endpoint: endpoint)
                case .snapshot(let reply): reply(snapshot())
                case .onLoop(let body, _): body(self)
                case .stop:
                    guard events.beginDraining(within: Self.drainTime, now: QueryClock.monotonicNanoseconds()) else { continue }
                    logger.info(
                        "broker stopping",
                        metadata: ["queued": "\(queuedCount)", "inFlight": "\(inFlight.count)"])
                    failQueued(reason: "the broker is shutting down")
                }
            }
            // Before anything is read or sent: a poll the process was stopped in ends here.
            noticeAPause()
            if events.isReadable(monitorItem) { readMonitor() }
            var handled = 0
            if events.isReadable(servantItem) { handled += readServants() }
            if saturated {
                handled += readClientsWhenDue()
            } else if events.isReadable(clientItem) {
                handled += readClients()
            }
            // A turn without ZeroMQ messages polls again at once, sleeping until the next event.
            if handled == 0 { turnsSincePoll = Self.turnsBetweenPollsUnderLoad }
            if let kdbDoor {
                kdbDoor.service(events.pollSet, now: QueryClock.monotonicNanoseconds()) {
                    handleClient(route: $0.route, message: .bytes($0.message), receivedBytes: $0.receivedBytes)
                }
                let closed = kdbDoor.takeClosedWithRepliesDue()
                if !closed.isEmpty { dropQueuedQueries(ofClosedKdbConnections: closed) }
            }
            for event in kdbServants.service(events.pollSet, now: QueryClock.monotonicNanoseconds()) {
                handleKdbServant(event)
            }
            timers(now: QueryClock.monotonicNanoseconds())
            // Whatever this turn dispatched leaves now: the poll may sleep.
            flushOutboxes()
        }
        events.stop()
        shutdown(onStopped: onStopped)
    }

    /// Notices that the loop did not run since it last looked (``lastAwake``) for nearly as
    /// long as a servant keeps the session of a broker it hears nothing from: the process was
    /// stopped (SIGSTOP, a debugger) or its host suspended. Its servants may have forgotten
    /// their sessions with it and would answer its next `QUERY` with `BYE`, after which the
    /// same process is never used again; so each ready servant is taken out of dispatch now,
    /// before anything is read or sent, its queries sent again or answered (most have passed
    /// their deadline by then), and greeted again at the next heartbeat, as a new session.
    func noticeAPause() {
        let now = QueryClock.monotonicNanoseconds()
        let gap = now &- lastAwake
        lastAwake = now
        guard gap >= pauseThatMayEndSessions else { return }
        let inSession = servants.values.filter { $0.state == .ready && !kdbServants.owns($0.id) }.map(\.id).sorted()
        let loss = ServantLoss(
            text: "this broker was not running for \(Duration.nanoseconds(Int64(clamping: gap)))", reason: .missedHeartbeats)
        logger.warning(
            "\(loss.text) (its process stopped, or its host suspended): its servants forget a broker they do not hear from for \(configuration.servants.servantSessionTimeout), so each is taken out of dispatch and greeted again as a new session; the queries it held are sent again or answered",
            metadata: ["servants": "\(inSession.count)", "paused": "\(Double(gap) / 1e9)"])
        // All out of dispatch first: the queries the first one held must not go to the next.
        for id in inSession { leaveReadySet(id) }
        for id in inSession { servantLost(id, reason: loss) }
    }

    /// How long a pause of the loop may end the servants' sessions (``noticeAPause()``): the
    /// servants' session time, less a heartbeat (the last `PING` may have gone that long
    /// before the pause) and a margin of a twelfth of it (5 s of a minute); half the session
    /// time for a heartbeat nearly as long as it (which `mserve broker` refuses).
    var pauseThatMayEndSessions: UInt64 {
        let session = configuration.servants.servantSessionTimeout.nanoseconds
        let margin = heartbeatNanoseconds &+ session / 12
        return margin < session / 2 ? session - margin : session / 2
    }

    /// The queries waiting for a servant: in line and parked.
    var queuedCount: Int { queue.count + parked.count }
    /// The bytes of the queued queries' messages (``BrokerConfiguration/Dispatch-swift.struct/queueBytes``).
    var queuedBytes: Int { queue.bytes + parked.bytes }

    /// Whether every servant is busy and queries wait, in a loop that is not stopping.
    var queriesWaitForAServant: Bool { freeReadyServants == 0 && !queue.isEmpty && !stopping }

    /// Whether queries wait for a servant and client queries still come (within
    /// `clientTrafficWindow`): a new query could only join the queue.
    func isSaturated(now: UInt64) -> Bool {
        queriesWaitForAServant && now &- lastClientMessageAt < Self.clientTrafficWindow
    }

    /// Reads the clients' queries (`readClients`), unless the loop is saturated and read them
    /// less than `clientReadIntervalWhileSaturated` ago; returns the messages handled. The
    /// clock is read only when queries wait for a servant.
    func readClientsWhenDue() -> Int {
        if queriesWaitForAServant {
            let now = QueryClock.monotonicNanoseconds()
            if isSaturated(now: now) {
                if now < nextClientReadWhileSaturated { return 0 }
                nextClientReadWhileSaturated = now &+ Self.clientReadIntervalWhileSaturated
            }
        }
        return readClients()
    }

    /// Turns the loop may take without polling while each finds messages (see `run`): the
    /// mailbox, the monitor and the kdb+ sockets wait at most this many busy turns.
    static let turnsBetweenPollsUnderLoad = 8

    /// The most emptied reply messages kept for reuse (``emptyReplyMessages``): more than a
    /// busy turn sends (a servant's `REPLY` brings up to 32 answers, and a turn reads
    /// several), about 100 kB at most.
    static let emptyReplyMessagesKept = 1_024

    /// While the loop is saturated (see `run`), how often it reads the client socket, in
    /// nanoseconds; the poll rounds up to whole milliseconds, so 1 ms here reads a query
    /// within 2 ms of its arrival.
    static let clientReadIntervalWhileSaturated: UInt64 = 1_000_000
    /// While the loop is saturated, the client socket stays out of the poll only while queries
    /// came this recently (nanoseconds).
    static let clientTrafficWindow: UInt64 = 100_000_000

    /// The longest a poll waits: the loop turns at least this often.
    static let longestPollMilliseconds = 100
    /// How long a stopping broker waits for the answers to the queries it sent.
    static let drainTime: Duration = .seconds(2)
    /// How long the last replies (the last answers, the shutdown errors) may take to leave.
    static let finalRepliesLingerMilliseconds: Int32 = 1_000

    /// Whether a stopping broker with nothing running or queued may close its sockets: at once
    /// when it never sent a reply, else once no reply has gone for ``repliesReadGrace`` (counted
    /// from when the last query ended at the earliest: a reply sent just before the stop
    /// is covered too), and at the latest ``longestCloseWait`` after the last query ended.
    func readyToClose(now: UInt64) -> Bool {
        guard answered != 0 else { return true }
        guard var closing else {
            self.closing = (answered, now, now)
            return false
        }
        if closing.answered != answered {
            closing.answered = answered
            closing.quietSince = now
            self.closing = closing
        }
        return now &- closing.quietSince >= Self.repliesReadGrace || now &- closing.drainedAt >= Self.longestCloseWait
    }

    /// How long a stopping broker keeps its sockets open after its last reply. A client whose
    /// socket has `ZMQ_IMMEDIATE` set (`mserve send` and ``QueryClient`` do, as many ZeroMQ
    /// clients do) drops a message it has received but not yet read when the connection ends:
    /// a reply followed at once by the connection's end could be lost.
    static let repliesReadGrace: UInt64 = 250_000_000
    /// The longest a stopping broker keeps answering new queries with its shutdown error after
    /// its last query ended, while they keep coming.
    static let longestCloseWait: UInt64 = 1_000_000_000

    /// Ends the queries still running at their servants with an error (the broker is stopping
    /// and will not wait for them).
    func endRunningQueries() {
        for (tag, flight) in inFlight where !flight.abandoned {
            reply(
                error: "the broker shut down before the servant answered", to: flight.query,
                servant: servants[flight.servantID]?.name ?? "", stage: .running(since: flight.dispatchedAt),
                counting: .failed)
            inFlight[tag] = nil
        }
    }

    func shutdown(onStopped: (BrokerSnapshot) -> Void) {
        endRunningQueries()
        // Queries of a servant lost during the drain went back to the queue: they end here too.
        failQueued(reason: "the broker is shutting down")
        for record in servants.values where !kdbServants.owns(record.id) {
            sendToServant(record.routingID, .bye)
        }
        sendClientReplies()
        kdbDoor?.close()
        kdbServants.close()
        let final = snapshot()
        onStopped(final)
        for command in events.mailbox.closeIntake() { command.answerUnrun(with: final) }
        // The replies just sent (the last answers, the shutdown errors) must reach their
        // clients: closed at once, libzmq would drop what it has not written yet.
        try? clientSocket.setLinger(milliseconds: Self.finalRepliesLingerMilliseconds)
        resources.close()
        logger.info("broker stopped", metadata: ["answered": "\(answered)"])
    }

    func snapshot() -> BrokerSnapshot {
        let ordered = servants.values.sorted { $0.id < $1.id }
        let memory = ProcessMemory.usage()
        var metrics = metrics
        metrics.door = kdbDoor?.metrics ?? KdbDoorMetrics()
        if let refused = admission?.refusedPeers {
            metrics.refusedPeerKeys = refused.keys
            metrics.refusedPeerHandshakes = refused.handshakes
        }
        var snapshot = BrokerSnapshot(
            servants: ordered.map {
                ServantStatus(
                    endpoint: $0.endpoint, name: $0.name, state: $0.state.rawValue,
                    inFlight: $0.inFlight, capacity: $0.capacity, served: $0.served,
                    meanExecution: .nanoseconds(Int64(clamping: $0.meanExecutionNanoseconds)),
                    lastRouting: $0.lastRouting, lost: $0.lost)
            },
            queued: queuedCount, inFlight: inFlight.count, answered: answered,
            clientEndpoint: clientEndpoint, algorithm: configuration.dispatch.algorithm,
            uptime: .nanoseconds(Int64(clamping: QueryClock.monotonicNanoseconds() &- startedAt)),
            settings: BrokerSnapshot.Settings(configuration),
            residentBytes: memory?.resident, peakResidentBytes: memory?.peak, metrics: metrics, stopping: stopping)
        snapshot.queuedBytes = queuedBytes
        return snapshot
    }
}
