import Foundation
import Logging
import MServeProtocol
import POSIXFiles
import ProcessMemory
import QData
import ZeroMQ

/// A spoke the hub holds in memory beside its row in `spoke`.
struct LiveSpoke {
    var record: SpokeRecord
    var routingID: [UInt8]?
    /// Monotonic nanoseconds when last heard (for a spoke loaded from disk: when the hub started).
    var lastHeard: UInt64
    /// False for a spoke loaded from disk that has not spoken to this hub yet.
    var confirmed: Bool
    /// With security on, the key its connection authenticated with when it registered; nil
    /// without security, and for a spoke loaded from disk that has not registered again (its
    /// registered `curveKey`, if any, stands in).
    var ownerKey: String? = nil

    var isServant: Bool { record.registration.role == SpokeRole.servant && !record.endpoint.isEmpty }

    /// A servant endpoint of a service, as watchers follow it.
    struct Announcement: Hashable {
        var service: String
        var endpoint: String
    }

    /// The servant endpoint this spoke announces; nil for a spoke that is not a servant.
    var announcement: Announcement? {
        isServant ? Announcement(service: record.registration.service, endpoint: record.endpoint) : nil
    }

    /// Whether a peer that authenticated with `userID` may speak for this spoke: with security
    /// on, only the key that registered it may register it again, send its heartbeats or
    /// deregister it.
    func isOwned(by userID: String) -> Bool {
        guard let owner = ownerKey ?? record.registration.curveKey else { return true }
        return owner == userID
    }
}

/// How a spoke the hub has let go of leaves its tables.
enum SpokeRemoval {
    /// A clean exit (or a spoke replaced by another session on its connection): its rows go,
    /// with no crash report.
    case removed
    /// Down: it moves to `down`, with its crash time and reason.
    case down(crash: Int64, reason: String)
}

/// A peer following a service.
struct Watcher {
    var service: String
    var lastHeard: UInt64
}

/// The hub's event loop. Lives on one thread and owns the socket, the database handle and
/// every piece of hub state.
final class HubLoop {
    private let configuration: HubConfiguration
    private var logger: Logger
    private let events: ZMQEventLoop<HubControl>
    private let resources: ZMQContextScope
    private let socket: ZMQSocket
    private let database: HubDatabase
    private let incarnation: UInt64
    private let livenessNanoseconds: UInt64
    private let scanNanoseconds: UInt64

    private var spokes: [Int64: LiveSpoke] = [:]
    private var spokeByRoutingID: [[UInt8]: Int64] = [:]
    private var watchers: [[UInt8]: Watcher] = [:]
    /// When to give freed memory back to the system.
    private var memoryRelease = MemoryReleaseSchedule()
    private let admission: HubAdmission

    /// The bound endpoint, with the real port.
    let endpoint: String
    /// Held while the hub serves: one hub per directory.
    private let directoryLock: HubDirectoryLock
    /// The admin token written to the hub directory (HubAdminToken): without CURVE keys, the
    /// admin commands must carry it.
    private let adminToken: String
    /// Refusals a peer can cause at any rate: a line a second each, with a count of the rest.
    private var refusedAdminLog = LogThrottle()
    private var refusedRegistrationLog = LogThrottle()
    private var malformedMessageLog = LogThrottle()
    /// Spokes registered, deregistered and down: a few lines a second, then a summary.
    private var spokeEventLog = SpokeEventLog()
    /// What the loop counts (HubMetrics.swift): one call per event, plain adds on this thread;
    /// each snapshot carries a copy.
    private var metrics = HubMetrics()
    /// Why the hub's last write to its database failed; nil once one succeeds. While set, the
    /// hub is not ready (its snapshot says the database does not answer).
    private var databaseWriteFailure: String?
    /// Writes that keep failing (a full disk, a damaged page, a lock held elsewhere): the first
    /// failure is logged at once, then a line a minute with the count of the rest.
    private var databaseWriteFailureLog = LogThrottle(interval: .seconds(60))
    /// After a failed write, none is tried before this time (monotonic nanoseconds): each
    /// attempt may wait out the busy timeout, and a loop trying one per heartbeat would fall
    /// behind its spokes and its HTTP side.
    private var databaseRetryAt: UInt64 = 0
    /// How long after a failed write the next is tried.
    static let databaseRetryInterval: UInt64 = 1_000_000_000
    /// Spokes the hub has let go of (down, deregistered, replaced) whose rows a failed write
    /// left in `spoke`, oldest first. Every write tried later stores them first, and the
    /// liveness scan tries them when no other write comes, so that once the database accepts
    /// writes again its tables hold no spoke the hub has let go of.
    private var unstoredRemovals: [(id: Int64, removal: SpokeRemoval)] = []
    /// The heartbeats heard since they were last stored, oldest first: stored together, in one
    /// transaction, at the liveness scan, before any other write and before a table is read
    /// (``storeHeartbeats()``). A transaction a heartbeat cost the hub about 0.39 ms of CPU
    /// each, 12 % of a core for 300 spokes beating once a second; together, 0.08 ms
    /// (`bench/results/hub-heartbeats.txt`).
    private var heardSinceStored: [HeardSpoke] = []
    /// How the database file the hub opened left its place (its directory removed, say): the
    /// hub writes on to a file no one else will see, and is not ready while it lasts.
    private var databaseDisplacement: HubDatabase.Displacement?
    /// When the scan last looked whether the database file is in its place (monotonic
    /// nanoseconds): once a second at most.
    private var lastDisplacementCheck: UInt64 = 0
    /// When the liveness scan last ran (monotonic nanoseconds).
    private var lastScan: UInt64 = 0
    /// When the hub's loop last came back from a pause (``noticePause(now:)``); nil before any,
    /// and once every peer silent since has been judged. Spokes and watchers not heard from
    /// since are judged from here, not from when they were last heard: the silence was the hub's.
    private var resumedAt: UInt64?

    init(configuration: HubConfiguration, logger: Logger, mailbox: ZMQMailbox<HubControl>) throws {
        self.configuration = configuration
        self.logger = logger
        self.events = ZMQEventLoop(mailbox: mailbox)
        incarnation = UInt64.random(in: 1...UInt64(Int64.max))
        livenessNanoseconds = configuration.livenessTimeout.nanoseconds
        scanNanoseconds = max(10_000_000, min(configuration.heartbeatInterval.nanoseconds, livenessNanoseconds / 4))

        let resources = try ZMQContextScope()
        let opened = try resources.setUp {
            let socket: ZMQSocket
            do {
                socket = try resources.socket(.router)
            } catch {
                throw HubError(.socket, "cannot create the hub socket: \(error)")
            }
            let database = try HubDatabase(directory: configuration.directory, settings: configuration.directorySettings)
            let admission = try HubAdmission(
                context: resources.context, socket: socket, configuration: configuration, database: database,
                logger: logger)
            resources.onClose { admission.stop() }
            try socket.setLinger(milliseconds: 0)
            try socket.setRouterHandover(true)
            try socket.setMaxMessageSize(Int64(HubMessage.largestBody))
            // A peer that never completes its handshake, or whose connection died unseen, does
            // not hold a file descriptor for long.
            try socket.setPeerTimeouts()
            do throws(ZMQError) {
                try socket.bind(configuration.endpoint)
            } catch where error.code == .addressInUse {
                throw HubError(.addressInUse, "the hub endpoint \(configuration.endpoint) is in use")
            } catch where error.code == .addressNotAvailable {
                throw HubError(
                    .addressNotOnThisHost,
                    "cannot bind the hub endpoint \(configuration.endpoint): its address is not one of this host's")
            } catch {
                throw HubError(.socket, "cannot bind the hub endpoint \(configuration.endpoint): \(error.reason)")
            }
            let endpoint = try socket.lastEndpoint
            // After the bind: of processes racing for the hub port (auto mode), the loser is
            // told the port is taken, as before; a hub on another port over this directory is
            // refused here.
            let directoryLock = try HubDirectoryLock(directory: database.directory, endpoint: endpoint)
            let adminToken: String
            do {
                if admission.isSecured {
                    // With keys only the hub's own key edits: no token is written, and one a
                    // run without keys left is removed.
                    HubAdminToken.remove(directory: database.directory)
                    adminToken = ""
                } else {
                    adminToken = try HubAdminToken.create(directory: database.directory)
                }
            } catch {
                directoryLock.release()
                throw error
            }
            return (
                socket: socket, database: database, admission: admission, endpoint: endpoint,
                directoryLock: directoryLock, adminToken: adminToken
            )
        }
        self.resources = resources
        socket = opened.socket
        database = opened.database
        admission = opened.admission
        endpoint = opened.endpoint
        directoryLock = opened.directoryLock
        adminToken = opened.adminToken
        self.logger[metadataKey: "hub"] = "\(endpoint)"
    }

    // MARK: running

    /// Runs until a stop command, then closes the socket and the context.
    func run() {
        let started = QueryClock.monotonicNanoseconds()
        do {
            for record in try database.spokes() {
                spokes[record.id] = LiveSpoke(record: record, routingID: nil, lastHeard: started, confirmed: false)
            }
        } catch {
            logger.error("cannot load the spoke table", metadata: ["error": "\(error)"])
        }
        logger.info(
            "hub serving",
            metadata: [
                "endpoint": "\(endpoint)", "directory": "\(configuration.directory)",
                "reloaded": "\(spokes.count)",
            ])

        ProcessMemory.returnLargeBlocksWhenFreed()
        let socketItem = events.add(socket)
        let scan = events.addTimer(dueAt: started + scanNanoseconds)
        // Loading the table above is no pause of the loop.
        lastScan = QueryClock.monotonicNanoseconds()
        while events.state == .running {
            do {
                for command in try events.poll(now: QueryClock.monotonicNanoseconds(), atMostMilliseconds: -1) {
                    switch command {
                    case .stop: events.stop()
                    case .snapshot(let reply): reply(snapshot())
                    }
                }
            } catch {
                logger.error("poll failed", metadata: ["error": "\(error)"])
                break
            }
            if events.state == .running && events.isReadable(socketItem) { readSocket() }
            let after = QueryClock.monotonicNanoseconds()
            if events.state == .running && events.fire(scan, now: after, thenEvery: scanNanoseconds) {
                noticePause(now: after)
                // Liveness is judged on a fresh read: after a pause of this loop the spokes'
                // heartbeats wait in the socket, and the poll above may have seen none of them.
                readSocket()
                // Taken after the read, so that no peer was heard later than the scan's now.
                let judged = QueryClock.monotonicNanoseconds()
                scanLiveness(now: judged)
                checkDatabaseInPlace(now: judged)
                memoryRelease.releaseIfDue(now: judged)
            }
        }
        for case .snapshot(let reply) in events.mailbox.closeIntake() { reply(.stopped) }
        events.stop()
        storeHeartbeats()
        // The lock before the port: a process that wins the port next (auto mode) must find
        // the directory free.
        directoryLock.release()
        resources.close()
        logger.info("hub stopped", metadata: ["endpoint": "\(endpoint)"])
    }

    /// The hub's spokes and newest crash reports, for its status page.
    private func snapshot() -> HubSnapshot {
        var metrics = metrics
        let refused = admission.refusedConnections
        metrics.refusedConnections(keys: refused.keys, handshakes: refused.handshakes)
        let views = spokes.values.sorted { $0.record.id < $1.record.id }.map { live in
            HubSnapshot.Spoke(
                id: live.record.id, service: live.record.registration.service, role: live.record.registration.role,
                endpoint: live.record.endpoint, host: live.record.registration.host,
                pid: live.record.registration.pid, state: live.confirmed ? "up" : "unconfirmed")
        }
        do {
            var snapshot = HubSnapshot(
                endpoint: endpoint, databaseOpen: databaseWriteFailure == nil && databaseDisplacement == nil,
                spokes: views, crashes: try database.recentCrashes(limit: HubSnapshot.crashReportsShown),
                crashReportsHeld: try database.count("down"), metrics: metrics)
            snapshot.databaseProblem =
                databaseDisplacement.map { "\(describe($0)), so \(consequence($0))" }
                ?? databaseWriteFailure.map { "the hub's database refuses writes (\($0))" }
            return snapshot
        } catch {
            var snapshot = HubSnapshot(
                endpoint: endpoint, databaseOpen: false, spokes: views, crashes: [], crashReportsHeld: 0, metrics: metrics)
            snapshot.databaseProblem = "the hub's database cannot be read (\(error.message))"
            return snapshot
        }
    }

    /// Runs `write`, a write to the database, and returns its result; nil when it failed. A
    /// failure makes the hub not ready until a write succeeds again, and is logged: the first
    /// at once, then at most a line a minute while writes keep failing, and the recovery.
    /// While writes fail, at most one a second is tried; the others fail without a try. The
    /// removals earlier writes failed to store (``unstoredRemovals``) are stored first: while
    /// one of them fails, `write` is not tried.
    private func storing<T>(_ write: () throws(HubError) -> T) -> T? {
        try? storingOrRefusal(write).get()
    }

    /// Why a write to the database stored nothing: the database refused it, or it was not
    /// tried, the database refusing writes (``HubLoop/storing(_:)``), with the last failure.
    private enum WriteRefusal: Error {
        case failed(HubError)
        case notTried(lastFailure: String)

        /// What a peer whose request `what` (`register a spoke`) stored nothing is told:
        /// its own write's failure, never another's as if it were its own.
        func message(what: String) -> String {
            switch self {
            case .failed(let error):
                error.message
            case .notTried(let lastFailure):
                """
                cannot \(what): not tried, as the hub's database refuses writes (the last failed: \(lastFailure)); \
                while they fail, the hub tries one write a second
                """
            }
        }
    }

    /// ``storing(_:)``, saying why nothing was stored.
    private func storingOrRefusal<T>(_ write: () throws(HubError) -> T) -> Result<T, WriteRefusal> {
        // While writes fail, one is tried a second: the others fail at once.
        if let failure = databaseWriteFailure, QueryClock.monotonicNanoseconds() < databaseRetryAt {
            return .failure(.notTried(lastFailure: failure))
        }
        let caughtUp: Int
        do {
            caughtUp = try storeUnstoredRemovals()
            // Before the write: a removal or a crash report written first would leave rows of
            // a spoke gone, or miss its last memory stats.
            if !heardSinceStored.isEmpty {
                let heard = heardSinceStored
                heardSinceStored.removeAll(keepingCapacity: true)
                try database.heard(heard, keep: configuration.memoryStatsKept)
            }
        } catch {
            noteWriteFailure(error)
            return .failure(.notTried(lastFailure: error.message))
        }
        do {
            let result = try write()
            if let failure = databaseWriteFailure {
                databaseWriteFailure = nil
                // Spokes that could not register meanwhile get a reloaded spoke's allowance,
                // from now, to do so (``silence(since:now:allowed:)``).
                resumedAt = QueryClock.monotonicNanoseconds()
                var metadata: Logger.Metadata = ["file": "\(database.path)", "lastError": "\(failure)"]
                if caughtUp > 0 { metadata["spokesRemovedLate"] = "\(caughtUp)" }
                logger.notice("the hub's database accepts writes again; the hub is ready", metadata: metadata)
            }
            return .success(result)
        } catch {
            noteWriteFailure(error)
            return .failure(.failed(error))
        }
    }

    /// Logs a failed write (the first at once, then a line a minute) and makes the hub not
    /// ready until one succeeds; no write is tried for the next second.
    private func noteWriteFailure(_ error: HubError) {
        if databaseWriteFailure == nil {
            databaseWriteFailureLog = LogThrottle(interval: .seconds(60))
            _ = databaseWriteFailureLog.admit()
            logger.error(
                """
                the hub's database refuses writes: \(error.message); registrations and heartbeats are not stored, \
                spokes that go down or leave are taken out of its tables (crash reports written) only once a write \
                succeeds again, and the hub is not ready (/readyz answers 503) until then
                """,
                metadata: ["file": "\(database.path)"])
        } else if let heldBack = databaseWriteFailureLog.admit() {
            logger.error(
                "the hub's database still refuses writes: \(error.message) (\(heldBack + 1) writes failed since the last such line)",
                metadata: ["file": "\(database.path)"])
        }
        databaseWriteFailure = error.message
        databaseRetryAt = QueryClock.monotonicNanoseconds() &+ Self.databaseRetryInterval
    }

    /// Looks, once a second at most, whether the database file the hub opened is still the
    /// one at its path, and the directory given for it, when a symbolic link, still leads
    /// there. One removed (its directory with it) or replaced takes the hub's writes no
    /// longer: they go to the file the hub holds open, which goes when it stops, and the admin
    /// token, lost with the directory, fails the admin commands. A link removed or changed
    /// leaves them where they were, but a hub started again with the directory as given would
    /// not find them. The hub logs it, with what to do, and is not ready until all is back in
    /// its place.
    private func checkDatabaseInPlace(now: UInt64) {
        guard now &- lastDisplacementCheck >= Self.databaseRetryInterval else { return }
        lastDisplacementCheck = now
        let displacement = database.displacement()
        guard displacement != databaseDisplacement else { return }
        var metadata: Logger.Metadata = ["file": "\(database.path)", "directory": "\(database.directory)"]
        if let link = database.linkedDirectory { metadata["given"] = "\(link)" }
        defer { databaseDisplacement = displacement }
        guard let displacement else {
            logger.notice("the hub's database is in its place again", metadata: metadata)
            return
        }
        logger.error("\(describe(displacement)): \(whatFollows(displacement))", metadata: metadata)
    }

    /// What `displacement` does to the hub's writes, and what to do, for its log.
    private func whatFollows(_ displacement: HubDatabase.Displacement) -> String {
        let fresh = "an empty database: spokes register again within seconds; allowed keys and kdb+ users must be added again"
        let lost = "the hub writes on to the file it opened, which no one else sees and which is lost when the hub stops"
        let notReady = "the hub is not ready (/readyz answers 503)"
        let link = database.linkedDirectory ?? database.directory
        let relink =
            "make \(link) lead to \(database.directory) again (ln -sfn \(database.directory) \(link)), or, when the hub "
            + "is restarted, give it \(database.directory) itself with \(configuration.directorySettings)"
        switch displacement {
        case .directoryRemoved:
            return "\(lost), and the admin commands fail: its admin token went too; \(notReady); put the directory back "
                + "from a backup and restart the hub, or restart it to start anew (\(fresh))"
        case .fileRemoved:
            return "\(lost); \(notReady); put the file back from a backup and restart the hub, or restart it to start "
                + "anew (\(fresh))"
        case .fileReplaced:
            return "\(lost); \(notReady); restart the hub to use the file now there"
        case .directoryLinkRemoved:
            return "the hub writes on to \(database.path), but a hub started again with \(link) would start anew there "
                + "(\(fresh)), and the admin commands given \(link) fail: they find no admin token there; \(notReady); \(relink)"
        case .directoryLinkChanged:
            return "the hub writes on to \(database.path), but a hub started again with \(link) would use the database in "
                + "the directory it leads to now, and the admin commands given \(link) fail: the admin token there is not "
                + "this hub's; \(notReady); \(relink)"
        }
    }

    /// What happened to the database file, or to the link to its directory, named by its path.
    private func describe(_ displacement: HubDatabase.Displacement) -> String {
        let link = "the hub directory \(database.linkedDirectory ?? database.directory) (a link to \(database.directory))"
        switch displacement {
        case .directoryRemoved:
            return "the hub directory \(database.directory) was removed while the hub runs, its database with it"
        case .fileRemoved:
            return "the hub database \(database.path) was removed while the hub runs"
        case .fileReplaced:
            return "the hub database \(database.path) was replaced while the hub runs (the file there is not the one it opened)"
        case .directoryLinkRemoved:
            return "\(link) was removed while the hub runs, the directory it led to left in place"
        case .directoryLinkChanged:
            let now = database.linkedDirectory.flatMap(POSIXFile.resolvedPath).map { " (\($0))" } ?? ""
            return "\(link) was changed while the hub runs: it leads to another directory now\(now)"
        }
    }

    /// What `displacement` means for the hub's writes, for `/readyz`.
    private func consequence(_ displacement: HubDatabase.Displacement) -> String {
        switch displacement {
        case .directoryRemoved, .fileRemoved, .fileReplaced:
            "what the hub writes is lost when it stops; restart it (its log says how)"
        case .directoryLinkRemoved, .directoryLinkChanged:
            "a hub started again with it would not find the database this one writes; its log says what to do"
        }
    }

    /// Takes spoke `id`, which the hub has let go of, out of `spoke` as `removal` says; when
    /// the database refuses, the removal waits in ``unstoredRemovals`` for the next write.
    private func storeRemoval(of id: Int64, _ removal: SpokeRemoval) {
        if storing({ () throws(HubError) in try store(removal, of: id) }) == nil {
            unstoredRemovals.append((id, removal))
        }
    }

    /// Stores the removals earlier writes failed to store, oldest first; returns how many.
    private func storeUnstoredRemovals() throws(HubError) -> Int {
        var stored = 0
        while let next = unstoredRemovals.first {
            try store(next.removal, of: next.id)
            unstoredRemovals.removeFirst()
            stored += 1
        }
        return stored
    }

    /// One removal: each is a transaction, and one stored again changes nothing more (the
    /// spoke's row is gone).
    private func store(_ removal: SpokeRemoval, of id: Int64) throws(HubError) {
        switch removal {
        case .removed:
            try database.remove(spoke: id)
        case .down(let crash, let reason):
            try database.markDown(spoke: id, crash: crash, reason: reason, keep: configuration.crashReportsKept)
            metrics.crashReported()
        }
    }

    // MARK: messages

    /// The most messages one read handles: the loop then turns, reading its mailbox (a stop)
    /// and running the liveness scan, however fast peers send.
    static let messagesPerRead = 1_000

    private func readSocket() {
        for _ in 0..<Self.messagesPerRead {
            let parts: [ZMQMessage]
            do {
                guard let received = try socket.receiveMultipart(dontWait: true) else { return }
                parts = received
            } catch {
                logger.warning("receive failed", metadata: ["error": "\(error)"])
                return
            }
            guard parts.count >= 2 else { continue }
            let routingID = parts[0].bytes
            let peerAddress = parts[1].metadata("Peer-Address")
            let userID = parts[1].metadata("User-Id") ?? ""
            let message: HubMessage
            do {
                // A request past HubMessage.largestRequest is refused as it lies, not copied.
                if parts.count == 4, parts[1].bytes == HubLink.protocolMarker, let command = HubCommand(frame: parts[2].bytes) {
                    try HubMessage.checkBodySize(parts[3].count, of: command, largestBody: HubMessage.largestRequest)
                }
                message = try HubMessage(frames: parts.dropFirst().map(\.bytes), largestBody: HubMessage.largestRequest)
            } catch {
                metrics.refused(.malformed)
                if let heldBack = malformedMessageLog.admit() {
                    logger.warning(
                        "\(LogThrottle.line("refused a malformed message: \(error.message)", heldBack: heldBack))",
                        metadata: ["key": "\(userID)", "address": "\(peerAddress ?? "")", "door": "hub"])
                }
                send(routingID, HubMessage(.error, [("message", .string(error.message))]))
                continue
            }
            guard admission.admitsMessage(userID: userID, address: peerAddress) else {
                metrics.refused(.revokedKey)
                send(routingID, HubMessage(.error, [("message", .string(HubMessage.keyNoLongerAllowed))]))
                continue
            }
            if message.command.isAdministrative, let refusal = adminRefusal(message, userID: userID) {
                metrics.refused(.admin)
                if let heldBack = refusedAdminLog.admit() {
                    logger.warning(
                        "\(LogThrottle.line("refused an admin command: \(refusal.message)", heldBack: heldBack))",
                        metadata: [
                            "command": "\(message.command.rawValue)", "key": "\(userID)", "address": "\(peerAddress ?? "")",
                            "door": "hub admin",
                        ])
                }
                send(
                    routingID,
                    HubMessage(.error, [("message", .string(refusal.message)), ("code", .atom(.symbol(refusal.code.name)))]))
                continue
            }
            handle(message, from: routingID, peerAddress: peerAddress, userID: userID)
        }
    }

    /// Why an administrative command may not be taken from this peer, with the code its
    /// `ERROR` carries; nil when it may. A secured hub takes them only from its own key; any
    /// other, only with its admin token.
    private func adminRefusal(_ message: HubMessage, userID: String) -> (code: HubError.Code, message: String)? {
        let command = message.command.rawValue
        if admission.isSecured {
            return admission.isAdmin(userID) ? nil : (.adminKeyNeeded, "only the hub's own key may \(command)")
        }
        if HubAdminToken.matches(message.text("token"), adminToken) { return nil }
        return message.text("token") == nil
            ? (
                .adminTokenMissing,
                "\(command) needs the hub's admin token (\(HubAdminToken.fileName) in the hub directory, readable only by the hub's user) or, with --keys, the hub's own key"
            )
            : (
                .adminTokenWrong,
                "\(command) carried a wrong admin token (the hub writes a new \(HubAdminToken.fileName) each time it starts)"
            )
    }

    /// `userID` is the public key the peer's connection authenticated with ("" without security).
    private func handle(_ message: HubMessage, from routingID: [UInt8], peerAddress: String?, userID: String) {
        let now = QueryClock.monotonicNanoseconds()
        switch message.command {
        case .register: register(message, from: routingID, peerAddress: peerAddress, userID: userID, now: now)
        case .heartbeat: heartbeat(message, from: routingID, userID: userID, now: now)
        case .deregister:
            let reason = message.text("reason") ?? ""
            if let problem = SpokeRegistration.textProblem(reason, field: "reason", longest: SpokeRegistration.longestText) {
                send(routingID, HubMessage(.error, [("message", .string(problem))]))
                return
            }
            deregister(from: routingID, userID: userID, reason: reason)
        case .resolve:
            let service = message.text("service") ?? ""
            let role = message.text("role").flatMap { $0.isEmpty ? nil : $0 } ?? SpokeRole.servant
            send(
                routingID,
                HubMessage(
                    .resolved,
                    ServiceEndpoint.listEntries(
                        service: service, incarnation: incarnation, endpoints(of: service, role: role))))
        case .watch:
            let service = message.text("service") ?? ""
            watchers[routingID] = Watcher(service: service, lastHeard: now)
            send(routingID, HubMessage(.snapshot, ServiceEndpoint.listEntries(service: service, incarnation: incarnation, endpoints(of: service))))
        case .table:
            let name = message.text("name") ?? ""
            // The heartbeats heard so far are in the tables it shows.
            storeHeartbeats()
            do {
                let table = try database.table(name)
                send(routingID, HubMessage(.table, [("name", .atom(.symbol(name))), ("table", .table(table))]))
            } catch {
                send(routingID, HubMessage(.error, [("message", .string(error.message))]))
            }
        case .allow, .revoke, .keys:
            send(routingID, admission.handle(message, database: database, logger: logger))
        case .addUser, .removeUser, .users:
            send(routingID, HubUsers.handle(message, database: database, logger: logger))
        default:
            send(
                routingID,
                HubMessage(.error, [("message", .string("the hub does not take \(message.command.rawValue)"))]))
        }
    }

    private func register(
        _ message: HubMessage, from routingID: [UInt8], peerAddress: String?, userID: String, now: UInt64
    ) {
        var registration: SpokeRegistration
        do {
            registration = try SpokeRegistration(message: message)
            try registration.validate(nowTimestamp: QueryClock.qTimestampNow())
        } catch {
            metrics.refused(.registration)
            if let heldBack = refusedRegistrationLog.admit() {
                logger.warning(
                    "\(LogThrottle.line("refused a registration: \(error.message)", heldBack: heldBack))",
                    metadata: ["key": "\(userID)", "address": "\(peerAddress ?? "")", "door": "hub"])
            }
            send(routingID, HubMessage(.error, [("message", .string(error.message))]))
            return
        }
        // With security on, the key a spoke registers (which brokers then trust for it) must be
        // the one its own connection authenticated with: a peer holding some allowed key may
        // not vouch for another.
        if admission.isSecured, let key = registration.curveKey, key != userID {
            metrics.refused(.registration)
            logger.warning(
                "refused a registration naming a key other than its own",
                metadata: [
                    "service": "\(registration.service)", "registeredKey": "\(key)",
                    "peer": "\(admission.key(ofPeer: userID)?.name ?? "")",
                ])
            send(
                routingID,
                HubMessage(
                    .error,
                    [("message", .string("the curveKey registered must be the key this connection authenticated with"))]))
            return
        }
        // With security on, a session is its registering key's: another key, which could learn
        // the session from the connection's routing id, may not take the row over.
        if admission.isSecured,
            let existing = spokes.values.first(where: { $0.record.registration.session == registration.session }),
            !existing.isOwned(by: userID)
        {
            metrics.refused(.registration)
            if let heldBack = refusedRegistrationLog.admit() {
                logger.warning(
                    "\(LogThrottle.line("refused a registration of a session another key registered", heldBack: heldBack))",
                    metadata: [
                        "id": "\(existing.record.id)", "peer": "\(admission.key(ofPeer: userID)?.name ?? "")",
                        "key": "\(userID)", "address": "\(peerAddress ?? "")", "door": "hub",
                    ])
            }
            send(routingID, HubMessage(.error, [("message", .string("this session was registered with another key"))]))
            return
        }
        // With security on, only a key allowed as a servant (or broker) may register one:
        // brokers send queries to servants, and clients send theirs to the brokers they resolve.
        if admission.isSecured, let needed = KeyRole(registeringAs: registration.role) {
            let peerKey = admission.key(ofPeer: userID)
            if peerKey?.role.permits(needed) != true {
                let role = peerKey?.role.rawValue ?? "none (no longer allowed)"
                metrics.refused(.registration)
                logger.warning(
                    "refused a registration as a \(registration.role): its key's role is \(role)",
                    metadata: [
                        "service": "\(registration.service)", "key": "\(peerKey?.key ?? userID)",
                        "peer": "\(peerKey?.name ?? "")",
                        "role": "\(role)",
                    ])
                send(
                    routingID,
                    HubMessage(
                        .error,
                        [
                            (
                                "message",
                                .string(
                                    "registering as a \(registration.role) needs a key allowed in role \(needed) or any; the key this connection authenticated with ('\(peerKey?.name ?? userID)') has role \(role)"
                                )
                            )
                        ]))
                return
            }
        }
        let seen = peerAddress.flatMap { $0.isEmpty ? nil : $0 }
        registration.address = registration.advertisedHost ?? seen ?? registration.address
        var endpoint = ""
        if registration.port > 0 {
            let host = registration.address.contains(":") ? "[\(registration.address)]" : registration.address
            // A q servant (registered for a kdb+ process) keeps its scheme: brokers speak kdb+ IPC to it.
            let scheme = registration.endpoint.lowercased().hasPrefix("kdb://") ? "kdb" : "tcp"
            endpoint = "\(scheme)://\(host):\(registration.port)"
        }
        let time = QueryClock.qTimestampNow()
        let id: Int64
        switch storingOrRefusal({ () throws(HubError) in try database.register(registration, endpoint: endpoint, at: time) }) {
        case .success(let stored):
            id = stored
        case .failure(let refusal):
            send(
                routingID,
                HubMessage(
                    .error, [("message", .string("the hub cannot store it: \(refusal.message(what: "register a spoke"))"))]))
            return
        }
        let previous = spokes[id]
        let record = SpokeRecord(id: id, registration: registration, endpoint: endpoint, registered: time, heard: time)
        let live = LiveSpoke(
            record: record, routingID: routingID, lastHeard: now, confirmed: true,
            ownerKey: admission.isSecured ? userID : nil)
        // The same connection registered as a different session: the old one left.
        let replaced = spokeByRoutingID[routingID].flatMap { $0 == id ? nil : spokes[$0] }
        announcingChanges(to: [previous?.announcement, replaced?.announcement, live.announcement]) {
            if let oldRoutingID = previous?.routingID, oldRoutingID != routingID {
                spokeByRoutingID[oldRoutingID] = nil
            }
            if let replaced {
                spokes[replaced.record.id] = nil
                storeRemoval(of: replaced.record.id, .removed)
            }
            spokes[id] = live
            spokeByRoutingID[routingID] = id
        }
        metrics.registered()
        // A process the hub moved to `down` for its silence, registering again, had not stopped:
        // its crash report says so (a cut between it and the hub, or a pause, is no crash).
        let formerID =
            previous != nil
            ? nil
            : storing({ () throws(HubError) in
                try database.amendCrashReport(
                    ofSession: registration.session, curveKey: registration.curveKey, registeredAgainAs: id)
            }) ?? nil
        // A spoke that stopped hearing the hub sends REGISTER again every second; through a
        // link that was cut and came back, the hub gets them all at once. Those that change
        // nothing are no news.
        let unchanged =
            previous.map {
                $0.confirmed && $0.routingID == routingID && $0.record.endpoint == endpoint
                    && $0.record.registration.service == registration.service
                    && $0.record.registration.role == registration.role && $0.record.registration.pid == registration.pid
            } ?? false
        var metadata: Logger.Metadata = [
            "id": "\(id)", "pid": "\(registration.pid)", "role": "\(registration.role)",
            "service": "\(registration.service)", "endpoint": "\(endpoint)",
        ]
        if let formerID { metadata["formerID"] = "\(formerID)" }
        logSpokeEvent(
            .registered, level: formerID != nil ? .notice : unchanged ? .debug : .info,
            formerID != nil
                ? "spoke registered again, the same process the hub moved to down: it had not stopped (cut from the hub, or paused); its crash report says so"
                : previous == nil ? "spoke registered" : unchanged ? "spoke registered again, unchanged" : "spoke re-registered",
            metadata: metadata)
        send(
            routingID,
            HubMessage(
                .registered,
                [
                    ("id", .atom(.long(id))), ("incarnation", .atom(.long(Int64(bitPattern: incarnation)))),
                    ("endpoint", .atom(.symbol(endpoint))),
                ]))
    }

    private func heartbeat(_ message: HubMessage, from routingID: [UInt8], userID: String, now: UInt64) {
        guard let id = spokeByRoutingID[routingID], var live = spokes[id], !admission.isSecured || live.isOwned(by: userID)
        else {
            send(routingID, HubMessage(.unknown, [("incarnation", .atom(.long(Int64(bitPattern: incarnation))))]))
            return
        }
        live.lastHeard = now
        live.confirmed = true
        spokes[id] = live
        var memory: MemoryStats?
        if let used = message.integer("used") {
            memory = MemoryStats(
                used: used, heap: message.integer("heap") ?? 0, peak: message.integer("peak") ?? 0,
                rss: message.integer("rss") ?? 0)
        }
        heardSinceStored.append(HeardSpoke(id: id, time: QueryClock.qTimestampNow(), memory: memory))
        // Bounded: a flood of heartbeats between two scans is stored as it comes.
        if heardSinceStored.count >= Self.heartbeatsStoredTogether { storeHeartbeats() }
        send(
            routingID,
            HubMessage(
                .heartbeat, [("incarnation", .atom(.long(Int64(bitPattern: incarnation)))), ("id", .atom(.long(id)))]))
    }

    /// A clean exit without `reason`; with one, the spoke goes to `down` for that reason (a
    /// sidecar reporting that the process it registered has gone).
    private func deregister(from routingID: [UInt8], userID: String, reason: String) {
        let id = spokeByRoutingID[routingID] ?? reloadedSpoke(routingID: routingID)
        if admission.isSecured, let id, let spoke = spokes[id], !spoke.isOwned(by: userID) {
            send(routingID, HubMessage(.error, [("message", .string("this spoke was registered with another key"))]))
            return
        }
        spokeByRoutingID[routingID] = nil
        if let id, let gone = spokes[id] {
            announcingChanges(to: [gone.announcement]) { spokes[id] = nil }
            storeRemoval(of: id, reason.isEmpty ? .removed : .down(crash: QueryClock.qTimestampNow(), reason: reason))
            if reason.isEmpty {
                logSpokeEvent(
                    .deregistered, level: .info, "spoke deregistered",
                    metadata: ["id": "\(id)", "pid": "\(gone.record.registration.pid)"])
            } else {
                logSpokeEvent(
                    .down, level: .warning, "spoke down",
                    metadata: ["id": "\(id)", "endpoint": "\(gone.record.endpoint)", "reason": "\(reason)"])
            }
        }
        send(routingID, HubMessage(.deregistered))
    }

    /// The spoke reloaded from the directory (not heard from since this hub started) whose
    /// agent uses `routingID`: every spoke agent's is `spoke-<session>`. So a spoke that leaves
    /// (or a sidecar reporting its process down) before its first heartbeat reaches a
    /// restarted hub is taken at its word.
    private func reloadedSpoke(routingID: [UInt8]) -> Int64? {
        let prefix = Array("spoke-".utf8)
        guard routingID.starts(with: prefix) else { return nil }
        let session = String(decoding: routingID.dropFirst(prefix.count), as: UTF8.self)
        return spokes.first { $0.value.routingID == nil && $0.value.record.registration.session == session }?.key
    }

    /// Logs a line about a spoke, unless spokes come and go too fast to log each
    /// (``SpokeEventLog``); debug lines are not counted.
    private func logSpokeEvent(
        _ kind: SpokeEventLog.Kind, level: Logger.Level, _ message: String, metadata: Logger.Metadata
    ) {
        if level != .debug {
            let now = QueryClock.monotonicNanoseconds()
            logHeldBackSpokeEvents(now: now)
            guard spokeEventLog.admit(kind, now: now) else { return }
        }
        logger.log(level: level, "\(message)", metadata: metadata)
    }

    /// Logs what ``logSpokeEvent(_:level:_:metadata:)`` held back, once its second is over.
    private func logHeldBackSpokeEvents(now: UInt64) {
        if let summary = spokeEventLog.summary(now: now) { logger.warning("\(summary)") }
    }

    // MARK: liveness and watches

    /// The liveness of a spoke the hub could not hear from lately through no fault of its own
    /// (reloaded after a hub restart, or silent since the hub's own pause): such a spoke may be
    /// backing off between tries to reach the hub, and gets the longest such wait on top of
    /// its liveness to be heard from.
    private var reloadedLivenessNanoseconds: UInt64 {
        livenessNanoseconds + UInt64(HubPeerSocket.longestReconnectMilliseconds) * 1_000_000
    }

    /// Notices that the loop did not run for a while before the scan due at `now`: the process
    /// was stopped (SIGSTOP, a suspended VM, swapping) or a turn held the loop up. The scan runs
    /// every `scanNanoseconds` (at most a quarter of the liveness), so a gap since the last scan
    /// of more than half the liveness is no scheduling jitter: it has used up half of every
    /// spoke's allowance on the hub's account. Meanwhile the spokes' heartbeats waited unread
    /// (or, once the hub's receive buffers were full, went unacknowledged past a spoke's 5 s
    /// and its connection is being made anew). So every spoke and watcher not heard from since `now` gets the
    /// allowance of a spoke reloaded after a hub restart, counted from `now`.
    private func noticePause(now: UInt64) {
        let gap = now &- lastScan
        lastScan = now
        guard gap > livenessNanoseconds / 2 else { return }
        resumedAt = now
        let seconds = { (nanoseconds: UInt64) in String(format: "%.1f", Double(nanoseconds) / 1e9) }
        logger.warning(
            """
            the hub was not running for \(seconds(gap)) s (the process was stopped, or its loop held up); \
            spokes and watchers not heard from since get \(seconds(reloadedLivenessNanoseconds)) s to be heard \
            from again before any is declared down
            """,
            metadata: ["spokes": "\(spokes.count)", "watchers": "\(watchers.count)"])
    }

    /// How long a peer last heard at `lastHeard` has been silent at `now`, and how long it may
    /// be (`allowed`, unless the hub paused since): a peer not heard from since the hub's last
    /// pause counts from the end of the pause, with the allowance of a reloaded spoke. Every
    /// time subtracted is at most `now`, so the differences do not wrap.
    private func silence(since lastHeard: UInt64, now: UInt64, allowed: UInt64) -> (silent: UInt64, allowed: UInt64) {
        if let resumedAt, lastHeard < resumedAt {
            return (now &- resumedAt, max(allowed, reloadedLivenessNanoseconds))
        }
        return (now &- lastHeard, allowed)
    }

    private func scanLiveness(now: UInt64) {
        logHeldBackSpokeEvents(now: now)
        let reloadedLiveness = reloadedLivenessNanoseconds
        for (id, live) in spokes {
            // A spoke reloaded after a restart is confirmed by its registration, which a
            // database refusing writes refuses: while it does, silence says nothing of such a
            // spoke, which keeps its place (brokers go on resolving it) until the database
            // takes writes again and the spoke its allowance from then.
            if !live.confirmed, databaseWriteFailure != nil { continue }
            let judged = silence(
                since: live.lastHeard, now: now, allowed: live.confirmed ? livenessNanoseconds : reloadedLiveness)
            guard judged.silent > judged.allowed else { continue }
            let reason = live.confirmed ? "missed heartbeats" : "not heard from after a hub restart"
            storeRemoval(of: id, .down(crash: QueryClock.qTimestampNow(), reason: reason))
            announcingChanges(to: [live.announcement]) { spokes[id] = nil }
            if let routingID = live.routingID { spokeByRoutingID[routingID] = nil }
            logSpokeEvent(
                .down, level: .warning, "spoke down",
                metadata: [
                    "id": "\(id)", "pid": "\(live.record.registration.pid)", "endpoint": "\(live.record.endpoint)",
                    "reason": "\(reason)",
                ])
        }
        for (routingID, watcher) in watchers {
            let judged = silence(since: watcher.lastHeard, now: now, allowed: livenessNanoseconds)
            if judged.silent > judged.allowed { watchers[routingID] = nil }
        }
        // Past the allowance, every peer silent since the pause has been judged.
        if let resumedAt, now &- resumedAt > reloadedLiveness { self.resumedAt = nil }
        // With no spoke left to write at its heartbeat, the removals a refused write left
        // are tried here (one try a second while the database refuses).
        if !unstoredRemovals.isEmpty { _ = storing { () throws(HubError) in } }
        storeHeartbeats()
    }

    /// The most heartbeats held before they are stored, whatever the time to the next scan.
    static let heartbeatsStoredTogether = 4_096

    /// Stores the heartbeats heard since the last time (``heardSinceStored``), in one
    /// transaction; while the database refuses writes they are lost, as one stored alone was.
    private func storeHeartbeats() {
        guard !heardSinceStored.isEmpty else { return }
        // ``storingOrRefusal(_:)`` stores them before the write it is given, or drops them.
        _ = storing { () throws(HubError) in }
        heardSinceStored.removeAll(keepingCapacity: true)
    }

    /// The endpoints of `service`'s spokes in `role`, each once: under the spoke registered
    /// first of those announcing it (its ``holder(of:)``, for servants).
    private func endpoints(of service: String, role: String = SpokeRole.servant) -> [ServiceEndpoint] {
        var seen: Set<String> = []
        return spokes.values
            .filter {
                $0.record.registration.role == role && !$0.record.endpoint.isEmpty
                    && $0.record.registration.service == service
            }
            .sorted { $0.record.id < $1.record.id }
            .filter { seen.insert($0.record.endpoint).inserted }
            .map(\.record.serviceEndpoint)
    }

    /// The spoke whose record watchers are given for servant endpoint `key`: of the spokes
    /// announcing it, the one registered first (lowest id). Another spoke naming the same
    /// endpoint — a servant restarted on its port before its old registration timed out, or a
    /// peer naming someone else's endpoint — is held back until this one is gone, so it can
    /// neither take the endpoint over nor, by leaving, take it away.
    private func holder(of key: LiveSpoke.Announcement) -> LiveSpoke? {
        var holder: LiveSpoke?
        for live in spokes.values where live.announcement == key {
            if holder.map({ live.record.id < $0.record.id }) ?? true { holder = live }
        }
        return holder
    }

    /// Runs `change` on the spokes, then tells watchers what it changed for the servant
    /// endpoints `keys` (nil ones skipped): `JOIN` for an endpoint with a new holder, `LEAVE`
    /// for one that no live spoke announces any more. An endpoint whose holder stays is no news.
    private func announcingChanges(to keys: [LiveSpoke.Announcement?], _ change: () -> Void) {
        let before = Set(keys.compactMap { $0 }).map { key in (key, holder(of: key)) }
        change()
        for (key, old) in before {
            let new = holder(of: key)
            guard old?.record.id != new?.record.id else { continue }
            if let new {
                announce(.join, new)
            } else if let old {
                announce(.leave, old)
            }
        }
    }

    private func announce(_ command: HubCommand, _ live: LiveSpoke) {
        let service = live.record.registration.service
        let message = HubMessage(command, live.record.serviceEndpoint.entries(service: service))
        for (routingID, watcher) in watchers where watcher.service == service {
            send(routingID, message)
        }
    }

    private func send(_ routingID: [UInt8], _ message: HubMessage) {
        do {
            _ = try socket.send(multipart: [routingID] + message.frames, dontWait: true)
        } catch {
            logger.debug("cannot send to a hub peer", metadata: ["error": "\(error)"])
        }
    }
}
