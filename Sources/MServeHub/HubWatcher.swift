import Foundation
public import Logging
import MServeProtocol
import QData
public import ServiceLifecycle
import Synchronization
public import ZeroMQ

/// Follows the servants of one service through the hub and calls ``onJoin`` / ``onLeave`` as
/// they come and go (within a second of the hub noticing). A broker wires these to
/// `addServant` / `removeServant`. When the hub is away, the known servants are kept.
public final class HubWatcher: Service, Sendable {
    /// Called with a servant that joined; runs on the watcher's thread.
    public typealias Handler = @Sendable (ServiceEndpoint) -> Void

    private let service: String
    private let hubEndpoint: String
    private let refreshInterval: Duration
    private let logger: Logger
    private let onJoin: Handler
    private let onLeave: Handler
    private let mailbox: ZMQMailbox<HubWatcherControl>
    private let known = Mutex<[String: ServiceEndpoint]>([:])
    private let curve: ZMQCurveClientKeys?

    /// Creates a watcher of `service` at the hub `hub`. The watcher repeats WATCH every
    /// `refreshInterval`; each answer is a full snapshot, so a missed JOIN or LEAVE heals.
    /// `curve` holds the hub's public key and this process's key pair when the hub runs with
    /// security on.
    public init(
        service: String,
        hub: String = HubLink.defaultEndpoint,
        refreshInterval: Duration = .seconds(1),
        logger: Logger = Logger(label: "mserve.hub-watcher"),
        curve: ZMQCurveClientKeys? = nil,
        onJoin: @escaping Handler,
        onLeave: @escaping Handler
    ) throws {
        self.service = service
        self.hubEndpoint = hub
        self.refreshInterval = refreshInterval
        self.logger = logger
        self.onJoin = onJoin
        self.onLeave = onLeave
        self.curve = curve
        self.mailbox = try ZMQMailbox()
    }

    /// The servants of the service as last reported, by endpoint.
    public var endpoints: [ServiceEndpoint] {
        known.withLock { Array($0.values) }.sorted { $0.spokeID < $1.spokeID }
    }

    /// Runs until graceful shutdown, cancellation or ``stop()``.
    public func run() async throws {
        let mailbox = mailbox
        try await ZMQLoopThread.runService(named: "mserve-hub-watcher", stop: { mailbox.post(.stop) }) { [self] in
            // The first WATCH waits for the connection, so a new broker learns its servants at once.
            let peer = try HubPeerSocket(endpoint: hubEndpoint, queueUntilConnected: true, curve: curve)
            runLoop(peer)
            peer.close()
        }
    }

    /// Stops following the service.
    public func stop() {
        mailbox.post(.stop)
    }

    private func runLoop(_ peer: HubPeerSocket) {
        let watch = HubMessage(.watch, [("service", .atom(.symbol(service)))])
        let events = ZMQEventLoop(mailbox: mailbox)
        let socketItem = events.add(peer.socket)
        let tick = events.addTimer(dueAt: 0)
        while true {
            let now = QueryClock.monotonicNanoseconds()
            if events.fire(tick, now: now, thenEvery: refreshInterval.nanoseconds) { peer.send(watch) }
            let commands: [HubWatcherControl]
            do {
                commands = try events.poll(now: QueryClock.monotonicNanoseconds(), atMostMilliseconds: -1)
            } catch {
                logger.error("poll failed", metadata: ["error": "\(error)"])
                return
            }
            // A stop is the only command.
            if !commands.isEmpty { return }
            if events.isReadable(socketItem) {
                while let message = peer.receive() { handle(message) }
            }
        }
    }

    private func handle(_ message: HubMessage) {
        switch message.command {
        case .snapshot:
            guard message.text("service") == service, let current = try? ServiceEndpoint.list(from: message) else { return }
            let byEndpoint = Dictionary(current.map { ($0.endpoint, $0) }, uniquingKeysWith: { _, last in last })
            let (joined, left) = known.withLock { known in
                // A known endpoint now served with another key leaves and joins again, so that
                // its users take the new key; under another spoke with the same key (the hub's
                // successor of a restarted servant) it only changes hands.
                let joined = byEndpoint.values.sorted { $0.spokeID < $1.spokeID }.filter { new in
                    known[new.endpoint].map { old in Self.isReplaced(old, by: new) } ?? true
                }
                let left = known.values.filter { old in byEndpoint[old.endpoint].map { new in Self.isReplaced(old, by: new) } ?? true }
                known = byEndpoint
                return (joined, left)
            }
            for endpoint in left { leave(endpoint) }
            for endpoint in joined { join(endpoint) }
        case .join:
            guard message.text("service") == service, let endpoint = ServiceEndpoint(message: message) else { return }
            let replaced = known.withLock { known -> (isNew: Bool, old: ServiceEndpoint?) in
                defer { known[endpoint.endpoint] = endpoint }
                guard let old = known[endpoint.endpoint] else { return (true, nil) }
                return Self.isReplaced(old, by: endpoint) ? (true, old) : (false, nil)
            }
            if let old = replaced.old { leave(old) }
            if replaced.isNew { join(endpoint) }
        case .leave:
            guard message.text("service") == service, let endpoint = ServiceEndpoint(message: message) else { return }
            // Only the spoke that left: a servant restarted on the same endpoint registers as a
            // new spoke, and the old one's LEAVE (at its liveness timeout) may come after the
            // new one's JOIN.
            let removed = known.withLock { known -> ServiceEndpoint? in
                guard let current = known[endpoint.endpoint], !Self.isAnotherSpoke(current, endpoint) else { return nil }
                return known.removeValue(forKey: endpoint.endpoint)
            }
            if let removed { leave(removed) }
        default:
            break
        }
    }

    /// Whether `new`, at a known endpoint, serves with another key than `old` there: its users
    /// must connect anew. Another spoke with the same key (a restarted servant's, which the hub
    /// names once the old one is gone) is the same servant to them, and the endpoint stays.
    static func isReplaced(_ old: ServiceEndpoint, by new: ServiceEndpoint) -> Bool {
        old.curveKey != new.curveKey
    }

    /// Whether two records of one endpoint are of different spokes (an id of 0 is unknown).
    static func isAnotherSpoke(_ one: ServiceEndpoint, _ other: ServiceEndpoint) -> Bool {
        one.spokeID != other.spokeID && one.spokeID != 0 && other.spokeID != 0
    }

    private func join(_ endpoint: ServiceEndpoint) {
        logger.info("the hub lists a servant", metadata: ["service": "\(service)", "endpoint": "\(endpoint.endpoint)"])
        onJoin(endpoint)
    }

    private func leave(_ endpoint: ServiceEndpoint) {
        logger.info("the hub no longer lists a servant", metadata: ["service": "\(service)", "endpoint": "\(endpoint.endpoint)"])
        onLeave(endpoint)
    }
}

/// Commands other threads post to a watcher's loop.
enum HubWatcherControl: Sendable {
    case stop
}
