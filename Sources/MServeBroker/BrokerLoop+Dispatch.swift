// The broker loop's dispatch: asking the algorithm for a servant, sending queries in
// per-servant batches, and offering the queue to servants as they free up.

import Logging
import MServePlugin
import MServeProtocol
import ZeroMQ

extension BrokerLoop {
    /// What the algorithm decided for one query.
    enum DispatchChoice {
        /// Dispatch it to the ready servant at this index (a free one).
        case servant(Int)
        /// Leave it waiting: the algorithm said so (`MSERVE_DISPATCH_WAIT`) — while a servant
        /// serving the query was free, if any was — or no servant is ready.
        case wait
        /// Leave it waiting: no servant serving its function is free (the algorithm was not asked).
        case noneFree
        /// The algorithm named no servant or a busy one: the query fails (`failInvalidChoice`).
        case invalid

        /// Whether it is ``wait``.
        var isWait: Bool {
            if case .wait = self { return true }
            return false
        }
    }

    /// Asks the algorithm for a servant for a query of `routing` calling `function`, among the
    /// ready servants serving that function (all of them, in the common case that every one
    /// does: the views are then passed as they are, without a copy).
    ///
    /// `clock` is a clock reading taken just before (nil: none at hand, one is taken), the
    /// start of the plugin's call (``pluginCallEnded(_:startedAt:ofRoutingHook:)``); it is
    /// left holding the reading taken when the plugin returned, for what follows.
    func choose(routing: String, function: String, clock: inout UInt64?) -> DispatchChoice {
        guard !views.isEmpty else { return .wait }
        if algorithm.followsEvents { return chooseByEvents(routing: routing, function: function, clock: &clock) }
        if serviceFunctions.everyReadyServantServes(function) {
            let start = clock ?? QueryClock.monotonicNanoseconds()
            let choice = algorithm.choose(routing: routing, servants: views)
            clock = pluginCallEnded(.choose, startedAt: start)
            guard let choice else { return .wait }
            return checked(choice, returned: "index \(choice) of \(views.count) servants")
        }
        // Narrowed to the servants serving the function, in the same order.
        candidateViews.removeAll(keepingCapacity: true)
        candidateIndices.removeAll(keepingCapacity: true)
        var anyFree = false
        for index in views.indices where servants[readyIDs[index]]?.functions?.contains(function) ?? true {
            candidateViews.append(views[index])
            candidateIndices.append(index)
            anyFree = anyFree || views[index].isFree
        }
        // None free: the query waits for one of them, whatever the algorithm would say.
        guard anyFree else { return .noneFree }
        let start = clock ?? QueryClock.monotonicNanoseconds()
        let choice = algorithm.choose(routing: routing, servants: candidateViews)
        clock = pluginCallEnded(.choose, startedAt: start)
        guard let choice else { return .wait }
        // What the log of an invalid choice shows; made only then.
        func returned() -> String { "index \(choice) of the \(candidateIndices.count) servants serving \(function)" }
        guard candidateIndices.indices.contains(choice) else { return checked(nil, returned: returned()) }
        return checked(candidateIndices[choice], returned: returned())
    }

    /// Asks an algorithm that follows events (ABI version 3) for a servant id among the function's
    /// candidate group (0 when every ready servant serves it): no view is built or passed.
    private func chooseByEvents(routing: String, function: String, clock: inout UInt64?) -> DispatchChoice {
        var group: UInt32 = 0
        if !serviceFunctions.everyReadyServantServes(function) {
            if serviceFunctions.group(of: function) == nil { clock = nil }  // the group's members are told first
            group = candidateGroup(of: function)
            // None free: the query waits for one of them, whatever the algorithm would say.
            guard serviceFunctions.freeMemberCount(of: group) > 0 else { return .noneFree }
        }
        let start = clock ?? QueryClock.monotonicNanoseconds()
        let chosen = algorithm.choose(routing: routing, function: function, group: group)
        clock = pluginCallEnded(.chooseIn, startedAt: start)
        guard let id = chosen else { return .wait }
        // What the log of an invalid choice shows; made only then. A C plugin's negative value
        // shows as it returned it (-5, not 18446744073709551611).
        func returned() -> String {
            let shown = id > UInt64(Int64.max) ? "\(Int64(bitPattern: id))" : "\(id)"
            return group == 0 ? "servant id \(shown)" : "servant id \(shown) for group \(group) (\(function))"
        }
        guard let index = readyPosition[id], group == 0 || servants[id]?.groups.contains(group) == true else {
            return checked(nil, returned: returned() + ", not a ready servant that serves it")
        }
        return checked(index, returned: returned())
    }

    /// The candidate group of `function`, made (and its ready members told to the algorithm)
    /// when a query first needs it.
    func candidateGroup(of function: String) -> UInt32 {
        if let group = serviceFunctions.group(of: function) { return group }
        let group = serviceFunctions.makeGroup(for: function)
        for id in readyIDs where servants[id]?.functions?.contains(function) ?? true {
            join(id, groups: [group])
        }
        return group
    }

    /// Ready servant `id` joins candidate `groups`; the algorithm hears of each.
    func join(_ id: UInt64, groups: [UInt32]) {
        guard !groups.isEmpty, let record = servants[id], let index = readyPosition[id] else { return }
        record.groups.append(contentsOf: groups)
        if views[index].isFree { serviceFunctions.countFree(in: groups, by: 1) }
        var clock = QueryClock.monotonicNanoseconds()
        for group in groups {
            algorithm.observe(.joined(servant: id, group: group))
            clock = pluginCallEnded(.observe, startedAt: clock)
        }
    }

    /// Ready servant `id` leaves its candidate groups, then dispatch; the algorithm hears of each.
    func leaveGroupsAndDispatch(_ id: UInt64, at index: Int) {
        guard let record = servants[id] else { return }
        if views[index].isFree { serviceFunctions.countFree(in: record.groups, by: -1) }
        var clock = QueryClock.monotonicNanoseconds()
        for group in record.groups {
            algorithm.observe(.left(servant: id, group: group))
            clock = pluginCallEnded(.observe, startedAt: clock)
        }
        record.groups.removeAll()
        algorithm.observe(.unready(servant: id))
        _ = pluginCallEnded(.observe, startedAt: clock)
    }

    /// The algorithm's choice, checked: `index` of a free ready servant, or `.invalid` (nil: the
    /// algorithm named none). The log of an invalid one says what the algorithm `returned`.
    private func checked(_ index: Int?, returned: @autoclosure () -> String) -> DispatchChoice {
        guard let index, views.indices.contains(index), views[index].isFree else {
            if let heldBack = invalidChoiceLog.admit() {
                let what = index.map { views.indices.contains($0) ? "a busy servant" : "no ready servant" } ?? "no ready servant"
                logger.warning(
                    "\(LogThrottle.line("the dispatch algorithm chose \(what); the query fails", heldBack: heldBack))",
                    metadata: ["algorithm": "\(algorithm.name)", "returned": "\(returned())"])
            }
            return .invalid
        }
        return .servant(index)
    }

    /// Answers `query` with the error of a dispatch algorithm that named no free servant: a
    /// query left waiting for a choice that may never come would fail only at its deadline.
    func failInvalidChoice(of query: HeldQuery) {
        reply(
            error: "the dispatch algorithm \(algorithm.name) returned an invalid servant", to: query,
            stage: .waiting, counting: .failed)
    }

    /// Sends `query` to the ready servant at `index` — a ZeroMQ servant's queries go to its
    /// outbox and leave with the turn's others (`flushOutboxes`) — and counts it in flight;
    /// false when that servant turned out to be gone (it is then lost, and its queries are back
    /// at the front of the queue). A query with too little time left for the servant to answer
    /// (`tooLittleTimeLeft`) is answered with a deadline error instead, and true returned.
    /// `now` is a clock reading just taken (the end of the algorithm's choice), nil for none.
    @discardableResult
    func dispatch(_ query: HeldQuery, toReadyIndex index: Int, now: UInt64? = nil) -> Bool {
        let servantID = readyIDs[index]
        guard let record = servants[servantID] else { return false }
        let now = now ?? QueryClock.monotonicNanoseconds()
        if let tooLate = tooLittleTimeLeft(
            query, meanExecution: record.meanExecutionNanoseconds(of: query.function), now: now)
        {
            // Answered here, never sent: the servant stays free for the next one.
            reply(error: tooLate, to: query, stage: .waiting, counting: .deadline)
            return true
        }
        // Never to a servant that does not serve the function (the algorithm chose among those that do).
        assert(record.functions?.contains(query.function) ?? true, "dispatch of \(query.function) to \(record.name)")
        // A tag of its own for each sending: a query sent again after its servant was lost may
        // go back to that servant once it is in session again, and the answer its earlier
        // sending still owes must not be taken for this one's (it would free a place the
        // servant still holds).
        query.tag = nextTag
        nextTag &+= 1
        query.dispatches += 1
        let isQServant = kdbServants.owns(servantID)
        if isQServant {
            guard kdbServants.send(query: query.message.bytes, tag: query.tag, to: servantID) else {
                // The servant vanished under us: it is lost; the query goes back to the front.
                query.dispatches -= 1
                putBack(query)
                servantLost(servantID, reason: .unreachable)
                return false
            }
            if query.dispatches > 1 { metrics.sentAgain() }
        }
        record.inFlight += 1
        record.lastRouting = query.routing
        views[index].inFlight += 1
        if !views[index].isFree {
            freeServants.remove(servantID, list: record.functionList)
            if !record.groups.isEmpty { serviceFunctions.countFree(in: record.groups, by: -1) }
        }
        views[index].lastRouting = query.routing
        if algorithm.followsEvents {
            // From `now`, unless a q servant's query was written since.
            let start = isQServant ? QueryClock.monotonicNanoseconds() : now
            algorithm.observe(.dispatched(servant: servantID, routing: query.routing, inFlight: record.inFlight))
            _ = pluginCallEnded(.observe, startedAt: start)
        }
        earliestDeadlineInFlight = min(earliestDeadlineInFlight ?? .max, query.deadline)
        inFlight[query.tag] = InFlightQuery(query: query, servantID: servantID, dispatchedAt: now)
        guard !isQServant else { return true }
        if record.outbox.isEmpty { servantsWithOutbox.append(servantID) }
        record.outbox.append((query.tag, query.message, query.dispatches > 1))
        return record.outbox.count < min(record.batchLimit, configuration.servants.batchLimit)
            || flushOutbox(of: servantID)
    }

    /// Sends every outbox.
    func flushOutboxes() {
        // A servant found gone is lost, which drains the queue into other outboxes: loop.
        while !servantsWithOutbox.isEmpty {
            swap(&servantsWithOutbox, &servantsBeingFlushed)
            for id in servantsBeingFlushed { flushOutbox(of: id) }
            servantsBeingFlushed.removeAll(keepingCapacity: true)
        }
        // The servants' queries first: they start work while the replies leave.
        sendClientReplies()
    }

    /// Sends the servant's outbox as one QUERY message, `[tag, (id; query)]` per query; false
    /// when the servant cannot be reached: it is then lost, and the queries that were to go
    /// are back in the queue without counting as sent. The queries sent before, to a servant
    /// lost or gone while running them, count as sent again once they are sent here.
    @discardableResult
    func flushOutbox(of id: UInt64) -> Bool {
        guard let record = servants[id], !record.outbox.isEmpty else { return true }
        var batch = record.outbox
        record.outbox = []
        let routingID = record.routingID
        do {
            if try beginServantMessage(routingID, .query, hasBody: true) {
                var sentAgain = 0
                for index in batch.indices {
                    WireInteger.encode(batch[index].tag, into: &tagFrame)
                    try servantSocket.send(tagFrame, more: true)
                    try sendToServant(batch[index].message, more: index != batch.count - 1)
                    if batch[index].sentBefore { sentAgain += 1 }
                }
                // Counted once the whole message went: libzmq sends all of its frames or none.
                if sentAgain > 0 { metrics.sentAgain(sentAgain) }
                // The emptied storage goes back to the outbox: the next batch grows no array.
                batch.removeAll(keepingCapacity: true)
                if record.outbox.isEmpty { record.outbox = batch }
                return true
            }
        } catch {}
        for item in batch { inFlight[item.tag]?.query.dispatches -= 1 }
        servantLost(id, reason: .unreachable)
        return false
    }

    /// Offers the queued queries to the algorithm in arrival order, up to the look-ahead from
    /// the front, while a servant is free: a query it makes wait stays where it is and the
    /// ones behind it may go first. An algorithm that takes queries for a free servant
    /// (`take`) is asked first, for each free servant in the order of the list.
    func drainQueue() {
        assert(freeReadyServants == views.count(where: \.isFree), "the free servants counted are not the free views")
        // The latest clock reading, while only bookkeeping has been done since: where the
        // algorithm's next call starts (``pluginCallEnded(_:startedAt:ofRoutingHook:)``).
        var clock: UInt64?
        if !queue.isEmpty {
            // A query whose deadline passed since the last deadline scan is answered, not sent.
            let now = QueryClock.monotonicNanoseconds()
            if !expireQueuedQueries(now: now) { clock = now }
        }
        // A query no ready servant serves takes no place in the look-ahead.
        parkQueriesNoReadyServantServes()
        if algorithm.takesQueries, !queue.isEmpty {
            guard letFreeServantsTakeQueries(clock: &clock) else { return }
        }
        var offset = 0
        var madeToWait = false
        while offset < queue.count, offset < configuration.dispatch.lookAhead, freeReadyServants > 0 {
            let query = queue[offset: offset]
            switch choose(routing: query.routing, function: query.function, clock: &clock) {
            case .wait:
                // Asked while a servant serving it was free (`choose` is `.noneFree` otherwise).
                query.keptWaitingWhileFree = true
                offset += 1
                madeToWait = true
            case .noneFree:
                query.keptWaitingWhileFree = false
                offset += 1
            case .invalid:
                failInvalidChoice(of: queue.remove(atOffset: offset))
                clock = nil
            case .servant(let index):
                queue.remove(atOffset: offset)
                // A servant found gone was lost, which drained the queue again: stop here.
                guard dispatch(query, toReadyIndex: index, now: clock) else { return }
                clock = nil
            }
        }
        // Offered again soon only if the algorithm made a query wait while a servant was free.
        if madeToWait { offerAgainSoonWhileAServantIsFree() }
    }

    /// Asks the algorithm, for each free servant in the order of the list, which of the queries
    /// at the front of the line (up to the look-ahead) calling a function it serves it takes,
    /// and dispatches them; false when a servant turned out to be gone (it was lost, which
    /// drained the queue again). Only the free servants that serve a function one of those
    /// queries calls are visited, found through the lists of functions they announced
    /// (``FreeServants``): O(lists + such servants), not O(free servants).
    /// `clock` is as for ``choose(routing:function:clock:)``.
    func letFreeServantsTakeQueries(clock: inout UInt64?) -> Bool {
        var offers = TakeOffers()
        var gathered = false
        var from: UInt64 = 0
        while !queue.isEmpty {
            if !gathered {
                gatherTakeOffers(into: &offers)
                gathered = true
            }
            // The next free servant, from `from` on, of a list that serves a query offered.
            var next: (id: UInt64, offer: Int)?
            for offer in offers.lists.indices {
                guard let id = freeServants.lists[offers.lists[offer].number]?.free.first(atOrAfter: from) else { continue }
                if next == nil || id < next!.id { next = (id, offer) }
            }
            guard let (id, offer) = next else { break }
            guard let index = readyPosition[id] else {
                from = id + 1
                continue
            }
            let routings = offers.lists[offer].routings
            let start = clock ?? QueryClock.monotonicNanoseconds()
            let taken = algorithm.take(servant: views[index], routings: routings)
            clock = pluginCallEnded(.take, startedAt: start)
            guard let taken, taken >= 0, taken < routings.count else {
                from = id + 1
                continue
            }
            let offset = offers.lists[offer].offsets[taken]
            gathered = false
            // The same servant is asked again while it is still free (a capacity above one).
            guard dispatch(queue.remove(atOffset: offset), toReadyIndex: index, now: clock) else { return false }
            clock = nil
            from = id
        }
        return true
    }

    /// The queries at the front of the line (up to the look-ahead) offered to the free servants
    /// of each list of functions that serves one of them: its number, and the routing strings of
    /// those queries and their offsets in the queue, in arrival order.
    struct TakeOffers {
        var lists: [(number: Int, routings: [String], offsets: [Int])] = []
        /// The functions of the queries offered, each once, in order of first appearance.
        var functions: [String] = []
    }

    /// Fills `offers` from the queue's look-ahead: each list with free servants that serves a
    /// function of the queries there, with the queries it may take. A list is tested once per
    /// function, not once per servant.
    func gatherTakeOffers(into offers: inout TakeOffers) {
        offers.lists.removeAll(keepingCapacity: true)
        offers.functions.removeAll(keepingCapacity: true)
        let window = min(queue.count, configuration.dispatch.lookAhead)
        for offset in 0..<window where !offers.functions.contains(queue[offset: offset].function) {
            offers.functions.append(queue[offset: offset].function)
        }
        for (number, list) in freeServants.lists.enumerated() {
            guard let list, !list.free.isEmpty else { continue }
            let served: [Bool]
            switch list.functions {
            case .every: served = Array(repeating: true, count: offers.functions.count)
            case .only(let names): served = offers.functions.map { names.contains($0) }
            }
            guard served.contains(true) else { continue }
            var routings: [String] = []
            var offsets: [Int] = []
            for offset in 0..<window {
                let query = queue[offset: offset]
                if let slot = offers.functions.firstIndex(of: query.function), served[slot] {
                    routings.append(query.routing)
                    offsets.append(offset)
                }
            }
            offers.lists.append((number, routings, offsets))
        }
    }

    /// Takes the queries no ready servant serves out of the look-ahead, into ``parked``, until
    /// the look-ahead holds only queries a ready servant serves (or the line ends): they wait
    /// for such a servant (at most `--wait-for-servant`) while the ones behind them go. Each
    /// query is parked once between two deadline scans, so however many wait, an offer costs
    /// little more than the look-ahead. Nothing happens while a ready servant serves every
    /// function.
    func parkQueriesNoReadyServantServes() {
        guard serviceFunctions.someFunctionLacksAReadyServant else { return }
        var offset = 0
        while offset < queue.count, offset < configuration.dispatch.lookAhead {
            if serviceFunctions.someReadyServantServes(queue[offset: offset].function) {
                offset += 1
            } else {
                let query = queue.remove(atOffset: offset)
                earliestParkedDeadline = min(earliestParkedDeadline ?? .max, query.deadline)
                parked.append(query)
            }
        }
    }

    /// Puts a query back at the front of the line (it leaves next), its deadline kept for the
    /// loop's wake-up (``earliestQueuedDeadline``).
    func putBack(_ query: HeldQuery) {
        queue.prepend(query)
        earliestPutBackDeadline = min(earliestPutBackDeadline ?? .max, query.deadline)
    }

    /// Puts the parked queries back at the front of the line, in arrival order.
    func unparkQueries() {
        guard !parked.isEmpty else { return }
        for query in parked.removeAll().reversed() { putBack(query) }
        earliestParkedDeadline = nil
    }

    /// Queries the algorithm made wait while a servant was free are offered again within
    /// `reofferInterval`, not only at the next arrival or answer: an algorithm that waits for
    /// a time (match waits at most a cold run's worth) keeps its word when nothing else happens.
    func offerAgainSoonWhileAServantIsFree() {
        guard reofferAt == nil, !queue.isEmpty, freeReadyServants > 0 else { return }
        reofferAt = QueryClock.monotonicNanoseconds() + Self.reofferInterval
    }

    /// How soon queries made to wait while a servant is free are offered again.
    static let reofferInterval: UInt64 = 1_000_000

    /// Queries still waiting for a servant from kdb+ door connections that have closed are not
    /// run: nobody can read their answers (a ZeroMQ client may come back under its routing id,
    /// a door connection never does). Each ends as a failure its client never sees, and a line
    /// a second at most says how many went.
    func dropQueuedQueries(ofClosedKdbConnections closed: [UInt64]) {
        unparkQueries()
        guard !queue.isEmpty else { return }
        let connections = Set(closed)
        let dropped = queue.remove { query in
            if case .kdb(let connection, _) = query.route { return connections.contains(connection) }
            return false
        }
        guard !dropped.isEmpty else { return }
        for query in dropped {
            reply(error: Self.kdbConnectionClosedInQueue, to: query, stage: .waiting, counting: .failed)
        }
        if let heldBack = closedClientQueriesLog.admit() {
            logger.notice(
                "\(LogThrottle.line("dropped \(dropped.count) queued queries of a kdb+ connection that closed: they were not run", heldBack: heldBack))")
        }
    }

    /// What a query dropped from the queue with its kdb+ connection ends with (nobody reads it).
    static let kdbConnectionClosedInQueue = "mserve: the client's kdb+ connection closed while the query waited for a servant; it was not run"

    func failQueued(reason: String) {
        unparkQueries()
        for query in queue.removeAll() {
            reply(error: reason, to: query, stage: .waiting, counting: .failed)
        }
    }
}
