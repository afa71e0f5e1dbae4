import Dispatch
import Foundation
import Logging
import MServeProtocol
import MServeQuery
import ProcessMemory
import QData
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// The servant's event loop: owns its ROUTER socket, hands queries to workers, sends replies.
/// While it sleeps it lends the socket to a worker that has the servant's only answer to send
/// (``DirectAnswers``).
final class ServantLoop {
    private let configuration: ServantConfiguration
    private let logger: Logger
    private let events: ZMQEventLoop<ServantControl>
    private let incarnation: UInt64
    private let resources: ZMQContextScope
    private let socket: ZMQSocket
    private let workers: WorkerPool
    /// Workers' answers sent while the loop sleeps (DirectAnswers.swift).
    private let directAnswers: DirectAnswers
    /// Admits only allowed broker keys when security is on (ServantAdmission.swift).
    private let admission: ServantAdmission?
    private let readyInfo: [UInt8]
    /// The READY's entries, for one that also says how many queries of a broker's earlier
    /// sessions still run (`running`): rare, made when needed.
    private let readyEntries: [(String, QValue)]
    /// The queries a broker session may hold here at once, running or waiting for a thread,
    /// as READY announces; and the direct queries all direct clients together may.
    private let capacity: Int
    private let directCapacity: Int
    /// The most queries one QUERY may carry, as READY announces.
    private let batchLimit: Int
    /// The brokers in session: the most answers each takes in one REPLY, and the largest
    /// REPLY it accepts (its HELLO's).
    private var brokers: [[UInt8]: BrokerSession] = [:]
    private struct BrokerSession {
        /// This session's number, unique for the servant's life: a query holds its place in
        /// the session it came in, and one of an earlier session frees none in a later one.
        var number: UInt64
        var replyLimit: Int
        var maximumReplySize: Int
        /// The largest a compressed query may be once decompressed: the limit the HELLO
        /// announced (the broker's --max-message, which it holds its clients' queries to),
        /// within the servant's own.
        var maximumQuerySize: Int
        /// When the broker was last heard from (monotonic nanoseconds).
        var lastHeard: UInt64
        /// The queries of this session held here: running, or waiting for a thread. A place is
        /// freed when its answer is sent (or, at a stop, when the query is handed back).
        var held = 0
        /// The queries of this broker's earlier sessions still running here: a broker that
        /// lost the servant (a cut link, a pause) and says HELLO again finds it busy with them,
        /// and its READY says so (`running`), until their answers go.
        var earlier = 0
        /// While the servant stops: whether it knows that no QUERY of this broker can reach it
        /// any more, sent before the broker read its DRAIN (``ServantLoop/everyBrokerSawTheDrain(now:)``):
        /// until then it does not say goodbye, and names in a further DRAIN what still comes.
        var drainSeen = false
        /// While the servant stops: the plain PINGs (no acknowledgement) read from this broker
        /// since the DRAIN was sent. The second was sent a heartbeat after the first, after the
        /// broker read the DRAIN: what a broker that does not acknowledge one (an older broker)
        /// sent before it has arrived.
        var pingsSinceDrain = 0
    }
    /// Sessions started since start: the last one's number.
    private var sessionsStarted: UInt64 = 0
    /// Direct queries held here, running or waiting for a thread.
    private var directHeld = 0
    /// Queries refused since start because their session (or the direct queries) held the
    /// capacity already, or because their QUERY carried more than the batch READY announces.
    private var refusedOverCapacity: UInt64 = 0
    /// ``refusedOverCapacity`` as the log last said it: refusals since then are summed up in
    /// one line at the next session scan (``reportRefusals(now:)``), not left to the next
    /// refusal's line, which may never come.
    private var refusedOverCapacityLogged: UInt64 = 0
    /// While stopping: the tags of queries each broker sent that were not started, named in
    /// the BYE so that the broker sends them elsewhere without counting them as a dispatch.
    private var unstarted: [[UInt8]: [[UInt8]]] = [:]
    /// The receive buffer, reused for every message (ZMQFrames).
    private var received = ZMQFrames()
    /// When to give freed memory back to the system: after large queries or results.
    private var memoryRelease = MemoryReleaseSchedule()
    /// Answers finished this turn, per broker, sent together at the end of the turn.
    private var answers: [[UInt8]: [ServantJob.Completion]] = [:]
    /// Queries answered since start through the loop.
    private var answered: UInt64 = 0
    /// Queries answered since start, by the loop and by workers directly.
    private var answeredInAll: UInt64 { answered &+ directAnswers.count }
    /// Direct queries refused (direct queries off) since the last log line about them.
    private var refusedDirectQueries: UInt64 = 0
    /// When the next log line about refused direct queries may be written (monotonic ns).
    private var nextDirectRefusalLog: UInt64 = 0
    /// Lines about messages a peer got wrong (no known command, a malformed QUERY, an unexpected
    /// command, queries without a session), each kind at most once a second: anyone who
    /// reaches the socket can send them at any rate, and must not fill the log.
    private var peerEventLogs = LogThrottles<String>()
    let endpoint: String

    init(
        configuration: ServantConfiguration, functions: FunctionRegistry, logger: Logger,
        mailbox: ZMQMailbox<ServantControl>, incarnation: UInt64
    ) throws {
        self.configuration = configuration
        self.events = ZMQEventLoop(mailbox: mailbox)
        self.incarnation = incarnation
        let resources = try ZMQContextScope()
        let opened = try resources.setUp {
            let socket = try resources.socket(.router)
            try socket.setRouterMandatory(false)
            // A second connection under a routing id in use is ignored while the first lives
            // (no ZMQ_ROUTER_HANDOVER): without keys anyone who reaches the socket could
            // otherwise take a live broker's session by presenting its `broker-<hex>` id. A
            // restarted broker has a new id; a broker whose connection died unseen here is let
            // in once the timeouts below close the dead one.
            try socket.setRouterHandover(false)
            // A connection whose peer is gone (a half-open one) is closed within seconds,
            // freeing its routing id for the broker's new connection.
            try socket.setPeerTimeouts(
                probeMilliseconds: Self.connectionProbeMilliseconds, silenceMilliseconds: Self.connectionTimeoutMilliseconds)
            try socket.setMaxMessageSize(configuration.maxMessageSize)
            try socket.setSendHighWaterMark(0)
            try socket.setReceiveHighWaterMark(0)
            try socket.setLinger(milliseconds: 500)
            let admission = try configuration.curve.map { curve in
                let admission = try ServantAdmission(context: resources.context, socket: socket, keys: curve, logger: logger)
                resources.onClose { admission.stop() }
                return admission
            }
            do throws(ZMQError) {
                try socket.bind(configuration.endpoint)
            } catch {
                throw ServantError("cannot bind \(configuration.endpoint): \(error.reason)")
            }
            let endpoint = Self.reachableEndpoint(try socket.lastEndpoint, advertisedHost: configuration.advertisedHost)
            return (socket: socket, admission: admission, endpoint: endpoint)
        }
        socket = opened.socket
        admission = opened.admission
        endpoint = opened.endpoint
        self.resources = resources
        var logger = logger
        logger[metadataKey: "servant"] = "\(endpoint)"
        self.logger = logger
        let threads = max(1, configuration.threads)
        capacity = max(1, configuration.capacity ?? threads)
        directCapacity = max(1, configuration.directCapacity ?? capacity)
        batchLimit = max(1, configuration.batchLimit)
        let functions = functions.restricted(to: configuration.allowlist)
        let directAnswers = DirectAnswers(socket: socket, mailbox: mailbox, logger: logger)
        self.directAnswers = directAnswers
        workers = WorkerPool(threads: threads, functions: functions, logger: logger) { completion, alone in
            // Alone, an answer leaves at once if the loop sleeps; others are batched.
            if alone, directAnswers.send(completion) { return }
            mailbox.post(.finished(completion))
        }
        var entries: [(String, QValue)] = [
            ("incarnation", .atom(.long(Int64(bitPattern: incarnation)))),
            ("capacity", .atom(.long(Int64(capacity)))),
            ("batch", .atom(.long(Int64(batchLimit)))),
            ("pid", .atom(.long(Int64(getpid())))),
            ("service", .atom(.symbol(configuration.service))),
            ("functions", .vector(.symbol(functions.names))),
        ]
        if let name = configuration.name { entries.append(("name", .atom(.symbol(name)))) }
        readyEntries = entries
        readyInfo = QIPC.encode(InfoDictionary.dictionary(entries))
    }

    /// How often the kernel probes an idle connection of the servant's socket (TCP keep-alives).
    static let connectionProbeMilliseconds: Int32 = 2_000
    /// How long a connection whose peer is gone (probes or data unanswered) lasts at most.
    static let connectionTimeoutMilliseconds: Int32 = 10_000

    /// `tcp://0.0.0.0:PORT` → `tcp://HOST:PORT` with the advertised host (or 127.0.0.1).
    /// Other transports (`ipc://`, `inproc://`) are returned as they are.
    static func reachableEndpoint(_ bound: String, advertisedHost: String?) -> String {
        guard let endpoint = ZMQEndpoint(bound), endpoint.scheme == "tcp", let port = endpoint.portText else { return bound }
        if let advertisedHost { return "tcp://\(advertisedHost):\(port)" }
        if endpoint.bindsEveryInterface { return "tcp://127.0.0.1:\(port)" }
        return bound
    }

    func run() {
        logger.info("servant listening", metadata: ["endpoint": "\(endpoint)"])
        if configuration.acceptsDirectQueries {
            logger.notice("direct queries are on: anyone who reaches the endpoint runs queries without a broker")
        }
        // Large queries and results pass through: their memory goes back to the system when freed.
        ProcessMemory.returnLargeBlocksWhenFreed()
        let socketItem = events.add(socket)
        let sessionScan = events.addTimer(dueAt: 0)
        // The loop holds the socket but while it sleeps, when a worker may send its answer.
        directAnswers.loopStarts()
        events.sleepGate = directAnswers
        var status = StatusSchedule(every: configuration.statusInterval, now: QueryClock.monotonicNanoseconds())
        while events.state != .stopped {
            let now = QueryClock.monotonicNanoseconds()
            // A drain ends once nothing runs and every broker has shown that none of its
            // queries can still cross the DRAIN (or when the drain time is up).
            if events.state == .draining && ((workers.busy == 0 && everyBrokerSawTheDrain(now: now)) || events.drainTimedOut(now: now)) {
                break
            }
            if let (answeredNow, perSecond) = status.due(now: now, count: answeredInAll) {
                logStatus(answeredNow: answeredNow, perSecond: perSecond)
            }
            if events.fire(sessionScan, now: now, thenEvery: Self.sessionScanInterval) {
                forgetSilentBrokers(now: now)
                reportRefusals(now: now)
                memoryRelease.releaseIfDue(now: now)
            }
            let commands: [ServantControl]
            do {
                // While draining, the loop looks often for its workers to finish.
                commands = try events.poll(
                    now: now, wakeAt: status.nextDue, atMostMilliseconds: events.state == .draining ? 20 : 1_000)
            } catch {
                logger.error("poll failed, stopping the servant: \(error)")
                break
            }
            var socketReadable = false
            for command in commands {
                switch command {
                case .finished(let done): take(done)
                case .socketReadable: socketReadable = true
                case .stop:
                    guard events.beginDraining(within: configuration.drainTimeout, now: QueryClock.monotonicNanoseconds()) else { continue }
                    // What waits for a thread goes back now, not at the BYE: the brokers send
                    // it elsewhere while the running queries finish.
                    let handedBack = handBack(workers.takeQueued())
                    logger.info(
                        "servant stopping",
                        metadata: ["running": "\(workers.busy)", "handedBack": "\(handedBack.values.map(\.count).reduce(0, +))"])
                    // No more queries, please; the answers to the running ones follow.
                    for broker in brokers.keys {
                        send(broker, [ServantLink.protocolMarker, ServantCommand.drain.frame] + (handedBack[broker] ?? []))
                    }
                }
            }
            sendAnswers()
            if socketReadable || events.isReadable(socketItem) {
                readBrokers(stopping: events.state != .running, now: QueryClock.monotonicNanoseconds())
            }
        }
        events.sleepGate = nil
        let drained = events.state == .draining
        events.stop()
        // Answers posted after the last turn took the mailbox (the turn that saw no worker busy).
        for case .finished(let done) in events.mailbox.takeAll() { take(done) }
        sendAnswers()
        // A drain ends with workers busy only when its time ran out (nothing new starts while
        // the servant stops, and what waited was handed back): those queries are left running,
        // so the servant's own log says what the brokers' say, that they may run twice.
        if drained, case let running = workers.busy, running > 0 {
            let queries = running == 1 ? "1 query" : "\(running) queries"
            let direct = configuration.acceptsDirectQueries ? "; a direct client's gets no answer" : ""
            logger.warning(
                """
                the drain time ran out with \(queries) still running, left unanswered: a broker sends such a \
                query again elsewhere (as its --redispatch allows), so it may run twice\(direct)
                """,
                metadata: ["running": "\(running)", "drain": "\(configuration.drainTimeout)"])
        }
        if drained { reportBrokersUnseenAtTheEnd() }
        // Queries still queued (past the drain deadline) never run: a broker's go back to it
        // in the BYE, a direct client's get an error.
        _ = handBack(workers.stop())
        for broker in brokers.keys {
            send(broker, [ServantLink.protocolMarker, ServantCommand.bye.frame] + (unstarted[broker] ?? []))
        }
        resources.close()
        directAnswers.loopEnded()
        // Answers of queries still running past the deadline have nowhere to go.
        _ = events.mailbox.closeIntake()
        events.mailbox.close()
        reportRefusals(now: QueryClock.monotonicNanoseconds(), stopping: true)
        logger.info("servant stopped", metadata: ["answered": "\(answeredInAll)"])
    }

    /// Jobs that will not run, at the start of a stop: a direct client's get an error now; a
    /// broker's tags are returned, by broker, to hand back in the DRAIN, and kept for the BYE
    /// (a broker that has requeued them ignores them there).
    private func handBack(_ jobs: [ServantJob]) -> [[UInt8]: [[UInt8]]] {
        var tags: [[UInt8]: [[UInt8]]] = [:]
        for job in jobs {
            freePlace(of: job.broker, session: job.session)
            if let envelope = job.directEnvelope {
                send(job.broker, envelope + [Self.stoppingReply(to: job.message)])
            } else {
                tags[job.broker, default: []].append(job.tag)
                unstarted[job.broker, default: []].append(job.tag)
            }
        }
        return tags
    }

    /// How often sessions of silent brokers are looked for.
    static let sessionScanInterval: UInt64 = 1_000_000_000

    /// Whether every broker in session has shown, since the servant sent it DRAIN, that no
    /// QUERY of its can reach the servant any more: a QUERY sent before the broker read the
    /// DRAIN, read after the BYE, would be charged as a dispatch of a servant that left
    /// (docs/PROTOCOL.md, "Stopping"). A broker shows it by acknowledging the DRAIN (a PING
    /// carrying `DRAIN`, sent when it read it: on one connection ZeroMQ keeps order, so every
    /// QUERY sent before has arrived) or, one that does not (an older broker), by two plain
    /// PINGs since (``BrokerSession/pingsSinceDrain``). A broker heard from by neither for
    /// ``ServantConfiguration/drainAcknowledgementSilence`` is taken as gone, and waited for
    /// no longer; this is where that is found, and logged.
    private func everyBrokerSawTheDrain(now: UInt64) -> Bool {
        let silence = configuration.drainAcknowledgementSilence.nanoseconds
        var all = true
        for (broker, session) in brokers where !session.drainSeen {
            guard now > session.lastHeard, now - session.lastHeard >= silence else {
                all = false
                continue
            }
            brokers[broker]?.drainSeen = true
            logger.notice(
                "stopped waiting for a broker to acknowledge the DRAIN: nothing heard from it for \(Double(silence) / 1e9) s, taken as gone",
                metadata: ["broker": "\(LogText.printable(broker))"])
        }
        return all
    }

    /// A PING read from `broker` while the servant stops: its acknowledgement of the DRAIN
    /// when it carries the frame `DRAIN` (`frames` are the message's, the routing id first),
    /// or a plain heartbeat, the second of which since the DRAIN stands for it (an older
    /// broker, which acknowledges none; logged).
    private func drainSeen(by broker: [UInt8], frames: ZMQFrames) {
        guard let session = brokers[broker], !session.drainSeen else { return }
        if frames.count > 3, frames[3].elementsEqual(ServantCommand.drain.frame) {
            brokers[broker]?.drainSeen = true
            return
        }
        let pings = session.pingsSinceDrain + 1
        brokers[broker]?.pingsSinceDrain = pings
        guard pings >= 2 else { return }
        brokers[broker]?.drainSeen = true
        logger.info(
            "a broker did not acknowledge the DRAIN (an older broker): its second heartbeat since is taken as its word that no more queries are on their way",
            metadata: ["broker": "\(LogText.printable(broker))"])
    }

    /// At the end of a drain, says so when its time ran out before some broker showed that it
    /// read the DRAIN (one silent long enough is logged as gone instead): a query such a
    /// broker sent across it, not yet arrived, is charged as a dispatch of a servant that left.
    private func reportBrokersUnseenAtTheEnd() {
        guard !everyBrokerSawTheDrain(now: QueryClock.monotonicNanoseconds()) else { return }
        let unseen = brokers.values.filter { !$0.drainSeen }.count
        logger.notice(
            "said goodbye to \(unseen == 1 ? "a broker" : "\(unseen) brokers") before \(unseen == 1 ? "it" : "they") acknowledged the DRAIN: the drain time ran out; a query sent across the DRAIN and not yet arrived counts there as a dispatch to a servant that left (--redispatch)",
            metadata: ["brokers": "\(unseen)", "drain": "\(configuration.drainTimeout)"])
    }

    /// Forgets the sessions of brokers silent for the configuration's `brokerSessionTimeout`,
    /// and the queries of theirs still waiting for a thread.
    private func forgetSilentBrokers(now: UInt64) {
        let timeout = configuration.brokerSessionTimeout.nanoseconds
        for (broker, session) in brokers where now > session.lastHeard && now - session.lastHeard > timeout {
            brokers[broker] = nil
            logger.info(
                "forgot a broker that went silent without a goodbye",
                metadata: ["broker": "\(LogText.printable(broker))"])
            dropQueuedQueries(of: broker, because: "it went silent", now: now)
        }
    }

    /// Takes the queries of `broker`'s sessions still waiting for a thread out of the queue,
    /// unstarted and unanswered: its session is over (it said BYE, or HELLO again, or went
    /// silent), and a broker waits for no answer from a session it ended (docs/PROTOCOL.md).
    /// What runs finishes, and its answer is sent.
    private func dropQueuedQueries(of broker: [UInt8], because why: String, now: UInt64) {
        let dropped = workers.takeQueued(ofBroker: broker)
        guard !dropped.isEmpty else { return }
        for job in dropped { freePlace(of: job.broker, session: job.session) }
        logPeerEvent(
            "session ended",
            "did not run \(dropped.count) quer\(dropped.count == 1 ? "y" : "ies") still waiting from a broker whose session ended: \(why)",
            level: .notice, metadata: ["broker": "\(LogText.printable(broker))"], now: now)
    }

    /// The READY's dictionary; with `running` when queries of the broker's earlier sessions
    /// still run here (docs/PROTOCOL.md, the READY row).
    private func ready(running: Int) -> [UInt8] {
        guard running > 0 else { return readyInfo }
        return QIPC.encode(InfoDictionary.dictionary(readyEntries + [("running", .atom(.long(Int64(running))))]))
    }

    /// Frees the place a query of `broker`'s session numbered `session` (or a direct query)
    /// held: its answer is sent, or it will not run. A query of the broker's earlier sessions
    /// frees no place in the session now: it is one less of those still running (`earlier`).
    private func freePlace(of broker: [UInt8], session: UInt64) {
        if session == ServantJob.directSession {
            directHeld = max(0, directHeld - 1)
        } else if let current = brokers[broker] {
            if current.number == session {
                brokers[broker]?.held = max(0, current.held - 1)
            } else {
                brokers[broker]?.earlier = max(0, current.earlier - 1)
            }
        }
    }

    /// Logs what the servant did in the last period and holds now, unless it was idle.
    private func logStatus(answeredNow: UInt64, perSecond: Int) {
        let busy = workers.busy
        guard answeredNow > 0 || busy > 0 else { return }
        logger.info(
            "servant status",
            metadata: [
                "answered": "\(answeredInAll)", "perSecond": "\(perSecond)", "busy": "\(busy)",
                "brokers": "\(brokers.count)",
            ])
    }

    /// Counts a finished query and sends a direct query's answer at once; a broker's waits for
    /// `sendAnswers`, to go in a batch.
    private func take(_ done: ServantJob.Completion) {
        answered += 1
        // Freed before its answer leaves: a broker that sends its next query on reading the
        // answer finds the place free.
        freePlace(of: done.broker, session: done.session)
        if let envelope = done.directEnvelope {
            send(done.broker, envelope + [done.reply])
        } else {
            answers[done.broker, default: []].append(done)
        }
    }

    /// Sends the answers finished this turn: `tag, reply, execution` triples, as many in one
    /// REPLY as each broker takes.
    private func sendAnswers() {
        guard !answers.isEmpty else { return }
        for (broker, completions) in answers { sendReplies(completions, to: broker) }
        answers.removeAll(keepingCapacity: true)
    }

    /// Sends `completions` to `broker` in REPLY messages of as many answers as it takes.
    private func sendReplies(_ completions: [ServantJob.Completion], to broker: [UInt8]) {
        let limit = max(1, min(brokers[broker]?.replyLimit ?? 1, batchLimit))
        for start in stride(from: 0, to: completions.count, by: limit) {
            do {
                try socket.sendReply(completions[start..<min(start + limit, completions.count)], to: broker)
            } catch {
                logger.warning("could not send to a broker: \(error)")
            }
        }
    }

    private func send(_ broker: [UInt8], _ frames: [[UInt8]]) {
        do {
            try socket.send(multipart: [broker] + frames)
        } catch {
            logger.warning("could not send to a broker: \(error)")
        }
    }

    /// `(id; "mserve: the servant is stopping…"; info)` for a direct query it will not run.
    static func stoppingReply(to message: [UInt8]) -> [UInt8] {
        errorReply(to: message, ReplyAssembly.mserveError("the servant is stopping; send the query again elsewhere"))
    }

    /// `(id; "mserve: …"; info)` for a direct query when direct queries are off.
    static func directRefusal(to message: [UInt8]) -> [UInt8] {
        errorReply(to: message, directQueriesOffMessage)
    }

    /// The error a direct query gets when direct queries are off.
    static let directQueriesOffMessage = ReplyAssembly.mserveError(
        "this servant takes queries from brokers only; direct queries are off (mserve servant --direct turns them on)")

    /// The error a broker's query gets when its session holds `capacity` queries here already.
    static func overCapacityMessage(_ capacity: Int) -> String {
        ReplyAssembly.mserveError(
            "the servant is at its capacity of \(capacity) quer\(capacity == 1 ? "y" : "ies") for this broker")
    }

    /// The error a direct query gets when `capacity` direct queries are held here already.
    static func directOverCapacityMessage(_ capacity: Int) -> String {
        ReplyAssembly.mserveError(
            "the servant is at its capacity of \(capacity) direct quer\(capacity == 1 ? "y" : "ies")")
    }

    /// The error each query past the `batch`-th of one QUERY gets.
    static func overBatchMessage(_ batch: Int) -> String {
        ReplyAssembly.mserveError(
            "a QUERY to this servant carries at most \(batch) quer\(batch == 1 ? "y" : "ies") (its READY's batch)")
    }

    /// The failure reply (``ReplyAssembly/servantFailure(id:message:)``) answering the client
    /// message `message`, which is not run. Its id is read from the message's first bytes
    /// (``MServeProtocol/ClientQuery/leadingID(of:)``: a compressed message is decompressed only
    /// that far, on this thread); the generic null stands for an id that cannot be read there.
    private static func errorReply(to message: [UInt8], _ text: String) -> [UInt8] {
        ReplyAssembly.servantFailure(id: ClientQuery.leadingID(of: message) ?? .identity, message: text)
    }

    /// The answer to the broker's query `message` (tagged `tag`), which is not run: the
    /// failure `text` (``errorReply(to:_:)``), its id left out should the reply exceed the
    /// largest the broker takes.
    private func refusal(
        tag: [UInt8], message: [UInt8], _ text: String, to broker: [UInt8], session: BrokerSession
    ) -> ServantJob.Completion {
        var reply = Self.errorReply(to: message, text)
        if reply.count > session.maximumReplySize { reply = ReplyAssembly.servantFailure(id: .identity, message: text) }
        return .init(broker: broker, session: session.number, tag: tag, reply: reply, executionNanoseconds: 0)
    }

    /// Answers a direct query with ``directRefusal(to:)`` and logs it, at most once every 10
    /// seconds with the number refused since the last line, so a flood cannot fill the log.
    private func refuseDirectQuery(_ frames: ZMQFrames, now: UInt64) {
        send(frames.copy(of: 0), (1..<frames.count - 1).map { frames.copy(of: $0) } + [
            Self.directRefusal(to: frames.copy(of: frames.count - 1))
        ])
        refusedDirectQueries += 1
        guard now >= nextDirectRefusalLog else { return }
        nextDirectRefusalLog = now &+ 10_000_000_000
        logger.warning(
            "refused direct queries: this servant takes queries from brokers only (--direct turns them on)",
            metadata: ["refused": "\(refusedDirectQueries)"])
        refusedDirectQueries = 0
    }

    /// Logs `line` (at `level`, with `metadata`) unless a line of the same kind went out
    /// less than a second ago; the next one let through counts those held back. For what a
    /// peer can cause at any rate: its mistakes, and new sessions.
    @discardableResult
    private func logPeerEvent(
        _ kind: String, _ line: @autoclosure () -> String, level: Logger.Level = .warning,
        metadata: Logger.Metadata? = nil, now: UInt64
    ) -> Bool {
        guard let heldBack = peerEventLogs.admit(kind, now: now) else { return false }
        logger.log(level: level, "\(LogThrottle.line(line(), heldBack: heldBack))", metadata: metadata)
        return true
    }

    /// Counts `count` queries refused past a capacity or a batch and logs `line` (a line a
    /// second at most for its `kind`, with `refusedInAll`); those held back are summed up by
    /// ``reportRefusals(now:stopping:)``.
    private func countRefusals(
        _ count: Int, _ kind: String, _ line: @autoclosure () -> String, metadata: Logger.Metadata = [:], now: UInt64
    ) {
        refusedOverCapacity += UInt64(count)
        let logged = logPeerEvent(
            kind, line(), metadata: metadata.merging(["refusedInAll": "\(refusedOverCapacity)"]) { $1 }, now: now)
        if logged { refusedOverCapacityLogged = refusedOverCapacity }
    }

    /// Sums up in one line the queries refused past a capacity or a batch since the log last
    /// said how many there were in all: at each session scan, and when the servant stops.
    private func reportRefusals(now: UInt64, stopping: Bool = false) {
        let unlogged = refusedOverCapacity - refusedOverCapacityLogged
        guard unlogged > 0 else { return }
        guard stopping || peerEventLogs.admit("refusals summed up", now: now) != nil else { return }
        refusedOverCapacityLogged = refusedOverCapacity
        logger.warning(
            "refused \(unlogged) more quer\(unlogged == 1 ? "y" : "ies") past a broker session's capacity or batch, or the direct queries' capacity, since the last such line",
            metadata: ["refusedInAll": "\(refusedOverCapacity)"])
    }

    /// Reads what brokers and direct clients sent. While `stopping` (the brokers have been
    /// sent DRAIN), heartbeats are still answered, so that no broker takes the queries still
    /// running for lost and runs them again elsewhere, but no new query is started: a
    /// broker's are named in the BYE, to go to another servant; a direct client's is
    /// answered with an error.
    /// `now` is when the read began: when the brokers it reads from were last heard.
    private func readBrokers(stopping: Bool, now: UInt64) {
        // Answers workers sent while the loop slept free their places before anything the
        // brokers sent after reading them is read.
        directAnswers.takeFreedPlaces { broker, session in freePlace(of: broker, session: session) }
        while true {
            do {
                guard try socket.receive(into: &received, dontWait: true) else { return }
            } catch {
                logger.error("receiving failed: \(error)")
                return
            }
            if let admission, !admission.admits(received) { continue }
            let frames = received
            if frames.count >= 2, !frames[1].elementsEqual(ServantLink.protocolMarker) {
                let envelope = frames.leadingFrames
                if let refusal = ClientEnvelope.refusal(frames: envelope.count, bytes: envelope.bytes) {
                    logPeerEvent(envelope.count > ClientEnvelope.maximumFrames ? "envelope frames" : "envelope bytes", refusal, now: now)
                    continue
                }
                guard configuration.acceptsDirectQueries else {
                    refuseDirectQuery(frames, now: now)
                    continue
                }
                if stopping {
                    logPeerEvent("stopping", "refused a direct query: the servant is stopping", level: .notice, now: now)
                    send(frames.copy(of: 0), (1..<frames.count - 1).map { frames.copy(of: $0) } + [
                        Self.stoppingReply(to: frames.copy(of: frames.count - 1))
                    ])
                    continue
                }
                // A direct query: a DEALER or REQ client, or a device such as zmq_proxy, sent
                // `[envelope…, (id; query)]` without a broker. Answered `[envelope…, (id; result)]`.
                guard directHeld < directCapacity else {
                    countRefusals(
                        1, "direct over capacity",
                        "refused a direct query: the servant holds its capacity of \(directCapacity) direct quer\(directCapacity == 1 ? "y" : "ies")", now: now)
                    send(frames.copy(of: 0), (1..<frames.count - 1).map { frames.copy(of: $0) } + [
                        Self.errorReply(to: frames.copy(of: frames.count - 1), Self.directOverCapacityMessage(directCapacity))
                    ])
                    continue
                }
                directHeld += 1
                workers.submit(
                    ServantJob(
                        broker: frames.copy(of: 0), session: ServantJob.directSession, tag: [],
                        message: frames.copy(of: frames.count - 1),
                        directEnvelope: (1..<(frames.count - 1)).map { frames.copy(of: $0) },
                        maximumQuerySize: Int(configuration.maxMessageSize)))
                continue
            }
            guard frames.count >= 3, let command = ServantCommand(frame: frames[2]) else {
                let reason =
                    ServantLink.unreadableReason(
                        marker: frames.count > 1 ? frames[1] : nil, command: frames.count > 2 ? frames[2] : nil)
                    ?? "a message the servant cannot read"
                // Kinds of their own, not the text: a peer's bytes must not make new kinds.
                logPeerEvent(frames.count < 3 ? "short" : "unknown command", "dropped \(reason)", now: now)
                continue
            }
            let broker = frames.copy(of: 0)
            brokers[broker]?.lastHeard = now
            switch command {
            case .hello where stopping:
                logger.notice("did not start a session: the servant is stopping")
            case .hello:
                // Frame 4, when there: the most answers the broker takes in one REPLY; frame 5,
                // the largest REPLY it accepts.
                let replyLimit = frames.count > 4 ? WireInteger.decode(frames[4]).map { Int(min($0, 1 << 20)) } : nil
                let largestReply = frames.count > 5 ? WireInteger.decode(frames[5]).map { Int(min($0, UInt64(Int.max))) } : nil
                let largestMessage = largestReply.map { $0 > 0 ? $0 : .max } ?? .max
                // A new session, whether or not the broker had one: a broker says HELLO when
                // its connection comes up, having taken anything it had here as lost, and
                // the count of what it holds here starts again. Its old queries that wait
                // for a thread are not run.
                dropQueuedQueries(of: broker, because: "it said HELLO again", now: now)
                sessionsStarted += 1
                var session = BrokerSession(
                    number: sessionsStarted, replyLimit: max(1, replyLimit ?? 1), maximumReplySize: largestMessage,
                    maximumQuerySize: min(largestMessage, Int(configuration.maxMessageSize)), lastHeard: now)
                // What the earlier sessions still run (their waiting queries were just dropped)
                // holds threads the new session cannot have: the READY says how many.
                session.earlier = brokers[broker].map { $0.earlier + $0.held } ?? 0
                if brokers.updateValue(session, forKey: broker) == nil {
                    // Anyone who reaches the socket can say HELLO under a new identity at any rate.
                    logPeerEvent(
                        "broker connected", "broker connected", level: .info,
                        metadata: ["broker": "\(LogText.printable(broker))", "sessions": "\(brokers.count)"], now: now)
                }
                send(broker, [ServantLink.protocolMarker, ServantCommand.ready.frame, ready(running: session.earlier)])
            case .ping:
                send(broker, [ServantLink.protocolMarker, ServantCommand.pong.frame, WireInteger.encode(incarnation)])
                if stopping { drainSeen(by: broker, frames: frames) }
            case .query:
                // One or more `tag, (id; query)` pairs.
                guard frames.count >= 5, (frames.count - 3) % 2 == 0 else {
                    logPeerEvent("QUERY frames", "dropped a QUERY whose frames are not tag and message pairs", now: now)
                    continue
                }
                let pairs = stride(from: 3, to: frames.count, by: 2)
                // Without a session the queries are not this servant's to run: ones a broker
                // queued for a previous process on this port, or from a broker it forgot. The
                // BYE names them; the broker sends them elsewhere and says HELLO again.
                guard let session = brokers[broker] else {
                    let tags = pairs.map { frames.copy(of: $0) }
                    logPeerEvent(
                        "no session",
                        "did not run \(tags.count) quer\(tags.count == 1 ? "y" : "ies") from a broker with no session; told it goodbye",
                        level: .notice, metadata: ["broker": "\(LogText.printable(broker))"], now: now)
                    send(broker, [ServantLink.protocolMarker, ServantCommand.bye.frame] + tags)
                    continue
                }
                if stopping {
                    // Sent before the broker read the DRAIN: handed back at once in another
                    // DRAIN, and named in the BYE as well; not run.
                    let tags = pairs.map { frames.copy(of: $0) }
                    unstarted[broker, default: []].append(contentsOf: tags)
                    send(broker, [ServantLink.protocolMarker, ServantCommand.drain.frame] + tags)
                    continue
                }
                // The session holds at most the capacity and takes at most the batch READY
                // announced; a query past either is answered at once with an error, not run.
                var held = session.held
                var refused: [ServantJob.Completion] = []
                for (index, first) in pairs.enumerated() {
                    let text: String
                    if index >= batchLimit {
                        text = Self.overBatchMessage(batchLimit)
                    } else if held >= capacity {
                        text = Self.overCapacityMessage(capacity)
                    } else {
                        held += 1
                        workers.submit(
                            ServantJob(
                                broker: broker, session: session.number, tag: frames.copy(of: first),
                                message: frames.copy(of: first + 1), maximumQuerySize: session.maximumQuerySize,
                                maximumReplySize: session.maximumReplySize))
                        continue
                    }
                    refused.append(
                        refusal(tag: frames.copy(of: first), message: frames.copy(of: first + 1), text, to: broker, session: session))
                }
                brokers[broker]?.held = held
                if !refused.isEmpty {
                    sendReplies(refused, to: broker)
                    countRefusals(
                        refused.count, "over capacity",
                        "refused \(refused.count) quer\(refused.count == 1 ? "y" : "ies") from a broker past the capacity of \(capacity) or the batch of \(batchLimit) the servant announced",
                        metadata: ["broker": "\(LogText.printable(broker))"], now: now)
                }
            case .bye:
                brokers[broker] = nil
                dropQueuedQueries(of: broker, because: "it said BYE", now: now)
            case .ready, .reply, .pong, .drain:
                logPeerEvent(command.rawValue, "dropped an unexpected \(command.rawValue)", now: now)
            }
        }
    }
}

extension ZMQSocket {
    /// Sends answers to a broker's queries as one `REPLY`: `tag, reply, execution` for each.
    func sendReply(_ answers: ArraySlice<ServantJob.Completion>, to broker: [UInt8]) throws(ZMQError) {
        try send(broker, more: true)
        try send(ServantLink.protocolMarker, more: true)
        try send(ServantCommand.reply.frame, more: true)
        for index in answers.indices {
            let answer = answers[index]
            try send(answer.tag, more: true)
            try send(answer.reply, more: true)
            try send(WireInteger.encode(answer.executionNanoseconds), more: index != answers.indices.last)
        }
    }
}
