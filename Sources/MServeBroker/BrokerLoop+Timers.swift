// The broker loop's timers: heartbeats and liveness, query deadlines, and the status line.

import Logging
import MServePlugin
import MServeProtocol
import ProcessMemory
import QData

extension BrokerLoop {
    /// The longest pause between HELLOs to a servant not known to be connected.
    static let unconnectedHelloInterval: UInt64 = 5_000_000_000

    /// The pause before the next HELLO to a servant not known to be connected, after
    /// `unanswered` HELLOs sent it since it was last connected or lost: the heartbeat interval,
    /// doubled at each, up to ``unconnectedHelloInterval``. A HELLO sent while libzmq still
    /// ended the old connection went into a pipe about to go: the next one, soon after, finds
    /// no pipe, and the broker connects anew; a servant down for a day still gets a HELLO only
    /// every few seconds.
    static func unconnectedHelloPause(heartbeat: UInt64, unanswered: Int) -> UInt64 {
        doubledPause(heartbeat: heartbeat, times: unanswered, limit: unconnectedHelloInterval)
    }

    /// The heartbeat interval doubled `times` times, up to `limit` (or the heartbeat interval,
    /// if longer).
    static func doubledPause(heartbeat: UInt64, times: Int, limit: UInt64) -> UInt64 {
        let limit = max(heartbeat, limit)
        let shift = UInt64(min(max(times, 0), 16))
        guard heartbeat <= limit >> shift else { return limit }
        return heartbeat << shift
    }

    /// The longest pause between HELLOs to a connected servant whose READYs are ignored.
    static let ignoredReadyHelloInterval: UInt64 = 60_000_000_000

    /// The pause before the next HELLO to a connected servant not in session whose last
    /// `ignored` READYs in a row the broker ignored (refused, or in the incarnation it said
    /// goodbye in): the heartbeat interval, doubled at each, up to
    /// ``ignoredReadyHelloInterval``; none ignored, the heartbeat interval. A new connection
    /// (a restart) is greeted as it comes up, whatever the pause.
    static func ignoredReadyHelloPause(heartbeat: UInt64, ignored: Int) -> UInt64 {
        doubledPause(heartbeat: heartbeat, times: ignored, limit: ignoredReadyHelloInterval)
    }

    func timers(now: UInt64) {
        if now >= nextHeartbeat {
            // One slot's servants a turn, a turn every interval / slots: each servant is
            // visited once an interval, and the PINGs to many go out spread over it.
            nextHeartbeat = now + heartbeatNanoseconds / HeartbeatSlots.count
            let slot = heartbeatSlot
            heartbeatSlot = (slot + 1) % HeartbeatSlots.count
            // Liveness is judged on a fresh read: after a pause of this loop (a huge query to
            // parse, a slow plugin) the servants' answers to its heartbeats wait in the socket.
            // The connection events first: a READY read before the event of the connection it
            // came on would be taken for one said on the connection before (``readMonitor()``).
            readMonitor()
            readServants()
            // Judged from here on against a clock read after those reads: a HELLO they sent (to
            // a connection that came up) is stamped later than the `now` this call was given,
            // and measured from it, unsigned, would look older than the liveness time (the
            // servant reported silent, and greeted again, at once).
            let now = QueryClock.monotonicNanoseconds()
            // q servants' liveness is their TCP connection (KdbServantLinks).
            for record in servants.values where HeartbeatSlots.slot(of: record.id) == slot && !kdbServants.owns(record.id) {
                switch record.state {
                case .ready, .draining:
                    let silentSince = record.unansweredPingSince ?? now
                    if now &- silentSince > livenessNanoseconds {
                        servantLost(record.id, reason: .missedHeartbeats)
                        // Re-greeted over the same connection, a servant that stopped reading
                        // it would never hear: the connection is made anew.
                        endConnectionForGood(record, cause: .missedHeartbeats)
                    } else {
                        record.unansweredPingSince = silentSince
                        if record.connected, !sendToServant(record.routingID, .ping) {
                            // No pipe to route it to: libzmq ended the connection for good (a
                            // message over --max-message, a failed handshake), and its event
                            // has not come yet. No need to wait out the liveness time.
                            servantDisconnected(record.id)
                            endConnectionForGood(record)
                        }
                    }
                case .connecting, .left, .lost:
                    // Whether or not a connection event said so: libzmq names a reconnection to
                    // a host name by its address, which matches no configured endpoint. But a
                    // HELLO to a servant that is not connected is queued for it (the pipe lives
                    // on while libzmq reconnects) and delivered when it comes up, so while none
                    // is known to be connected a HELLO goes only every few seconds: a servant
                    // down for a day costs a few thousand queued HELLOs, not hundreds of thousands.
                    let interval =
                        record.connected
                        ? Self.ignoredReadyHelloPause(heartbeat: heartbeatNanoseconds, ignored: record.ignoredReadies)
                        : Self.unconnectedHelloPause(heartbeat: heartbeatNanoseconds, unanswered: record.unconnectedHellos)
                    if record.reconnectDue {
                        // Disconnected at its last visit, a heartbeat ago or more: libzmq has
                        // let go of the old pipe by now, and a connection under the same
                        // routing id may be made (made while the old pipe lingered, libzmq
                        // would abort). An endpoint that answered as no servant does waits
                        // longer (``backOffFromWrongEndpoint(_:)``).
                        if now >= record.reconnectAt {
                            record.reconnectDue = false
                            reconnect(record)
                        }
                    } else if let since = record.helloUnansweredSince, now &- since > livenessNanoseconds {
                        // Greeted over a connection that came up, and silent for the liveness
                        // time: the servant does not read this connection (another peer took
                        // this broker's routing id there first, or it is half-open). Whatever
                        // `connected` says now: the old connection's end, reported late, may
                        // have cleared it.
                        if record.state == .connecting {
                            silentBeforeItsFirstAnswer(record)
                        } else {
                            endConnectionForGood(record, cause: .silent)
                        }
                    } else if record.connected, record.helloUnansweredSince != nil {
                        // Greeted over a connection that came up: its answer, or the liveness
                        // time, is awaited. Greeted again each heartbeat, a port of another
                        // service that answers slowly (on a loaded host) would get several
                        // HELLOs a connection.
                    } else if !record.connected, now < record.unconnectedHelloNotBefore {
                        // Connected to again by the broker: its connection event greets it.
                    } else if now &- record.lastHelloSent >= interval, !sendHello(record.id) {
                        endConnectionForGood(record)
                    }
                }
            }
        }
        if let reofferAt, now >= reofferAt {
            self.reofferAt = nil
            drainQueue()
        }
        if now >= nextDeadlineScan {
            nextDeadlineScan = now + deadlineScanNanoseconds
            expireDeadlines(now: now)
            resetKdbServantsPastDeadline()
            if hasUnloggedReplyDrops { logReplyDrops(now: now) }
        } else if now >= earliestDeadlineInFlight ?? .max || now >= earliestQueuedDeadline {
            // A query at a servant, or one that came in the queue, reached its deadline between
            // two scans: it is answered now, not at the next scan. Parked queries are looked at
            // only when one of them is due (they are parked again by the offer that follows).
            if now >= earliestParkedDeadline ?? .max { unparkQueries() }
            if expireQueuedQueries(now: now) { drainQueue() }
            expireInFlightQueries(now: now)
            resetKdbServantsPastDeadline()
        }
        if let (answeredNow, perSecond) = status.due(now: now, count: answered) {
            logStatus(answeredNow: answeredNow, perSecond: perSecond)
        }
        // Large messages freed into the allocator's arenas go back to the system.
        memoryRelease.releaseIfDue(now: now)
        if !unlistedOutOfSession.isEmpty { forgetUnlistedServantsOutOfSession() }
    }

    /// Logs what the broker did in the last period and holds now, unless it was idle.
    func logStatus(answeredNow: UInt64, perSecond: Int) {
        guard answeredNow > 0 || queuedCount > 0 || !inFlight.isEmpty else { return }
        logger.info(
            "broker status",
            metadata: [
                "answered": "\(answered)", "perSecond": "\(perSecond)",
                "queued": "\(queuedCount)", "inFlight": "\(inFlight.count)",
                "servantsReady": "\(readyIDs.count)/\(servants.count)",
            ])
    }

    func expireDeadlines(now: UInt64) {
        // The scans below look at every waiting query: the parked ones too.
        unparkQueries()
        if !readyIDs.isEmpty {
            noServantReadySince = nil
        } else if noServantReadySince == nil {
            noServantReadySince = now
        }
        // The queries behind one that held the front may go now.
        let expiredWaiting = expireQueuedQueries(now: now)
        if expireQueriesOfFunctionsWithoutAReadyServant(now: now) || expiredWaiting { drainQueue() }
        expireInFlightQueries(now: now)
    }

    /// Answers the queries at servants whose deadline has passed with a deadline error, and
    /// sets ``earliestDeadlineInFlight`` to the earliest deadline of those left (in one pass,
    /// run by the deadline scan and whenever that deadline is due).
    func expireInFlightQueries(now: UInt64) {
        var nextEarliest: UInt64?
        for (tag, flight) in inFlight where !flight.abandoned {
            guard flight.query.deadline <= now else {
                nextEarliest = min(nextEarliest ?? .max, flight.query.deadline)
                continue
            }
            inFlight[tag]?.abandoned = true
            let record = servants[flight.servantID]
            let name = record?.name ?? ""
            reply(
                error: "deadline exceeded: servant \(name) did not answer in time",
                to: flight.query, servant: name, stage: .running(since: flight.dispatchedAt), counting: .deadline)
            // A q servant is reset for it (resetKdbServantsPastDeadline); a ZeroMQ servant may
            // still be running it, and counts as busy with it until it answers.
            logger.warning(
                "a query passed its deadline at its servant; the client got an error",
                metadata: ServantRecord.logMetadata(
                    name: name, endpoint: record?.endpoint ?? "",
                    [
                        // The query's own: the broker's --deadline, or the client's shorter option.
                        "deadline": "\(Duration.nanoseconds(Int64(clamping: flight.query.deadline &- flight.query.receivedAt)))",
                        "routing": "\(flight.query.routing)",
                    ]))
        }
        earliestDeadlineInFlight = nextEarliest
    }

    /// The error of a query whose deadline passed while it waited for a busy servant: it never
    /// reached one.
    static let deadlineExceededInQueue = "deadline exceeded: the query waited in the queue and no servant was free in time"

    /// The error of `query`, whose deadline passed in the queue, now: while servants serving it
    /// were ready but busy, ``deadlineExceededInQueue``; while none was ready (a client's
    /// deadline shorter than `--wait-for-servant`), a text that says so; while servants serving
    /// it are free and the algorithm made it wait the last time it was offered it
    /// (`MSERVE_DISPATCH_WAIT`), a text that names the algorithm, not the servants, and a line
    /// in the log (at most one a second).
    func deadlineExceededInQueueMessage(for query: borrowing HeldQuery) -> String {
        let function = query.function
        if query.keptWaitingWhileFree, !readyIDs.isEmpty {
            let everyServantServes = serviceFunctions.everyReadyServantServes(function)
            let free =
                everyServantServes
                ? freeReadyServants
                : views.indices.count { views[$0].isFree && servants[readyIDs[$0]]?.functions?.contains(function) ?? true }
            if free > 0 {
                let servantsFree = everyServantServes ? "\(free) servant(s) were free" : "\(free) servant(s) serving \(function) were free"
                if let heldBack = keptWaitingLog.admit() {
                    logger.warning(
                        "\(LogThrottle.line("a query passed its deadline in the queue while \(servantsFree): the dispatch algorithm \(algorithm.name) kept it waiting", heldBack: heldBack))",
                        metadata: ["algorithm": "\(algorithm.name)", "routing": "\(query.routing)", "free": "\(free)"])
                }
                return "deadline exceeded: the dispatch algorithm \(algorithm.name) kept the query waiting in the queue while \(servantsFree)"
            }
        }
        if readyIDs.isEmpty {
            return "deadline exceeded: the query waited in the queue while no servant was ready; "
                + "\(servants.count) servant(s) known, none ready"
        }
        guard !serviceFunctions.someReadyServantServes(function) else { return Self.deadlineExceededInQueue }
        return "deadline exceeded: the query waited in the queue while no servant serving \(function) was ready; "
            + "\(serviceFunctions.knownServantCount(serving: function)) servant(s) known serve it, none ready"
    }

    /// The least time a query must have left to be sent to a servant: under it no servant
    /// could answer before the deadline (docs/OPERATIONS.md, "Deadlines").
    static let minimumTimeToAnswer: UInt64 = 10_000_000

    /// Why `query` is not to be sent to a servant whose mean execution time for the query's
    /// function is `meanExecution` (read only when needed), at `now`: it has less than
    /// ``minimumTimeToAnswer`` left, or, once it has used half of its deadline waiting, less
    /// than that mean. Nil: it has time. A query sent at once on arrival is never held to the
    /// mean (its whole deadline is left), so a servant's slow history cannot refuse every
    /// query; nor are a function's queries held to the mean of other, slower functions. The
    /// error blames no servant.
    func tooLittleTimeLeft(
        _ query: borrowing HeldQuery, meanExecution: @autoclosure () -> UInt64, now: UInt64
    ) -> String? {
        guard query.deadline > now else { return Self.deadlineExceededInQueue }
        let left = query.deadline - now
        if left < Self.minimumTimeToAnswer {
            return "deadline exceeded: \(Self.text(nanoseconds: left)) left when a servant was free, "
                + "under the \(Self.text(nanoseconds: Self.minimumTimeToAnswer)) a servant needs at least; "
                + "the query was not sent"
        }
        let span = query.deadline &- query.receivedAt
        if left <= span / 2, case let mean = meanExecution(), left < mean {
            return "deadline exceeded: \(Self.text(nanoseconds: left)) left when a servant was free, "
                + "under its mean execution time of \(Self.text(nanoseconds: mean)) for \(query.function); the query was not sent"
        }
        return nil
    }

    /// A duration as q prints a timespan, e.g. `0D00:00:00.500000000`.
    static func text(nanoseconds: UInt64) -> String {
        "\(QValue.atom(.timespan(Int64(clamping: nanoseconds))))"
    }

    /// What a query answered from the queue went through before it waited there: nothing, or
    /// (`; it had been sent to 1 servant(s) that left or were lost before answering`) servants
    /// that were running it when they went, so that its client is not left to think it never
    /// ran.
    static func earlierSendsNote(_ query: borrowing HeldQuery) -> String {
        guard query.dispatches > 0 else { return "" }
        return "; it had been sent to \(query.dispatches) servant(s) that left or were lost before answering"
    }

    /// The error of a query calling `function` that waited `servantWait` while other servants
    /// were ready but none serving it.
    func noServantReadyMessage(function: String) -> String {
        "no servant serving \(function) was ready within \(configuration.dispatch.servantWait) (--wait-for-servant); "
            + "\(serviceFunctions.knownServantCount(serving: function)) servant(s) known serve it, none ready"
    }

    /// While servants are ready but none serving some function is, answers the queued queries
    /// calling such a function that waited `servantWait` (from their arrival, or from when the
    /// scan first found the function without a ready servant) with an error saying so, as
    /// ``expireQueuedQueries(now:)`` does when no servant at all is ready; true when there were
    /// any. Runs with the deadline scan; the whole queue is looked at only while some function
    /// lacks a ready servant.
    func expireQueriesOfFunctionsWithoutAReadyServant(now: UInt64) -> Bool {
        guard !queue.isEmpty, serviceFunctions.someFunctionLacksAReadyServant else {
            noServantReadyForFunctionSince.removeAll()
            return false
        }
        let wait = configuration.dispatch.servantWait.nanoseconds
        var stillWithout: [String: UInt64] = [:]
        var anyDue = false
        for offset in 0..<queue.count {
            let query = queue[offset: offset]
            guard !serviceFunctions.someReadyServantServes(query.function) else { continue }
            let since: UInt64
            if let found = stillWithout[query.function] {
                since = found
            } else if let found = noServantReadyForFunctionSince[query.function] {
                since = found
                stillWithout[query.function] = since
            } else {
                since = now
                stillWithout[query.function] = since
                logger.warning(
                    "queries wait: no servant serving \(query.function) is ready",
                    metadata: ["servantsKnown": "\(serviceFunctions.knownServantCount(serving: query.function))"])
            }
            anyDue = anyDue || max(query.receivedAt, since) &+ wait <= now
        }
        noServantReadyForFunctionSince = stillWithout
        guard anyDue else { return false }
        // Taken out in one pass (a removal deep in the queue costs its depth); the others keep
        // their order, the queries of lost servants still in front.
        let expired = queue.remove { query in
            guard let since = stillWithout[query.function] else { return false }
            return max(query.receivedAt, since) &+ wait <= now
        }
        for query in expired {
            reply(
                error: noServantReadyMessage(function: query.function) + Self.earlierSendsNote(query), to: query, stage: .waiting,
                counting: .noServant)
        }
        return true
    }

    /// The error of a query that waited `servantWait` while no servant was ready.
    func noServantReadyMessage() -> String {
        "no servant was ready within \(configuration.dispatch.servantWait) (--wait-for-servant); "
            + "\(servants.count) servant(s) known, none ready"
    }

    /// Why the queued `query` is answered now with an error, and how it is counted: its
    /// deadline passed (`.deadline`), or it waited `servantWait` while no servant was ready
    /// (`noServantSince`, `.noServant`); nil: it waits on.
    func expiry(
        of query: borrowing HeldQuery, now: UInt64, noServantSince: UInt64?
    ) -> (outcome: BrokerMetrics.Outcome, message: String)? {
        if query.deadline <= now {
            return (.deadline, deadlineExceededInQueueMessage(for: query) + Self.earlierSendsNote(query))
        }
        if let noServantSince,
            max(query.receivedAt, noServantSince) &+ configuration.dispatch.servantWait.nanoseconds <= now
        {
            return (.noServant, noServantReadyMessage() + Self.earlierSendsNote(query))
        }
        return nil
    }

    /// Answers the queued queries whose deadline has passed with a deadline error, and, while
    /// no servant is ready, those that waited `servantWait` with an error saying so; takes them
    /// out of the queue; true when there were any. Run before the queue is offered to
    /// servants, so that a query with no time left is never sent.
    @discardableResult
    func expireQueuedQueries(now: UInt64) -> Bool {
        var expiredQueued = expireQueriesWithOwnDeadlines(now: now)
        let noServantSince = readyIDs.isEmpty ? noServantReadySince : nil
        // New queries queue in arrival order, so the expired ones among them come first (those
        // with a shorter deadline of their own were answered just above). Ahead
        // of them are the queries of lost servants, in the order the servants were lost: an
        // older one may wait behind a younger one there, so each is looked at.
        var requeued = queue.prependedCount
        var offset = 0
        var earliestKept: UInt64?
        defer { earliestPutBackDeadline = earliestKept }
        while offset < requeued {
            guard let expiry = expiry(of: queue[offset: offset], now: now, noServantSince: noServantSince) else {
                earliestKept = min(earliestKept ?? .max, queue[offset: offset].deadline)
                offset += 1
                continue
            }
            let expired = queue.remove(atOffset: offset)
            requeued -= 1
            reply(error: expiry.message, to: expired, stage: .waiting, counting: expiry.outcome)
            expiredQueued = true
        }
        // Both limits are counted from arrival (the servant wait from no later than when the
        // servants went): the expired ones among the new queries come first.
        while requeued < queue.count,
            let expiry = expiry(of: queue[offset: requeued], now: now, noServantSince: noServantSince)
        {
            let expired = queue.remove(atOffset: requeued)
            reply(error: expiry.message, to: expired, stage: .waiting, counting: expiry.outcome)
            expiredQueued = true
        }
        return expiredQueued
    }

    /// Answers the queued queries whose own deadline (a client's `deadline` option) has passed,
    /// once the earliest of them is due: they may stand behind queries that came before them
    /// with the broker's longer deadline, which `expireQueuedQueries` relies on to stop early.
    /// The queue keeps its order; true when there were any.
    private func expireQueriesWithOwnDeadlines(now: UInt64) -> Bool {
        guard let earliest = earliestOwnDeadlineQueued, earliest <= now else { return false }
        var nextEarliest: UInt64?
        let expired = queue.remove { query in
            guard query.hasOwnDeadline else { return false }
            if query.deadline <= now { return true }
            nextEarliest = min(nextEarliest ?? .max, query.deadline)
            return false
        }
        for query in expired {
            reply(
                error: deadlineExceededInQueueMessage(for: query) + Self.earlierSendsNote(query), to: query,
                stage: .waiting, counting: .deadline)
        }
        earliestOwnDeadlineQueued = nextEarliest
        return !expired.isEmpty
    }
}

/// The broker's heartbeats, spread: servants are split into `count` slots by id, and one slot's
/// turn comes every heartbeat interval / `count`. Each servant is still sent a PING (and judged
/// on its silence) once an interval, but a broker with thousands of servants sends an eighth of
/// the PINGs every 50 ms (at the default 0.4 s) instead of all of them in one burst, which would
/// hold up every query arriving meanwhile.
enum HeartbeatSlots {
    /// How many slots an interval is split into.
    static let count: UInt64 = 8

    /// The slot of servant `id`: consecutive ids (servants added one after another) fall in
    /// different slots.
    @inline(__always)
    static func slot(of id: UInt64) -> UInt64 { id % count }
}
