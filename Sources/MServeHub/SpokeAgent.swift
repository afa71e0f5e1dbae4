import Foundation
import POSIXSockets
public import Logging
import MServeProtocol
import QData
public import ServiceLifecycle
import Synchronization
public import ZeroMQ

/// What a spoke agent knows about its standing with the hub.
public struct SpokeAgentStatus: Sendable, Hashable {
    /// The hub's id for this process, once registered.
    public var spokeID: Int64?
    /// The incarnation of the hub this process is registered with.
    public var hubIncarnation: UInt64?
    /// The endpoint the hub stored for this process.
    public var endpoint: String?
    /// Monotonic nanoseconds when the hub last answered (the agent's start until it first does).
    public var lastHeardFromHub: UInt64
    /// Registrations the hub has confirmed (the first, and one after each hub restart).
    public var registrations: Int
}

/// Registers this process with the hub, heartbeats with its memory stats, registers again when
/// the hub restarts (a new incarnation, or an UNKNOWN answer), and deregisters on a clean stop.
/// Servants, brokers and any other MServe process run one.
public final class SpokeAgent: Service, Sendable {
    private let hubEndpoint: String
    private let registration: SpokeRegistration
    private let heartbeatInterval: Duration
    private let livenessTimeout: Duration
    private let logger: Logger
    private let mailbox: ZMQMailbox<SpokeControl>
    private let state: Mutex<SpokeAgentStatus>
    private let curve: ZMQCurveClientKeys?
    /// The hub's refusals, by their text: each logged once a minute at most.
    private let refusalLog = Mutex(LogThrottles<String>(interval: .seconds(60)))

    /// Creates an agent that registers `registration` with the hub at `hub` (as a CURVE client
    /// with `curve` when the hub runs with security on).
    public init(
        hub: String = HubLink.defaultEndpoint,
        registration: SpokeRegistration,
        heartbeatInterval: Duration = .seconds(1),
        livenessTimeout: Duration = .seconds(3),
        curve: ZMQCurveClientKeys? = nil,
        logger: Logger = Logger(label: "mserve.spoke")
    ) throws {
        self.curve = curve
        self.hubEndpoint = hub
        self.registration = registration
        self.heartbeatInterval = heartbeatInterval
        self.livenessTimeout = livenessTimeout
        self.logger = logger
        self.mailbox = try ZMQMailbox()
        self.state = Mutex(
            SpokeAgentStatus(lastHeardFromHub: QueryClock.monotonicNanoseconds(), registrations: 0))
    }

    /// The agent's standing with the hub now.
    public var status: SpokeAgentStatus { state.withLock { $0 } }

    /// True while the hub has answered within the liveness timeout.
    public var isHubAnswering: Bool {
        QueryClock.monotonicNanoseconds() &- status.lastHeardFromHub <= livenessTimeout.nanoseconds
    }

    /// Runs until graceful shutdown, cancellation or ``stop(deregister:)``.
    public func run() async throws {
        let mailbox = mailbox
        try await ZMQLoopThread.runService(named: "mserve-spoke", stop: { mailbox.post(.stop(deregister: true)) }) {
            [self] in
            let peer = try HubPeerSocket(
                endpoint: hubEndpoint, routingID: Array("spoke-\(registration.session)".utf8), curve: curve)
            runLoop(peer)
            peer.close()
        }
    }

    /// Stops the agent; with `deregister` false it just goes silent, as a crashed process would.
    public func stop(deregister: Bool = true) {
        mailbox.post(.stop(deregister: deregister))
    }

    /// Stops the agent and has the hub move this spoke to `down` at once with `reason` (a
    /// DEREGISTER with a reason): for a sidecar whose process has gone.
    public func stop(downReason reason: String) {
        mailbox.post(.down(reason: reason))
    }

    /// Waits until the hub has confirmed a registration (at least `count` of them in all) and
    /// returns the spoke id; throws ``HubError/Code/timeout`` after `timeout`.
    public func waitUntilRegistered(count: Int = 1, timeout: Duration = .seconds(5)) async throws -> Int64 {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let current = status
            if current.registrations >= count, let id = current.spokeID { return id }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HubError(.timeout, "the hub at \(hubEndpoint) did not confirm the registration in \(timeout)")
    }

    /// How soon a REGISTER that found no connection to the hub is first tried again; later
    /// tries wait twice as long each, up to the heartbeat interval.
    static let firstRegisterRetryNanoseconds: UInt64 = 10_000_000

    /// Looks the hub endpoint's host name up on a thread of its own (a lookup may block for
    /// seconds) and logs a warning when it does not resolve: libzmq retries such a name as
    /// quietly as a hub that is down.
    private func logIfTheHubsNameDoesNotResolve() {
        guard let host = ZMQEndpoint(hubEndpoint)?.host else { return }
        let endpoint = hubEndpoint
        let logger = logger
        _ = HostLookup.start(host: host, threadName: "mserve-hub-lookup") { failure in
            logger.warning(
                "the hub cannot be reached: \(failure); check --hub or MSERVE_HUB", metadata: ["hub": "\(endpoint)"])
        }
    }

    private func runLoop(_ peer: HubPeerSocket) {
        var registered = false
        // Whether the hub's silence has been logged since it last answered: once per silence.
        var silenceLogged = false
        let liveness = livenessTimeout.nanoseconds
        let events = ZMQEventLoop(mailbox: mailbox)
        let socketItem = events.add(peer.socket)
        var lastTurn = QueryClock.monotonicNanoseconds()
        let tick = events.addTimer(dueAt: lastTurn)
        // When this process last ran again after a pause of its own: the hub's silence counts
        // from then, not from its last answer.
        var resumedAt: UInt64 = 0
        let heartbeat = heartbeatInterval.nanoseconds
        var registerRetry = Self.firstRegisterRetryNanoseconds
        while events.state == .running {
            let now = QueryClock.monotonicNanoseconds()
            let tickDue = events.due(tick)
            if events.fire(tick, now: now, thenEvery: heartbeat) {
                if let tickDue, now &- tickDue > liveness / 2 {
                    resumedAt = now
                    logPause(now &- lastTurn, registered: registered)
                }
                let lastHeard = state.withLock { $0.lastHeardFromHub }
                if now &- max(lastHeard, resumedAt) > liveness {
                    if !silenceLogged {
                        silenceLogged = true
                        logger.warning(
                            registered
                                ? "the hub stopped answering; registering again as soon as it answers"
                                : "no answer from the hub yet; registering as soon as it answers",
                            metadata: ["hub": "\(hubEndpoint)", "silentFor": "\(Self.silence(now &- lastHeard))"])
                        logIfTheHubsNameDoesNotResolve()
                    }
                    registered = false
                }
                if registered {
                    peer.send(HubMessage(.heartbeat, MemoryStats.current().entries))
                } else if peer.send(HubMessage(.register, registration.entries)) {
                    registerRetry = Self.firstRegisterRetryNanoseconds
                } else if registerRetry < heartbeat {
                    // No connection to the hub is up yet (a REGISTER is dropped, not queued):
                    // try again soon, backing off to the heartbeat, so a process is listed
                    // moments after it starts, not a whole heartbeat later.
                    events.schedule(tick, at: now &+ registerRetry)
                    registerRetry = min(registerRetry * 2, heartbeat)
                }
            }
            let commands: [SpokeControl]
            lastTurn = QueryClock.monotonicNanoseconds()
            do {
                commands = try events.poll(now: QueryClock.monotonicNanoseconds(), atMostMilliseconds: -1)
            } catch {
                logger.error("poll failed", metadata: ["error": "\(error)"])
                return
            }
            for command in commands {
                switch command {
                case .stop(let deregister):
                    if deregister && registered { leave(peer) }
                    return
                case .down(let reason):
                    if registered { leave(peer, reason: reason) }
                    return
                }
            }
            if events.isReadable(socketItem) {
                while let message = peer.receive() {
                    let wasRegistered = registered
                    handle(message, registered: &registered, peer: peer)
                    if registered && !wasRegistered {
                        silenceLogged = false
                        let status = self.status
                        logger.info(
                            status.registrations == 1 ? "registered with the hub" : "registered with the hub again",
                            metadata: ["hub": "\(hubEndpoint)", "id": "\(status.spokeID ?? 0)"])
                    }
                }
            }
        }
    }

    /// How long the hub has been silent, for the log: rounded up to the millisecond, so a
    /// silence past the liveness never reads as the liveness itself.
    static func silence(_ nanoseconds: UInt64) -> Duration {
        .milliseconds(Int64(clamping: nanoseconds / 1_000_000 + (nanoseconds % 1_000_000 == 0 ? 0 : 1)))
    }

    /// Logs that the loop did not run for `gap` nanoseconds, its heartbeat coming more than half
    /// the liveness late: this process was stopped (SIGSTOP, a suspended machine, swapping) or
    /// its loop held up. The hub heard nothing from it meanwhile and may have moved it to `down`;
    /// a heartbeat it no longer knows is answered UNKNOWN, and the agent registers again. The
    /// silence was this process's, not the hub's, so it is not taken for the hub's.
    private func logPause(_ gap: UInt64, registered: Bool) {
        let seconds = String(format: "%.1f", Double(gap) / 1e9)
        var metadata: Logger.Metadata = ["hub": "\(hubEndpoint)"]
        if registered, let id = status.spokeID { metadata["id"] = "\(id)" }
        logger.warning(
            registered
                ? """
                this process was not running for \(seconds) s: it was stopped, or its loop held up, and sent the \
                hub no heartbeat meanwhile; the hub may have moved it to down, and if so it registers again, as a \
                new spoke
                """
                : "this process was not running for \(seconds) s: it was stopped, or its loop held up",
            metadata: metadata)
    }

    private func handle(_ message: HubMessage, registered: inout Bool, peer: HubPeerSocket) {
        let now = QueryClock.monotonicNanoseconds()
        let incarnation = message.integer("incarnation").map { UInt64(bitPattern: $0) }
        switch message.command {
        case .registered:
            registered = true
            state.withLock {
                $0.lastHeardFromHub = now
                $0.spokeID = message.integer("id")
                $0.hubIncarnation = incarnation
                $0.endpoint = message.text("endpoint")
                $0.registrations += 1
            }
        case .heartbeat:
            let known = state.withLock {
                $0.lastHeardFromHub = now
                return $0.hubIncarnation
            }
            if incarnation != known {
                registered = false
                peer.send(HubMessage(.register, registration.entries))
            }
        case .unknown:
            state.withLock { $0.lastHeardFromHub = now }
            registered = false
            peer.send(HubMessage(.register, registration.entries))
        case .error:
            state.withLock { $0.lastHeardFromHub = now }
            logRefusal(message.text("message") ?? "")
        default:
            state.withLock { $0.lastHeardFromHub = now }
        }
    }

    /// Logs the hub's ERROR answer to one of this agent's messages. The hub answers every
    /// heartbeat so while the refusal lasts (a revoked key: for ever), so each text is logged
    /// once, then once a minute with a count of the rest. A revoked key is said in full: what
    /// it means for this process, and what to do.
    private func logRefusal(_ text: String) {
        guard let heldBack = refusalLog.withLock({ $0.admit(text) }) else { return }
        guard text == HubMessage.keyNoLongerAllowed else {
            return logger.warning(
                "\(LogThrottle.line("the hub refused a message", heldBack: heldBack))", metadata: ["message": "\(text)"])
        }
        let role = registration.role
        let effect =
            switch role {
            case SpokeRole.servant: "brokers no longer use this servant"
            case SpokeRole.broker: "servants no longer take this broker's queries"
            default: "the other processes no longer take its messages"
            }
        let who = role == SpokeRole.servant || role == SpokeRole.broker ? role : "process"
        let line =
            "the hub no longer allows this \(who)'s key (revoked with mserve hub revoke, or no longer allowed in its role): "
            + "\(effect); allow its key again (mserve hub allow NAME FILE.pub --role \(role)), or stop this \(who)"
        logger.warning(
            "\(LogThrottle.line(line, heldBack: heldBack))",
            metadata: ["hub": "\(hubEndpoint)", "key": "\(registration.curveKey ?? "")"])
    }

    /// Sends DEREGISTER and waits briefly for the hub's answer so it is not lost on close.
    private func leave(_ peer: HubPeerSocket, reason: String? = nil) {
        peer.send(HubMessage(.deregister, reason.map { [("reason", .string($0))] } ?? []))
        let deadline = QueryClock.monotonicNanoseconds() + 500_000_000
        while QueryClock.monotonicNanoseconds() < deadline {
            if let message = peer.receive(waitingMilliseconds: 50), message.command == .deregistered { return }
        }
    }
}

/// Commands other threads post to a spoke agent's loop.
enum SpokeControl: Sendable {
    case stop(deregister: Bool)
    case down(reason: String)
}

/// A DEALER connected to the hub, owned by one thread.
final class HubPeerSocket {
    /// The longest wait, in milliseconds, between two tries to reach the hub (tries back off
    /// from 100 ms).
    static let longestReconnectMilliseconds: Int32 = 1_000

    let resources: ZMQContextScope
    let socket: ZMQSocket

    /// Connects to the hub; messages sent while no connection is up are dropped, not queued.
    /// With `queueUntilConnected`, a message sent before the connection is up waits for it,
    /// a few at most (``queuedMessagesAtMost``): a watcher's periodic WATCH, say, must not pile
    /// up through a hub outage and reach the hub in one burst.
    init(
        endpoint: String, routingID: [UInt8]? = nil, queueUntilConnected: Bool = false,
        curve: ZMQCurveClientKeys? = nil
    ) throws {
        let resources = try ZMQContextScope()
        socket = try resources.setUp {
            let socket: ZMQSocket
            do {
                socket = try resources.socket(.dealer)
            } catch {
                throw HubError(.socket, "cannot create a hub socket: \(error)")
            }
            do throws(ZMQError) {
                try socket.setLinger(milliseconds: 0)
                try socket.setImmediate(!queueUntilConnected)
                if queueUntilConnected { try socket.setSendHighWaterMark(Self.queuedMessagesAtMost) }
                try socket.setReconnectInterval(milliseconds: 100, max: Self.longestReconnectMilliseconds)
                // After a cut link, a connection in TCP's retransmit back-off (or a connect in
                // its SYN retries) would wait minutes to notice the link is back: data the hub
                // leaves unacknowledged for 5 s (or, idle, keep-alives unanswered) end the
                // connection, and a connect attempt is given up after two seconds, so a new one
                // follows within about a second.
                try socket.setDeadPeerTimeout(probeMilliseconds: 1_000, silenceMilliseconds: 5_000)
                try socket.setConnectTimeout(milliseconds: 2_000)
                if let routingID { try socket.setRoutingId(routingID) }
                if let curve { try socket.setCurveClient(curve) }
                try socket.connect(endpoint)
            } catch {
                throw HubError(.socket, "cannot connect to the hub at \(endpoint): \(error.reason)")
            }
            return socket
        }
        self.resources = resources
    }

    /// The most messages waiting for the connection (or for the hub to read them).
    static let queuedMessagesAtMost: Int32 = 4

    /// Sends a message without blocking; false when it could not be queued.
    @discardableResult
    func send(_ message: HubMessage) -> Bool {
        (try? socket.send(multipart: message.frames, dontWait: true)) ?? false
    }

    /// Receives one well-formed message, waiting up to `waitingMilliseconds` (0: not at all).
    func receive(waitingMilliseconds: Int = 0) -> HubMessage? {
        if waitingMilliseconds > 0 {
            var poller = ZMQPoller()
            let index = poller.add(socket)
            _ = try? poller.poll(timeoutMilliseconds: waitingMilliseconds)
            guard poller.returnedEvents(at: index).contains(.readable) else { return nil }
        }
        while true {
            guard let frames = try? socket.receiveMultipartBytes(dontWait: true) else { return nil }
            if let message = try? HubMessage(frames: frames) { return message }
        }
    }

    /// Closes the socket and terminates the context.
    func close() {
        resources.close()
    }
}
