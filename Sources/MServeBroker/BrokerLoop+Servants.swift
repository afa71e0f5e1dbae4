// The broker loop's servant side: connecting, the HELLO/READY handshake, answers, and
// servants that leave or are lost.

import Logging
import MServePlugin
import MServeProtocol
import POSIXSockets
import QData
import ZeroMQ

extension BrokerLoop {
    /// Starts using the servant at `endpoint`; `configured`: one the broker was given
    /// (``BrokerConfiguration/Servants/endpoints``), not one added while it runs.
    func addServant(endpoint: String, serverKey: String? = nil, configured: Bool = false) {
        if let id = servantByEndpoint[endpoint], unlistedServants.contains(id), let record = servants[id] {
            if record.serverKey == serverKey {
                // The hub lists it again (a servant that registered again once the hub heard
                // from it, or a hub back from a cut): the same servant, its record and its
                // series kept.
                unlistedServants.remove(id)
                logger.info("the hub lists the servant again", metadata: record.logMetadata())
                return
            }
            // Listed under another key: a new servant at that endpoint, which its users must
            // pin; the one kept is forgotten, and what it still ran goes elsewhere.
            removeServant(endpoint: endpoint, reason: .replaced)
        }
        guard servantByEndpoint[endpoint] == nil else { return }
        // Admission first: a q servant cannot prove a CURVE key, so a broker with keys refuses it.
        if let admission, !admission.admitsServant(endpoint: endpoint, serverKey: serverKey) { return }
        if KdbServantLinks.isKdbEndpoint(endpoint) { return addKdbServant(endpoint: endpoint, configured: configured) }
        let id = nextServantID
        nextServantID += 1
        let routingID = Self.routingID(ofServant: id)
        let (host, port) = Self.hostAndPort(endpoint)
        let record = ServantRecord(
            id: id, endpoint: endpoint, routingID: routingID, name: "\(host):\(port)", host: host)
        record.serverKey = serverKey
        do {
            try connect(record)
        } catch {
            logger.error(
                "cannot connect to servant \(endpoint): \((error as? ZMQError)?.reason ?? "\(error)")",
                metadata: record.logMetadata())
            return
        }
        // A servant was in session with this broker at this endpoint before (removed since):
        // a connection that stays silent is most likely its old one, still held there. Until
        // a READY names it, it goes by its name then, not by `HOST:PORT`.
        if let formerName = formerServantEndpoints.take(endpoint) {
            record.wasInSession = true
            record.name = formerName
        }
        servants[id] = record
        servantByEndpoint[endpoint] = id
        logger.info("servant added", metadata: record.logMetadata())
    }

    func removeServant(endpoint: String, reason: ServantLoss) {
        guard let id = servantByEndpoint[endpoint], servants[id] != nil else { return }
        if !kdbServants.owns(id) {
            // What it sent before it went (its last answers, its BYE) counts first, as when its
            // connection drops (`readMonitor`). And the disconnect below must not cut a message
            // libzmq has begun to take from its pipe: a poll's look at the ROUTER takes the
            // first part of the next message ahead, and libzmq aborts the process (`!_more`,
            // fq.cpp) when the pipe with the rest of it is gone before it is read.
            readServants()
        }
        guard servants[id] != nil else { return }
        servantLost(id, reason: reason)
        forgetServant(id)
    }

    /// The hub no longer lists the servant at `endpoint` (``Broker/servantLeft(endpoint:)``:
    /// its `LEAVE`, or a listing without it). The hub judges its spokes by their heartbeats to
    /// it, which a cut between the hub and the servant, or a hub cut from everyone, stops while
    /// the servant still answers this broker; so for a servant in session here, this broker's
    /// own link is the authority: it is kept, in dispatch (or draining) as it was, and removed
    /// when its session ends (it misses its heartbeats, its connection ends, it restarts or
    /// says goodbye), never connected to again for itself
    /// (``forgetUnlistedServantsOutOfSession()``). Listed again meanwhile, it is kept as it is
    /// (``addServant(endpoint:serverKey:configured:)``). A servant not in session (connecting,
    /// lost) is removed at once; so is a q servant, whose only liveness here is its TCP
    /// connection. Never logged as lost for the hub's word.
    func servantLeft(endpoint: String) {
        guard let id = servantByEndpoint[endpoint], let record = servants[id] else { return }
        if kdbServants.owns(id) { return removeServant(endpoint: endpoint, reason: .removed) }
        // Its last answers, its DRAIN and its BYE count first.
        readServants()
        guard servants[id] === record, !unlistedServants.contains(id) else { return }
        guard record.state.isInSession else { return forgetLeftServant(record) }
        unlistedServants.insert(id)
        // A draining servant is going anyway (a servant leaves the hub after its drain): no news.
        if record.state == .ready {
            logger.notice(
                "the hub no longer lists servant \(LogText.printable(Array(record.name.utf8), limit: 256)), which still answers this broker: kept until it stops answering or says goodbye",
                metadata: record.logMetadata())
        }
    }

    /// Removes the servants the hub no longer lists whose session with this broker ended since
    /// it said so (``servantLeft(endpoint:)``): what they ran was sent elsewhere or answered
    /// when they were lost or left. Run at the end of each turn's timers, once the code that
    /// ended their session is done with their records.
    func forgetUnlistedServantsOutOfSession() {
        // Their last messages count first, and no message of theirs is cut (removeServant).
        readServants()
        while !unlistedOutOfSession.isEmpty {
            let ids = unlistedOutOfSession
            unlistedOutOfSession.removeAll()
            for id in ids {
                // Not one listed again meanwhile, nor one in session anew.
                guard let record = servants[id], unlistedServants.contains(id), !record.state.isInSession else { continue }
                logger.info("servant removed: the hub no longer lists it", metadata: record.logMetadata())
                record.unreachableLogged = true
                forgetServant(id)
            }
        }
    }

    /// Drops a servant the hub no longer lists, not in session: not a loss.
    private func forgetLeftServant(_ record: ServantRecord) {
        logger.info("servant removed: the hub no longer lists it", metadata: record.logMetadata())
        record.unreachableLogged = true
        servantLost(record.id, reason: .left, quietly: true)
        forgetServant(record.id)
    }

    /// Drops a servant taken out of dispatch (``servantLost(_:reason:quietly:)`` came first):
    /// it is told goodbye and disconnected, and its endpoint may be added again.
    private func forgetServant(_ id: UInt64) {
        guard let record = servants[id] else { return }
        let endpoint = record.endpoint
        unlistedServants.remove(id)
        if kdbServants.owns(id) {
            kdbServants.remove(servantID: id)
        } else {
            sendToServant(record.routingID, .bye)
            try? servantSocket.disconnect(endpoint)
            if record.wasInSession { formerServantEndpoints.insert(endpoint, name: record.name) }
        }
        if let functions = record.functions {
            serviceFunctions.forget(functions)
            freeServants.withdraw(record.functionList)
        }
        if algorithm.followsEvents { timedPluginCall(.observe) { algorithm.observe(.removed(servant: id)) } }
        servants[id] = nil
        servantByEndpoint[endpoint] = nil
        // The queries waiting for the functions only this servant served (it was lost, and
        // now it is gone for good: the hub or the operator removed it) wait for nothing: they
        // get the error a new query calling such a function gets, at once.
        if record.functions != nil { refuseQueuedQueriesNoServantServes() }
    }

    /// Takes servant `id` out of the ready servants, if it is there.
    func leaveReadySet(_ id: UInt64) {
        guard let index = readyPosition[id] else { return }
        if algorithm.followsEvents { leaveGroupsAndDispatch(id, at: index) }
        readyPosition[id] = nil
        freeServants.remove(id, list: servants[id]?.functionList ?? 0)
        readyIDs.remove(at: index)
        views.remove(at: index)
        renumberReadyServants(from: index)
        serviceFunctions.leftReady(servants[id]?.functions ?? .every)
    }

    /// Brings `readyPosition` up to date for the ready servants from `index` on (after one
    /// joined or left there: they moved by one).
    func renumberReadyServants(from index: Int) {
        for position in index..<readyIDs.count { readyPosition[readyIDs[position]] = position }
        assert(readyPosition.count == readyIDs.count && freeReadyServants == views.count(where: \.isFree))
    }

    /// The routing id the broker gives servant `id` on its servant socket for its `connection`-th
    /// connection the broker made anew itself: `servant-ID`, then `servant-ID.N`. Each such
    /// connection has its own: libzmq aborts the process (`!has_out_pipe`, router.cpp) when a
    /// connection is made under a routing id whose old pipe it has not let go of yet, which a
    /// loaded host can delay past the heartbeat the broker waits; and what the old connection
    /// still delivers is told from the new one's (``readServants()`` drops it).
    static func routingID(ofServant id: UInt64, connection: UInt64 = 0) -> [UInt8] {
        Array((connection == 0 ? "servant-\(id)" : "servant-\(id).\(connection)").utf8)
    }

    /// The servant id in a routing id made by ``routingID(ofServant:connection:)``; nil for
    /// anything else. Read in place: this runs for every message from a servant.
    static func servantID(fromRoutingID bytes: ArraySlice<UInt8>) -> UInt64? {
        let prefix = "servant-".utf8
        guard bytes.count > prefix.count, bytes.count <= prefix.count + 41,
            bytes.prefix(prefix.count).elementsEqual(prefix)
        else { return nil }
        let digits = bytes.dropFirst(prefix.count)
        let dot = digits.firstIndex(of: UInt8(ascii: "."))
        guard let id = Self.decimal(dot.map { digits[..<$0] } ?? digits) else { return nil }
        if let dot, Self.decimal(digits[(dot + 1)...]) == nil { return nil }
        return id
    }

    /// The number `bytes` write in decimal, at most 20 digits and no leading zero but for 0
    /// itself; nil for anything else.
    private static func decimal(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 20, bytes.count == 1 || bytes.first != UInt8(ascii: "0") else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    static func hostAndPort(_ endpoint: String) -> (String, String) {
        let address = ZMQEndpoint(endpoint)?.address ?? endpoint
        return ZMQEndpoint.split(address) ?? (address, "")
    }

    /// Sends `[routing id, MSV1, command, body…]`; false when the servant is not connected.
    @discardableResult
    func sendToServant(_ routingID: [UInt8], _ command: ServantCommand, _ body: [UInt8]...) -> Bool {
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
    func beginServantMessage(
        _ routingID: [UInt8], _ command: ServantCommand, hasBody: Bool
    ) throws(ZMQError) -> Bool {
        guard try servantSocket.send(routingID, more: true, dontWait: true) else { return false }
        try servantSocket.send(ServantLink.protocolMarker, more: true)
        try servantSocket.send(command.frame, more: hasBody)
        return true
    }

    /// Sends a query's message as the next frame of a servant message: a client's frame shared
    /// with the query held here (for a re-dispatch), not copied.
    func sendToServant(_ message: QueryMessage, more: Bool) throws(ZMQError) {
        switch message {
        case .frame(let frame): try servantSocket.send(frame.copy(), more: more)
        case .bytes(let bytes): try servantSocket.send(bytes, more: more)
        }
    }

    /// Handles the servant socket's connection events waiting in its monitor.
    ///
    /// Read late (a busy loop, a loaded host), an event may be of a connection that is gone:
    /// libzmq connects again by itself 100 ms after a connection ends, so the end of one
    /// connection may be followed, in the same read, by the next one, to a servant started
    /// meanwhile, which may have been greeted already (a HELLO waits in the socket until a
    /// connection takes it) and answered. So, for an endpoint whose next connection came up
    /// in what was read, a failed handshake does not end that connection (the servant's READY
    /// would be lost with it), and the end of a connection of a servant not in session says
    /// nothing (it would count the new connection's READY as said before the end, then end
    /// the session it began). And a connection that came up after the broker ended the
    /// endpoint's connections itself (``endConnectionForGood(_:cause:)``), reported late, is
    /// ended already, and not greeted.
    func readMonitor() {
        var events: [ZMQMonitorEvent] = []
        while let event = try? monitor.next(dontWait: true) { events.append(event) }
        guard !events.isEmpty else { return }
        handleConnectionEvents(events)
    }

    /// Handles connection events read in one go, in their order (``readMonitor()``).
    func handleConnectionEvents(_ events: [ZMQMonitorEvent]) {
        // Where each servant's last reported connection came up.
        var lastConnected: [UInt64: Int] = [:]
        var ids: [UInt64?] = []
        ids.reserveCapacity(events.count)
        for (index, event) in events.enumerated() {
            let id = servantByEndpoint[event.endpoint]
            ids.append(id)
            if let id, event.event.contains(.connected) { lastConnected[id] = index }
        }
        for (index, event) in events.enumerated() {
            guard let id = ids[index], let record = servants[id] else { continue }
            let replaced = index < lastConnected[id] ?? -1
            // What became of a servant's connections, for whoever must tell why it was lost:
            // the value is the connection's file descriptor (connected, disconnected) or the
            // wait before the next try (connect retried).
            logger.debug(
                "servant connection event",
                metadata: record.logMetadata([
                    "event": "\(event.event)", "value": "\(event.value)", "state": "\(record.state)",
                    "replaced": "\(replaced)",
                ]))
            if event.event.contains(.connected) {
                let heardOnIt = record.heardBeforeItsConnectionEvent
                record.heardBeforeItsConnectionEvent = false
                guard !replaced, !record.reconnectDue else { continue }
                record.connected = true
                record.unconnectedHellos = 0
                record.unreachableLogged = false
                // The servant answered on this connection before its event was read (a HELLO
                // queued while it was not connected went out as it came up): a servant in
                // session is not greeted again. A new HELLO is a new session at the servant,
                // which would drop the queries sent it since its READY, unrun.
                if heardOnIt, record.state.isInSession { continue }
                record.helloUnansweredSince = nil
                sendHello(id)
            } else if event.event.contains(.disconnected) {
                record.heardBeforeItsConnectionEvent = false
                // The end of a connection the broker ended itself counts for nothing more.
                guard record.state.isInSession || !(replaced || record.reconnectDue) else { continue }
                servantDisconnected(id)
            } else if event.event.contains(.connectRetried), !record.connected, !record.unreachableLogged {
                record.unreachableLogged = true
                logger.notice(
                    "cannot reach servant; retrying until it is up", metadata: record.logMetadata())
                warnIfTheServantsNameDoesNotResolve(record)
            } else if event.event.contains(.handshakeFailedNoDetail) || event.event.contains(.handshakeFailedProtocol) {
                // The port is reachable: libzmq's next try is no news.
                record.unreachableLogged = true
                if !replaced { handshakeFailed(record) }
            }
        }
    }

    /// Looks the servant endpoint's host name up on a thread of its own (a lookup may block
    /// for seconds) and logs a warning when it does not resolve: libzmq retries such a name as
    /// quietly as a servant that is down. A servant found through the hub is registered under
    /// its `--advertise` name, or its host's name, which this host may not resolve.
    private func warnIfTheServantsNameDoesNotResolve(_ record: ServantRecord) {
        let identity = record.logMetadata()
        let logger = logger
        _ = HostLookup.start(host: Self.hostAndPort(record.endpoint).0, threadName: "mserve-servant-lookup") { failure in
            logger.warning(
                "cannot reach servant: \(failure) on this host; check the servant's --advertise (or this broker's --servant), or this host's resolver",
                metadata: identity)
        }
    }

    /// The servant's endpoint took the connection but its ZeroMQ handshake failed: without
    /// keys no MServe servant fails it, so the port is some other TCP service (a kdb+ door, a
    /// q process given without `kdb://`), which libzmq connects to again and again; with keys,
    /// the servant's key may also not be the one pinned for it. Said once, then once a minute,
    /// in place of "cannot reach servant" (the port is reachable).
    private func handshakeFailed(_ record: ServantRecord) {
        backOffFromWrongEndpoint(record)
        guard let heldBack = record.notAServantLog.admit() else { return }
        let (host, port) = Self.hostAndPort(record.endpoint)
        let what =
            admission == nil
            ? "servant endpoint answered, but not as an MServe servant: the ZeroMQ handshake failed, so it is some other TCP service (a kdb+ door or q process? a q servant is given as kdb://\(host):\(port)); \(Self.wrongEndpointRetries)"
            : "servant endpoint answered, but the ZeroMQ handshake failed: its key is not the one pinned for it, or it is not an MServe servant (a kdb+ door or q process?); \(Self.wrongEndpointRetries)"
        logger.warning("\(LogThrottle.line(what, heldBack: heldBack))", metadata: record.logMetadata())
    }

    /// A connection to a servant never in session (it has not answered a HELLO since the broker
    /// started) carried nothing back for the liveness time: the port takes connections but
    /// does not speak (another TCP service that waits for its client to speak first, an SSH
    /// server), or the servant process was paused before it answered. Connected to again at
    /// growing intervals, as an endpoint that answered wrongly is; said once, then once a minute.
    /// One whose only answers were READYs the broker refused is said to be that (it did
    /// answer, and the refused READY's warning says what to fix), not to have answered nothing.
    ///
    /// At an endpoint where a servant was in session with this broker before
    /// (``ServantRecord/wasInSession``: the hub dropped it while it was lost, and lists it
    /// again), the likely cause is that servant still holding this broker's earlier connection
    /// (a cut link healed; a servant takes one connection from a broker at a time, and closes
    /// one whose peer is gone within seconds): said first, and the endpoint is connected to
    /// again at the next heartbeat visit, as a servant in session that went silent is, not
    /// backed off from as a wrong endpoint.
    func silentBeforeItsFirstAnswer(_ record: ServantRecord) {
        if record.wasInSession, record.lastBadReadyReason == nil {
            endConnectionForGood(record, cause: .silentAfterASession)
            guard let heldBack = record.notAServantLog.admit() else { return }
            logger.warning(
                "\(LogThrottle.line("servant endpoint took the connection but answered nothing for the liveness time: it answered as a servant of this broker before, so it likely still holds this broker's earlier connection (a cut link healed, and the servant's side of the old connection is not closed yet); else a servant process paused, or another TCP service now on its port; connecting again every few seconds until a servant answers there", heldBack: heldBack))",
                metadata: record.logMetadata())
            return
        }
        backOffFromWrongEndpoint(record)
        guard let heldBack = record.notAServantLog.admit() else { return }
        let what =
            if let refused = record.lastBadReadyReason {
                "servant endpoint answered only with a READY this broker ignored (\(refused)), then nothing for the liveness time: fix its READY (docs/PROTOCOL.md); \(Self.wrongEndpointRetries)"
            } else {
                "servant endpoint took the connection but answered nothing for the liveness time: it is not an MServe servant (another TCP service?), a servant process paused before it answered, or one still holding an earlier connection of this broker's; \(Self.wrongEndpointRetries)"
            }
        logger.warning("\(LogThrottle.line(what, heldBack: heldBack))", metadata: record.logMetadata())
    }

    /// How the broker tries an endpoint again after it answered as no servant does.
    static let wrongEndpointRetries = "connecting again at growing intervals, up to one a minute, until a servant answers there"

    /// The longest wait between connections to an endpoint that answers, but not as a servant.
    static let longestWrongEndpointWait: UInt64 = 60_000_000_000

    /// The endpoint answered, but not as a servant does: its connection is ended, and the next
    /// is made after a wait that doubles with each such answer (1 s, 2 s, … a minute at most)
    /// until a servant answers there. Left to libzmq, which starts its back-off afresh at each
    /// TCP connection, the endpoint would be connected to several times a second for ever:
    /// load on another service, and a log line a second at a broker whose client port it is.
    func backOffFromWrongEndpoint(_ record: ServantRecord) {
        // A late event of a connection already ended counts once.
        guard !record.reconnectDue else { return }
        let shift = UInt64(min(record.notAServantAnswers, 6))
        record.notAServantAnswers += 1
        endConnectionForGood(record, cause: .answeredAsNoServant)
        record.reconnectAt = QueryClock.monotonicNanoseconds() + min(Self.longestWrongEndpointWait, 1_000_000_000 << shift)
    }

    /// A servant's endpoint answered a HELLO with a HELLO: a broker's client socket echoes the
    /// frames in front of a message it cannot read, so the endpoint is most likely a broker's
    /// `--clients`, not a servant. Said once, then once a minute.
    private func helloAnsweredWithHello(_ record: ServantRecord) {
        backOffFromWrongEndpoint(record)
        guard let heldBack = record.notAServantLog.admit() else { return }
        logger.warning(
            "\(LogThrottle.line("dropped a HELLO from a servant endpoint: the peer answered a HELLO with a HELLO, so it is likely a broker's client port (--clients), not a servant; give brokers a servant's endpoint; \(Self.wrongEndpointRetries)", heldBack: heldBack))",
            metadata: record.logMetadata())
    }

    /// A servant's connection ended (a connection event, or a heartbeat that found no pipe to
    /// route to): a servant in session is lost, or has left when it was draining with nothing
    /// left to run.
    func servantDisconnected(_ id: UInt64) {
        guard let record = servants[id] else { return }
        record.connected = false
        // A new connection may be a new process: greeted as it comes up, and at each heartbeat.
        record.ignoredReadies = 0
        // A HELLO unanswered on the connection that ended says nothing of the next one.
        record.helloUnansweredSince = nil
        // What it sent before it went (its last answers, its BYE) counts first: judged on the
        // event alone, a servant that answered and left at once would have its answered
        // queries run again elsewhere.
        readServants()
        record.connected = false  // whatever those messages said
        switch record.state {
        case .left, .lost: break
        case .draining where record.inFlight == 0:
            logger.info("servant left", metadata: record.logMetadata())
            // It said it was going: the tries to reach it again are no news.
            record.unreachableLogged = true
            servantLost(id, reason: .disconnected, quietly: true)
        case .connecting, .ready, .draining:
            servantLost(id, reason: .disconnected)
        }
    }

    /// Connects the servant socket to `record`'s endpoint, under its routing id (and pinned to
    /// its CURVE key).
    func connect(_ record: ServantRecord) throws {
        try servantSocket.setConnectRoutingId(record.routingID)
        try admission?.prepareConnect(servantSocket, serverKey: record.serverKey)
        try servantSocket.connect(record.endpoint)
    }

    /// Why the broker ends a servant's connection itself and makes a new one.
    enum ReconnectCause {
        /// libzmq ended the connection for good: after a protocol error (a message over
        /// `--max-message`, a frame it cannot read) or a failed handshake (a CURVE key that
        /// does not match) it closes the connection and, unlike after a network error, never
        /// reconnects; the routing id then has no pipe, and a HELLO to it cannot be routed
        /// (``BrokerLoop/sendHello(_:)`` returns false).
        case endedByLibzmq
        /// The connection is up as far as TCP knows, but nothing came back on it for the
        /// liveness time: the servant stopped reading it (its ROUTER gave this broker's routing
        /// id to another connection, or ignores this one while an older one holds the id) or the
        /// path is half-open. libzmq reconnects only after a connection fails, so without a new
        /// one the servant would stay lost for good.
        case silent
        /// The servant sent a REPLY from which the broker could not read which of its queries
        /// it answered (``BrokerLoop/readReply(_:from:)``), as `what` says: what it runs is not
        /// known, and a new connection starts a new session.
        case malformedReply(_ what: String)
        /// A servant in session missed its heartbeats: its host may be unreachable, the process
        /// stopped, or the connection deaf. The connection is made anew in case it is deaf; the
        /// `servant lost` line said what happened, and a new connection that comes up and
        /// carries nothing back is ``silent``, logged then.
        case missedHeartbeats
        /// The endpoint answered, but not as a servant does (``BrokerLoop/backOffFromWrongEndpoint(_:)``,
        /// which says so itself).
        case answeredAsNoServant
        /// A new connection to an endpoint where a servant was in session with this broker
        /// before carried nothing back for the liveness time (``BrokerLoop/silentBeforeItsFirstAnswer(_:)``,
        /// which says so itself).
        case silentAfterASession

        /// What the log says, once until the servant is heard from again; nil: nothing.
        var explanation: String? {
            switch self {
            case .missedHeartbeats, .answeredAsNoServant, .silentAfterASession:
                nil
            case .malformedReply(let what):
                "it sent \(what), so which of its queries it answered is not known (docs/PROTOCOL.md)"
            case .endedByLibzmq:
                "libzmq ended its connection for good (a message over --max-message, or a failed handshake: a key that does not match)"
            case .silent:
                "nothing came back on its connection for the liveness time (the servant process paused, a half-open connection, or another peer holding this broker's routing id there)"
            }
        }
    }

    /// The first step of connecting again to a servant whose connection is of no more use
    /// (``ReconnectCause``). The endpoint is disconnected now and connected at the servant's
    /// next heartbeat visit (``reconnect(_:)``), once libzmq has let go of the old pipe. Said
    /// once until the servant is heard from again.
    func endConnectionForGood(_ record: ServantRecord, cause: ReconnectCause = .endedByLibzmq) {
        try? servantSocket.disconnect(record.endpoint)
        record.ignoredReadies = 0
        record.reconnectDue = true
        record.reconnectAt = 0
        record.connected = false
        record.helloUnansweredSince = nil
        if !record.reconnectLogged, let explanation = cause.explanation {
            record.reconnectLogged = true
            logger.notice(
                "connecting to servant again: \(explanation); trying every few seconds",
                metadata: record.logMetadata())
        }
    }

    /// Connects again to a servant disconnected by ``endConnectionForGood(_:)``. The connection
    /// event of the first connection names the endpoint as given (libzmq names those it makes
    /// after a failure by address): HELLOs wait for it, or the liveness time.
    func reconnect(_ record: ServantRecord) {
        record.unconnectedHelloNotBefore = QueryClock.monotonicNanoseconds() &+ livenessNanoseconds
        record.connectionsMadeAgain &+= 1
        record.routingID = Self.routingID(ofServant: record.id, connection: record.connectionsMadeAgain)
        do {
            try connect(record)
        } catch {
            logger.error(
                "cannot connect to servant \(record.endpoint): \((error as? ZMQError)?.reason ?? "\(error)")",
                metadata: record.logMetadata())
        }
    }

    /// Sends HELLO; false when it could not be routed (no connection, and none being made).
    @discardableResult
    func sendHello(_ id: UInt64) -> Bool {
        guard let record = servants[id] else { return false }
        record.lastHelloSent = QueryClock.monotonicNanoseconds()
        if record.connected, record.helloUnansweredSince == nil { record.helloUnansweredSince = record.lastHelloSent }
        if !record.connected { record.unconnectedHellos += 1 }
        return sendToServant(
            record.routingID, .hello, WireInteger.encode(incarnation),
            WireInteger.encode(UInt64(max(1, configuration.servants.batchLimit))),
            WireInteger.encode(UInt64(max(0, configuration.clients.maxMessageSize))))
    }

    /// Reads and handles every waiting servant message; returns how many there were.
    @discardableResult
    func readServants() -> Int {
        var handled = 0
        while true {
            do {
                guard try servantSocket.receive(into: &servantFrames, dontWait: true) else {
                    flushOutboxes()
                    if !untrustedServants.isEmpty { reconnectUntrustedServants() }
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
                logUnreadableServantMessage(frames)
                continue
            }
            guard let id = Self.servantID(fromRoutingID: frames[0]), let record = servants[id],
                record.routingID.elementsEqual(frames[0])
            else {
                continue  // a servant we removed
            }
            record.unansweredPingSince = nil
            record.helloUnansweredSince = nil
            record.unconnectedHellos = 0
            record.reconnectLogged = false
            if !record.connected { record.heardBeforeItsConnectionEvent = true }
            record.connected = true  // it is heard from, whatever the connection events said
            switch command {
            case .ready:
                record.notAServantLog = LogThrottle(interval: .seconds(60))  // a servant after all
                record.notAServantAnswers = 0
                servantReady(id, ReadyAnnouncement.read(frame: 3, of: frames))
            case .pong:
                guard let reported = frames.count > 3 ? WireInteger.decode(frames[3]) : nil else {
                    // Without it, a restart of the servant cannot be seen.
                    if let heldBack = pongLog.admit(.noIncarnation) {
                        logger.warning(
                            "\(LogThrottle.line("malformed PONG from a servant: it carries no 8-byte incarnation (docs/PROTOCOL.md), so a restart of the servant cannot be seen", heldBack: heldBack))",
                            metadata: record.logMetadata())
                    }
                    break
                }
                if record.state == .ready || record.state == .draining, reported != record.incarnation {
                    if let heldBack = pongLog.admit(.otherIncarnation) {
                        logger.notice(
                            "\(LogThrottle.line("servant answered a PING in incarnation \(reported), not the \(record.incarnation) of its READY: taken as a restart", heldBack: heldBack))",
                            metadata: record.logMetadata())
                    }
                    servantLost(id, reason: .restarted)
                    // The one the hub no longer lists is gone; the new process is used once
                    // the hub lists it.
                    if !unlistedServants.contains(id) { sendHello(id) }
                }
            case .reply: readReply(frames, from: record)
            case .drain:
                servantDraining(id, handedBack: frames.count > 3 ? (3..<frames.count).compactMap { WireInteger.decode(frames[$0]) } : [])
                // Acknowledged at once, with a PING carrying `DRAIN` (which any servant answers
                // as a PING): the servant sends no BYE before it reads this, and ZeroMQ keeps
                // order on a connection, so every QUERY sent it before has arrived there by
                // then, to be named in a further DRAIN rather than be lost with the servant.
                // Nothing is sent it after: it is out of dispatch, its unsent queries back in
                // the queue.
                _ = sendToServant(record.routingID, .ping, ServantCommand.drain.frame)
            case .bye:
                // It said it was going: the tries to reach it again are no news ("servant left",
                // or "servant lost" with "said goodbye", says what happened).
                record.unreachableLogged = true
                // Greeted again to find it once it restarts, this incarnation is not taken back:
                // it may answer while it shuts down, and the queries sent to it would be lost.
                if record.state.isInSession {
                    record.saidGoodbyeIn = record.incarnation
                    record.readyAfterGoodbyeLogged = false
                }
                // The queries it names it never started: sent elsewhere, they are not counted
                // as a dispatch.
                var neverStarted: Set<UInt64> = []
                for index in 3..<frames.count {
                    if let tag = WireInteger.decode(frames[index]), inFlight[tag]?.servantID == id,
                        neverStarted.insert(tag).inserted
                    {
                        inFlight[tag]?.query.dispatches -= 1
                    }
                }
                if record.state == .draining {
                    logger.info("servant left", metadata: record.logMetadata())
                    // Its drain time ended with these still running: they go to another
                    // servant, counted as a dispatch, and may have run in part at this one; or,
                    // sent as often as --redispatch allows, they are answered with an error.
                    let identity = record.logMetadata()
                    let orphans = servantLost(id, reason: .saidGoodbye, quietly: true)
                    let sentAgain = orphans.sentAgain.subtracting(neverStarted).count
                    let gaveUp = orphans.gaveUp.subtracting(neverStarted).count
                    if sentAgain + gaveUp > 0 {
                        let what =
                            gaveUp == 0
                            ? "they are sent again"
                            : sentAgain == 0
                                ? "they are answered with an error, sent as often as --redispatch allows"
                                : "\(sentAgain) sent again, \(gaveUp) answered with an error (sent as often as --redispatch allows)"
                        logger.warning(
                            "servant left with queries still running: \(what)",
                            metadata: identity.merging(
                                ["running": "\(sentAgain + gaveUp)", "sentAgain": "\(sentAgain)", "failed": "\(gaveUp)"]
                            ) { identity, _ in identity })
                    }
                } else {
                    servantLost(id, reason: .saidGoodbye)
                }
            case .hello: helloAnsweredWithHello(record)
            case .query, .ping:
                if let heldBack = unexpectedServantCommandLog.admit(command) {
                    logger.warning(
                        "\(LogThrottle.line("dropped an unexpected \(command.rawValue) from servant \(record.name): only a broker sends it", heldBack: heldBack))",
                        metadata: record.logMetadata())
                }
            }
        }
    }

    /// Logs a servant message the protocol does not define, saying what is wrong with it and
    /// which servant sent it; a line a second at most, with a count of the rest.
    func logUnreadableServantMessage(_ frames: ZMQFrames) {
        let kind: UnreadableServantMessage =
            frames.count < 2
            ? .empty
            : !frames[1].elementsEqual(ServantLink.protocolMarker) ? .notMSV1 : frames.count < 3 ? .noCommand : .unknownCommand
        guard let heldBack = unreadableServantMessageLog.admit(kind) else { return }
        let reason =
            ServantLink.unreadableReason(
                marker: frames.count > 1 ? frames[1] : nil, command: frames.count > 2 ? frames[2] : nil)
            ?? "a message the broker cannot read"
        let routingID = frames.count > 0 ? frames[0] : []
        let sender = Self.servantID(fromRoutingID: routingID).flatMap { servants[$0] }
        logger.warning(
            "\(LogThrottle.line("dropped a servant message: \(reason)", heldBack: heldBack))",
            metadata: sender?.logMetadata() ?? ["servant": "\(LogText.printable(routingID, limit: 64))"])
    }

    /// A servant's REPLY: one or more triples `tag, message, time`, or exactly one pair `tag,
    /// message` (docs/PROTOCOL.md); a time frame that is not 8 bytes reads as no time given.
    ///
    /// A REPLY framed otherwise is not read, but must not keep the queries it was meant to
    /// answer: those its 8-byte frames name, of the ones the servant runs, are answered with the
    /// malformed-reply error at once, and their places at the servant freed. When no such tag can
    /// be read (or a triple's tag frame is not 8 bytes), the broker cannot tell which of its
    /// queries the servant answered: the servant is taken as lost, its queries sent again or
    /// answered with an error as for any lost servant, and its connection made anew.
    func readReply(_ frames: ZMQFrames, from record: ServantRecord) {
        let id = record.id
        let bodyFrames = frames.count - 3
        if bodyFrames == 2 || (bodyFrames > 0 && bodyFrames % 3 == 0) {
            var unreadableTags = 0
            for first in stride(from: 3, to: frames.count, by: 3) {
                guard let tag = WireInteger.decode(frames[first]) else {
                    unreadableTags += 1
                    continue
                }
                // A small reply is read where it was received; a large one keeps its frame.
                completeQuery(
                    servantID: id, tag: tag,
                    reply: frames.isLarge(first + 1) ? .frame(frames.message(at: first + 1)) : .received(frames[first + 1]),
                    reportedExecution: frames.count > first + 2 ? WireInteger.decode(frames[first + 2]) : nil)
            }
            if unreadableTags > 0 {
                let answers = bodyFrames == 2 ? 1 : bodyFrames / 3
                distrust(record, "a REPLY in which \(unreadableTags) of \(answers) answer(s) have a tag frame that is not 8 bytes")
            }
            return
        }
        var named: [UInt64] = []
        var seen: Set<UInt64> = []
        for index in 3..<frames.count where Self.mayBeTag(at: index, of: frames) {
            if let tag = WireInteger.decode(frames[index]), inFlight[tag]?.servantID == id, seen.insert(tag).inserted {
                named.append(tag)
            }
        }
        let framing =
            bodyFrames == 0
            ? "a REPLY with no frames after the command"
            : "a REPLY whose \(bodyFrames) frame(s) after the command are neither a (tag, message) pair nor (tag, message, time) triples"
        guard !named.isEmpty else { return distrust(record, "\(framing), naming no query the servant runs") }
        logMalformedReply(
            servant: record.logMetadata(),
            "\(framing); the \(named.count) quer\(named.count == 1 ? "y" : "ies") it names, of those the servant runs, answered with an error")
        for tag in named { completeQuery(servantID: id, tag: tag, reply: .unreadable, reportedExecution: nil) }
    }

    /// Whether frame `index` of a malformed REPLY may be a tag: 8 bytes, and the last frame or
    /// followed by one that may be an IPC message (9 bytes at least). An execution time is 8
    /// bytes too, but followed by a tag or nothing: read as a tag, a time of a few milliseconds
    /// would name a query of a long-running broker, which is not the one answered.
    static func mayBeTag(at index: Int, of frames: ZMQFrames) -> Bool {
        frames.size(ofFrame: index) == 8 && (index + 1 == frames.count || frames.size(ofFrame: index + 1) >= 9)
    }

    /// A ready or draining servant sent a REPLY from which no query it runs can be read
    /// (``readReply(_:from:)``): lost, and connected again once the servant socket is read to the
    /// end. From a servant not in session, the REPLY is only dropped.
    private func distrust(_ record: ServantRecord, _ what: String) {
        guard record.state == .ready || record.state == .draining else {
            return logMalformedReply(servant: record.logMetadata(), "\(what); dropped")
        }
        logMalformedReply(
            servant: record.logMetadata(),
            "\(what): which of its queries it answered is not known, so it is taken as lost and connected again")
        servantLost(record.id, reason: .malformedReply)
        // Said again when its connection is made anew: this line may be held back.
        untrustedServants.append((record.id, what))
    }

    /// Ends the connections of the servants ``distrust(_:_:)`` took as lost, to be made anew at
    /// their next heartbeat visit; run once the servant socket has nothing more to read.
    private func reconnectUntrustedServants() {
        let untrusted = untrustedServants
        untrustedServants.removeAll()
        for (id, what) in untrusted {
            // Not one that said READY again meanwhile: it is in session anew.
            guard let record = servants[id], record.state != .ready, record.state != .draining, !kdbServants.owns(id)
            else { continue }
            endConnectionForGood(record, cause: .malformedReply(what))
        }
    }

    /// Logs a servant reply the broker cannot read, with the servant; a line a second at most,
    /// with a count of the rest.
    func logMalformedReply(servant identity: Logger.Metadata, _ what: String) {
        guard let heldBack = malformedReplyLog.admit() else { return }
        logger.warning(
            "\(LogThrottle.line("malformed reply from a servant: \(what)", heldBack: heldBack))", metadata: identity)
    }

    /// A ZeroMQ servant's READY: its capacity, batch limit, incarnation, name and functions
    /// (``ReadyAnnouncement``). Applied whole, once per incarnation: a READY repeating the one
    /// in force changes nothing, and one announcing something else in the same incarnation (or
    /// coming while the servant drains) is refused with a warning.
    func servantReady(_ id: UInt64, _ reading: ReadyAnnouncement.Reading) {
        guard let record = servants[id] else { return }
        let announcement: ReadyAnnouncement
        switch reading {
        case .announced(let read): announcement = read
        case .refused(let reason):
            // Without its incarnation a restart of the servant could not be told from a repeated
            // READY, and queries lost with the old process would wait for ever: not ready. Past
            // the limits, what it serves is not known: not ready either.
            if !record.state.isInSession { record.ignoredReadies += 1 }
            if reason != record.lastBadReadyReason {
                record.lastBadReadyReason = reason
                record.badReadyLog = LogThrottle(interval: .seconds(60))
            }
            if let heldBack = record.badReadyLog.admit() {
                logger.warning(
                    "\(LogThrottle.line("ignored a READY \(reason); the servant stays out of dispatch", heldBack: heldBack))",
                    metadata: record.logMetadata())
            }
            return
        }
        let incarnation = announcement.incarnation
        if incarnation == record.saidGoodbyeIn, !record.state.isInSession {
            record.ignoredReadies += 1
            if !record.readyAfterGoodbyeLogged {
                record.readyAfterGoodbyeLogged = true
                logger.notice(
                    "ignored a READY from servant \(LogText.printable(Array(record.name.utf8), limit: 256)) in the incarnation in which it said goodbye: it is used again once it restarts (a new incarnation)",
                    metadata: record.logMetadata(["incarnation": "\(incarnation)"]))
            }
            return
        }
        if unlistedServants.contains(id) {
            // Kept only while the session the hub no longer vouches for lasts: under another
            // incarnation it restarted, the servant kept is gone (what it ran is lost with the
            // old process), and the new process is used once the hub lists it.
            if record.state.isInSession, incarnation != record.incarnation { servantLost(id, reason: .restarted) }
            if !record.state.isInSession { return }
        }
        if record.state == .ready || record.state == .draining, incarnation == record.incarnation {
            refuseRepeatedReady(announcement, from: record)
            return
        }
        if let name = announcement.name { record.name = name }
        record.readyAnnouncement = announcement
        // A READY taken: a refused one coming later is news again, whatever its reason.
        record.lastBadReadyReason = nil
        if !announcement.problems.isEmpty {
            logger.warning(
                "a READY with fields of the wrong type or out of range (docs/PROTOCOL.md): \(announcement.problems.joined(separator: "; "))",
                metadata: record.logMetadata())
        }
        becomeReady(
            id, capacity: announcement.capacity, batchLimit: announcement.batchLimit, incarnation: incarnation,
            functions: announcement.functions, running: announcement.running)
    }

    /// A READY in the incarnation a ready or draining servant is in already: nothing of it is
    /// applied. Changing a servant's capacity, functions or name under the queries it runs would
    /// need each of them re-weighed; a servant announces new ones by restarting (a new
    /// incarnation: its queries are lost with the old process and sent again). A READY repeating
    /// the one in force to a ready servant is no news (a servant answers every HELLO, and a
    /// HELLO may cross its first READY); any other is logged, a line a second at most.
    private func refuseRepeatedReady(_ announcement: ReadyAnnouncement, from record: ServantRecord) {
        if record.state == .ready, announcement == record.readyAnnouncement { return }
        let differences = record.readyAnnouncement.map { announcement.differences(from: $0) } ?? []
        guard let heldBack = repeatedReadyLog.admit() else { return }
        let name = LogText.printable(Array(record.name.utf8), limit: 256)
        let line =
            record.state == .draining
            ? "ignored a READY from servant \(name) while it drains: a draining servant takes no more queries in this incarnation; it is used again once it restarts (a new incarnation)"
            : "ignored a second READY from servant \(name): in the incarnation it is ready in already it announces "
                + (differences.isEmpty ? "other fields of the wrong type" : differences.joined(separator: ", "))
                + "; a READY is applied once per incarnation, and a servant changes its capacity, batch, functions or name by restarting"
        logger.warning("\(LogThrottle.line(line, heldBack: heldBack))", metadata: record.logMetadata())
    }

    /// Puts a servant serving `functions` in dispatch (a ZeroMQ servant's READY, a q servant's
    /// connection). A servant already ready under another incarnation restarted: its queries
    /// are lost first. `running`: the queries of its earlier sessions the servant says it still
    /// runs (its READY's), which hold places of its capacity when it is the process it was.
    func becomeReady(
        _ id: UInt64, capacity: Int, batchLimit: Int, incarnation: UInt64, functions: ServedFunctions = .every,
        running: Int = 0
    ) {
        guard let record = servants[id] else { return }
        if record.state == .draining && record.incarnation == incarnation { return }
        if record.state == .ready || record.state == .draining {
            if record.incarnation == incarnation { return }
            servantLost(id, reason: .restarted)
        }
        // The process it was, back from a cut or a pause, may still run queries sent before
        // it was lost (sent again since): as many as it says hold places until they are
        // answered, so it is not sent more than it can run, nor a query sent again queued
        // there behind itself.
        if record.incarnation == incarnation, running > 0, !record.lostInFlight.isEmpty {
            record.stillRunning = min(running, record.lostInFlight.count, capacity)
        } else {
            record.stillRunning = 0
            record.lostInFlight.removeAll()
        }
        record.capacity = capacity
        record.batchLimit = batchLimit
        record.incarnation = incarnation
        record.state = .ready
        record.wasInSession = true
        record.ignoredReadies = 0
        record.inFlight = record.stillRunning
        // A restart may bring another version of the servant's API (a rolling upgrade).
        if record.functions != functions {
            serviceFunctions.announce(functions, replacing: record.functions)
            if record.functions != nil { freeServants.withdraw(record.functionList) }
            record.functionList = freeServants.announce(functions)
            record.functions = functions
            refuseQueuedQueriesNoServantServes()
        }
        serviceFunctions.becameReady(functions)
        // Parked queries this servant may serve are offered again.
        unparkQueries()
        // Keep servants in the order they were added (the configuration's order, then joins),
        // whatever order they became ready in: "the top of the list" means the same every run.
        let position = readyIDs.firstIndex { $0 > id } ?? readyIDs.count
        readyIDs.insert(id, at: position)
        views.insert(record.view, at: position)
        if views[position].isFree { freeServants.insert(id, list: record.functionList) }
        renumberReadyServants(from: position)
        if algorithm.followsEvents {
            timedPluginCall(.observe) { algorithm.observe(.ready(views[position])) }
            join(id, groups: serviceFunctions.groups(servedBy: functions))
        }
        var readyMetadata: Logger.Metadata = ["capacity": "\(capacity)"]
        if record.stillRunning > 0 { readyMetadata["stillRunning"] = "\(record.stillRunning)" }
        logger.info("servant ready", metadata: record.logMetadata(readyMetadata))
        if let namesake = servants.values.first(where: {
            $0 !== record && ($0.state == .ready || $0.state == .draining) && $0.name == record.name
        }) {
            logger.warning(
                "servant ready under the name of another ready servant: replies, logs and the per-servant metrics cannot tell them apart; give each servant a name of its own",
                metadata: record.logMetadata(["other": "\(namesake.endpoint)"]))
        }
        loggedWaitingWithoutServants = false
        drainQueue()
    }

    /// Refuses the queued queries whose function no known servant serves, now that a READY
    /// changed what the servants announce: queries that came before any servant announced its
    /// functions waited as any query does, and would otherwise wait out their deadline for a
    /// servant that is not coming, to be told that none was free in time. Those that came later
    /// were refused on arrival; these get the same error. The others keep their order.
    func refuseQueuedQueriesNoServantServes() {
        unparkQueries()
        guard !queue.isEmpty else { return }
        var unserved = false
        for offset in 0..<queue.count where !serviceFunctions.mayServe(queue[offset: offset].function) {
            unserved = true
            break
        }
        guard unserved else { return }
        for held in queue.remove(where: { !serviceFunctions.mayServe($0.function) }) {
            let error = BrokerError(.unservedFunction, serviceFunctions.unservedMessage(held.function))
            if let heldBack = refusedQueryLog.admit() {
                logger.notice(
                    "\(LogThrottle.line("refused a query: \(error)", heldBack: heldBack))",
                    metadata: clientIdentity(held.route, justReceived: false))
            }
            reply(error: "\(error)", to: held, stage: .waiting, counting: .refused)
        }
    }

    /// One of ready servant `record`'s places is free again (its `inFlight` one less already):
    /// the free sets and its view follow, and the algorithm hears that a query of `routing`
    /// finished after `execution`, timed from `now` (only bookkeeping since).
    @inline(__always)
    private func placeFreed(_ record: ServantRecord, at index: Int, routing: String, execution: UInt64, now: UInt64) {
        if !views[index].isFree && record.inFlight < views[index].capacity {
            freeServants.insert(record.id, list: record.functionList)
            if !record.groups.isEmpty { serviceFunctions.countFree(in: record.groups, by: 1) }
        }
        views[index].inFlight = record.inFlight
        if algorithm.followsEvents {
            algorithm.observe(
                .completed(servant: record.id, routing: routing, executionNanoseconds: execution, inFlight: record.inFlight))
            _ = pluginCallEnded(.observe, startedAt: now)
        } else {
            algorithm.completed(servant: views[index], routing: routing, executionNanoseconds: execution)
            _ = pluginCallEnded(.completed, startedAt: now)
        }
    }

    /// The answer to a query `record` was sent before it was lost, which it ran on
    /// (``ServantRecord/lostInFlight``): not passed on (the query was sent again, or answered
    /// with an error), and the place it held, once the servant was back in session, is free.
    private func lostQueryAnswered(_ lost: LostQuery, by record: ServantRecord, now: UInt64) {
        // Out of session the servant holds no place of this broker's: the answer only says the
        // query no longer runs there.
        guard record.stillRunning > 0, record.state == .ready || record.state == .draining else { return }
        record.stillRunning -= 1
        // The rest, past what it said it still runs, finished while it was cut off: their
        // answers went with the connection.
        if record.stillRunning == 0 { record.lostInFlight.removeAll() }
        record.inFlight = max(0, record.inFlight - 1)
        logger.debug(
            "a query sent before the servant was lost, which it ran on, is answered: its place is free",
            metadata: record.logMetadata(["stillRunning": "\(record.stillRunning)"]))
        guard let index = readyPosition[record.id] else { return }
        placeFreed(record, at: index, routing: lost.routing, execution: now &- lost.dispatchedAt, now: now)
        drainQueue()
    }

    /// Answers the client of query `tag` with the servant's `(id; result[; info])`. A plain `(id; result)` (``ReplyPairLayout``) has its result passed on from
    /// that frame without being read or copied into an array (``ClientReplyFrame``); any
    /// other reply is sliced and re-framed (``SlicedReply``).
    func completeQuery(servantID id: UInt64, tag: UInt64, reply servantReply: ServantReply, reportedExecution: UInt64?) {
        let now = QueryClock.monotonicNanoseconds()
        // A reply from a servant the query is no longer at (one lost, whose query went to
        // another) must leave the query in flight there: that servant's answer is the one due.
        guard var flight = inFlight.removeValue(forKey: tag, ifAt: id) else {
            if let record = servants[id], let lost = record.lostInFlight.removeValue(forKey: tag) {
                lostQueryAnswered(lost, by: record, now: now)
            } else {
                logger.debug("dropped a late reply", metadata: ["tag": "\(tag)"])
            }
            return
        }
        defer { heldQueries.recycle(&flight.query) }
        // The query's message is done with: a large one is freed before the reply is built.
        flight.query.message = .bytes([])
        // The servant's own measure of its run time, never more than the time since dispatch:
        // a wrong figure (a servant's -1 for "unknown" reads as 2^64 - 1) must neither trap
        // below nor skew the mean execution the dispatch plugins see.
        let sinceDispatch = now &- flight.dispatchedAt
        let execution = min(reportedExecution ?? sinceDispatch, sinceDispatch)
        var servantName = ""
        // Finished, whether or not its client still waits; served once its answer goes to the
        // client (as the elapsed histogram counts it).
        let record = servants[id]
        if let record {
            record.inFlight = max(0, record.inFlight - 1)
            record.finished += 1
            record.totalExecution &+= execution
            record.executionByFunction.add(execution, function: flight.query.function)
            servantName = record.name
            if let index = readyPosition[id] {
                views[index].queriesServed = record.finished
                views[index].meanExecutionNanoseconds = record.totalExecution / record.finished
                placeFreed(record, at: index, routing: flight.query.routing, execution: execution, now: now)
            }
        }
        if !flight.abandoned {
            let query = flight.query
            let timings = QueryTimings(
                received: query.receivedTimestamp,
                queued: Int64(flight.dispatchedAt &- query.receivedAt),
                execution: Int64(execution),
                elapsed: Int64(now &- query.receivedAt))
            if let result = spliceReply(servantReply, id: query.id, routing: query.routing, servant: servantName, timings: timings) {
                metrics.answered(
                    isError: false, queued: flight.dispatchedAt &- query.receivedAt,
                    execution: execution, elapsed: now &- query.receivedAt)
                record?.served += 1
                sendToClient(query.route, ClientReplyFrame(head: replyHead, result: result, tail: replyTail))
                drainQueue()
                return
            }
            if case .unreadable = servantReply {
                // Logged by readReply, once for the REPLY.
                reply(
                    error: "the servant sent a malformed reply", to: query, servant: servantName,
                    stage: .running(since: flight.dispatchedAt), counting: .failed)
                drainQueue()
                return
            }
            var replyBytes = servantReply.bytes
            if let size = QIPC.decompressedSize(of: replyBytes), size > maxMessageSize {
                // Over the limit once decompressed: the error a servant gives a result over the
                // limit (docs/PROTOCOL.md, "Message size limit"), as for a q servant's, rather
                // than a malformed reply.
                replyBytes = ReplyAssembly.resultTooLarge(id: query.id, bytes: size, limit: maxMessageSize)
            }
            do {
                var sliced = try SlicedReply(bytes: replyBytes, maximumSize: maxMessageSize)
                if !sliced.hasID(query.id) {
                    var idPayload: [UInt8] = []
                    QIPC.encodePayload(query.id, into: &idPayload)
                    sliced = sliced.replacingID(with: idPayload)
                }
                metrics.answered(
                    isError: sliced.reportsFailure, queued: flight.dispatchedAt &- query.receivedAt,
                    execution: execution, elapsed: now &- query.receivedAt)
                record?.served += 1
                sendToClient(
                    query.route,
                    ReplyAssembly.clientReply(
                        sliced, routing: query.routing, servant: servantName, timings: timings))
            } catch {
                logMalformedReply(
                    servant: record?.logMetadata() ?? ["servant": "\(servantName)"],
                    "its message is not a valid (id; result) or (id; result; info), the query answered with an error: \(error.message)")
                reply(
                    error: "the servant sent a malformed reply", to: query, servant: servantName,
                    stage: .running(since: flight.dispatchedAt), counting: .failed)
            }
        }
        drainQueue()
    }

    /// Lays out a servant's reply `(id; result)` where it lies, read in place, and writes the
    /// client reply's head and tail around its result into `replyHead` and `replyTail`
    /// (``ReplyAssembly``), with the client's `id` when the servant's differs; returns the
    /// result's piece, or nil for a q servant's reply or one not of the plain form
    /// (``ReplyPairLayout``), which take the general way.
    private func spliceReply(
        _ reply: ServantReply, id: QValue, routing: String, servant: String, timings: QueryTimings
    ) -> ZMQMessagePiece? {
        func splice(_ message: Span<UInt8>) -> Range<Int>? {
            let prefix = message.extracting(0..<min(message.count, Self.replyPrefixSize))
            guard let layout = ReplyPairLayout(prefix: prefix, messageCount: message.count) else { return nil }
            let idPayload = prefix.extracting(layout.id)
            if SlicedReply.payload(idPayload, isID: id) {
                ReplyAssembly.splicedClientReply(
                    id: idPayload, resultCount: layout.result.count, routing: routing, servant: servant,
                    timings: timings, head: &replyHead, tail: &replyTail)
            } else {
                var encoded: [UInt8] = []
                QIPC.encodePayload(id, into: &encoded)
                ReplyAssembly.splicedClientReply(
                    id: encoded.span, resultCount: layout.result.count, routing: routing, servant: servant,
                    timings: timings, head: &replyHead, tail: &replyTail)
            }
            return layout.result
        }
        switch reply {
        case .frame(let frame):
            return frame.withSpan(splice).map { .body(frame, $0) }
        case .received(let bytes):
            // The layout's ranges count from the slice's first byte.
            guard let range = splice(bytes.span) else { return nil }
            let start = bytes.startIndex
            return .bytes(bytes[(start + range.lowerBound)..<(start + range.upperBound)])
        case .bytes, .unreadable:
            return nil
        }
    }

    /// A servant's reply message: the frame of a ZeroMQ servant's `REPLY`, or a q servant's bytes.
    enum ServantReply {
        /// A large reply, in the frame it came in.
        case frame(ZMQMessage)
        /// A small reply, where the loop received it (``ZMQFrames``): read before the next
        /// message is received.
        case received(ArraySlice<UInt8>)
        /// A q servant's reply.
        case bytes([UInt8])
        /// A REPLY framed otherwise than the protocol says, naming the query: nothing of it is
        /// read, and the query fails (``BrokerLoop/readReply(_:from:)``).
        case unreadable

        /// The message's bytes (copied, but for a q servant's); none for an unreadable one.
        var bytes: [UInt8] {
            switch self {
            case .frame(let message): message.bytes
            case .received(let bytes): Array(bytes)
            case .bytes(let bytes): bytes
            case .unreadable: []
            }
        }
    }

    /// How many of a reply's first bytes are read to lay it out (``ReplyPairLayout``): an id
    /// longer than this takes the general way.
    static let replyPrefixSize = 4_096

    /// A servant that is stopping (its DRAIN): out of dispatch now, its running queries left
    /// to finish there. Queries dispatched to it but not sent yet go back to the queue.
    /// A servant's DRAIN: it takes no more queries. `handedBack` are the tags of queries it
    /// received but will not start (queued behind its threads, or sent across the DRAIN):
    /// they go back to the front of the queue at once, not counted as sent, rather than wait
    /// for its BYE. A servant may send DRAIN again while draining, with more of them.
    func servantDraining(_ id: UInt64, handedBack: [UInt64] = []) {
        guard let record = servants[id], record.state == .ready || record.state == .draining else { return }
        takeOutOfDispatch(record)
        var returned = 0
        for tag in handedBack.sorted(by: >) where inFlight[tag]?.servantID == id {
            requeueUnstarted(tag, from: record)
            returned += 1
        }
        logger.info(
            "servant draining",
            metadata: record.logMetadata(["running": "\(record.inFlight)", "handedBack": "\(returned)"]))
        drainQueue()
    }

    /// Takes a ready servant out of dispatch, its running queries still due: its unsent
    /// queries go back to the queue.
    private func takeOutOfDispatch(_ record: ServantRecord) {
        guard record.state == .ready else { return }
        record.state = .draining
        leaveReadySet(record.id)
        for item in record.outbox.reversed() { requeueUnstarted(item.tag, from: record) }
        record.outbox.removeAll()
    }

    /// Puts the query of `tag`, dispatched to `record` but never started there, back at the
    /// front of the queue, not counted as sent.
    private func requeueUnstarted(_ tag: UInt64, from record: ServantRecord) {
        guard let flight = inFlight.removeValue(forKey: tag) else { return }
        flight.query.dispatches -= 1
        record.inFlight = max(0, record.inFlight - 1)
        if !flight.abandoned { putBack(flight.query) }
    }

    /// The queries a servant still ran when it was lost or left (``BrokerLoop/servantLost(_:reason:quietly:)``),
    /// by tag: those sent again (put back in the queue) and those answered with an error, sent
    /// as often as `--redispatch` allows. Queries past their deadline, answered already, are in
    /// neither.
    struct OrphanedQueries {
        var sentAgain: Set<UInt64> = []
        var gaveUp: Set<UInt64> = []
    }

    /// Takes a servant out of dispatch and re-dispatches or fails what it was running;
    /// `quietly` for a servant that left as it should (no warning, and an error text that says
    /// it left).
    @discardableResult
    func servantLost(_ id: UInt64, reason: ServantLoss, quietly: Bool = false) -> OrphanedQueries {
        var orphaned = OrphanedQueries()
        guard let record = servants[id] else { return orphaned }
        let wasReady = (record.state == .ready || record.state == .draining) && !quietly
        // A servant that left as it should is not shown as lost (an alert on lost servants
        // would fire at every clean restart); one already lost stays lost; one never in session
        // (its endpoint has not answered a HELLO: another TCP service, one that hung up) is
        // still connecting.
        if quietly {
            if record.state != .lost { record.state = .left }
        } else if record.state != .connecting {
            record.state = .lost
        }
        // Kept while in session though the hub no longer lists it: its session is over, and it
        // goes once the caller is done with it (``forgetUnlistedServantsOutOfSession()``).
        if unlistedServants.contains(id) { unlistedOutOfSession.append(id) }
        record.inFlight = 0
        record.stillRunning = 0
        // A process that restarted or said goodbye runs none of its queries on; one lost
        // otherwise (its heartbeats, its connection) may, and may come back in session.
        let mayRunOn = !quietly && reason.reason != .restarted && reason.reason != .saidGoodbye
        if !mayRunOn { record.lostInFlight.removeAll() }
        // Greeted again at the next heartbeat, not after the pause between HELLOs to a servant
        // not known to be connected: that HELLO waits in the socket and reaches the servant as
        // soon as it is back, a restart of one known by host name (whose reconnection no
        // connection event reports) included. One per loss: no pile.
        record.lastHelloSent = 0
        record.unconnectedHellos = 0
        // Its unsent queries are in flight too: they go back to the queue below, not counted
        // as sent (they never left), so the redispatch limit counts only real sends.
        for item in record.outbox { inFlight[item.tag]?.query.dispatches -= 1 }
        let unsent = Set(record.outbox.map(\.tag))
        record.outbox.removeAll()
        leaveReadySet(id)
        // Put back in front newest first, so that they go out again in the order they came.
        let orphans = inFlight.values.filter { $0.servantID == id }.sorted {
            ($0.query.receivedAt, $0.query.tag) > ($1.query.receivedAt, $1.query.tag)
        }
        for flight in orphans {
            inFlight[flight.query.tag] = nil
            if mayRunOn, !unsent.contains(flight.query.tag), record.lostInFlight.count < Self.lostInFlightKept {
                record.lostInFlight[flight.query.tag] = LostQuery(
                    routing: flight.query.routing, dispatchedAt: flight.dispatchedAt)
            }
            if flight.abandoned { continue }
            if flight.query.dispatches <= configuration.servants.redispatchLimit {
                // Counted as sent again when it is (``dispatch(_:toReadyIndex:now:)``): it may
                // find no servant before its deadline or the servant wait.
                orphaned.sentAgain.insert(flight.query.tag)
                putBack(flight.query)
            } else {
                orphaned.gaveUp.insert(flight.query.tag)
                // "left" for a servant that left as it should, as the log says ("servant left").
                let what = quietly ? "left (\(reason.text))" : "was lost (\(reason.text))"
                reply(
                    error:
                        "servant \(record.name) \(what) while running the query; "
                        + "sent \(flight.query.dispatches) time(s), giving up",
                    to: flight.query, servant: record.name, stage: .running(since: flight.dispatchedAt),
                    counting: .servantLost)
            }
        }
        if wasReady {
            record.lost += 1
            metrics.servantLost(reason.reason)
            // What the loss cost, as "servant left with queries still running" counts it: the
            // queries it ran that a client still waits for (not those never sent to it).
            let sentAgain = orphaned.sentAgain.subtracting(unsent).count
            let failed = orphaned.gaveUp.subtracting(unsent).count
            logger.warning(
                "servant lost",
                metadata: record.logMetadata([
                    "reason": "\(reason.text)", "running": "\(sentAgain + failed)", "sentAgain": "\(sentAgain)",
                    "failed": "\(failed)",
                ]))
        }
        drainQueue()
        warnIfQueriesWaitWithoutServants()
        return orphaned
    }
}

extension BrokerLoop {
    /// The most queries a servant lost while running them is remembered to run on
    /// (``ServantRecord/lostInFlight``).
    static let lostInFlightKept = 4_096
}

/// What is wrong with a servant message the protocol does not define: its lines are held back
/// and counted by kind (the text names the peer's bytes, which must not make kinds).
enum UnreadableServantMessage: Hashable, Sendable {
    /// No frame after the routing id.
    case empty
    /// A first frame other than MSV1.
    case notMSV1
    /// MSV1 and no command.
    case noCommand
    /// A command the protocol does not have.
    case unknownCommand
}

/// What was wrong with a servant's PONG.
enum PongProblem: Hashable, Sendable {
    /// No incarnation frame, or one that is not 8 bytes.
    case noIncarnation
    /// An incarnation other than the one its READY gave.
    case otherIncarnation
}

/// Why a servant's session ended: the words of the `servant lost` line and of the error of a
/// query given up on, and the `reason` of `mserve_broker_servants_lost_total`.
struct ServantLoss: Sendable {
    /// What the log and the errors say.
    var text: String
    /// The metric's reason.
    var reason: BrokerMetrics.ServantLossReason

    static let missedHeartbeats = ServantLoss(text: "missed heartbeats", reason: .missedHeartbeats)
    static let disconnected = ServantLoss(text: "disconnected", reason: .disconnected)
    static let restarted = ServantLoss(text: "restarted", reason: .restarted)
    static let saidGoodbye = ServantLoss(text: "said goodbye", reason: .saidGoodbye)
    static let malformedReply = ServantLoss(text: "sent a malformed REPLY", reason: .malformedReply)
    static let unreachable = ServantLoss(text: "unreachable", reason: .unreachable)
    static let removed = ServantLoss(text: "removed", reason: .removed)
    static let replaced = ServantLoss(text: "replaced at its endpoint", reason: .removed)
    /// A servant the hub no longer lists, dropped with nothing of it still wanted: it left,
    /// never counted as lost.
    static let left = ServantLoss(text: "left", reason: .removed)
    /// A q servant's connection failed, for `why`.
    static func qConnectionFailed(_ why: String) -> ServantLoss { ServantLoss(text: why, reason: .disconnected) }
    static let qNoAnswer = ServantLoss(text: "no answer before the query's deadline", reason: .noAnswer)
}
