import Foundation
public import Logging
public import MServePlugin
import MServeProtocol
import MServeQuery
import ProcessMemory
public import ServiceLifecycle
import Synchronization
import ZeroMQ

/// The MServe broker as a `Service`: run it in a `ServiceGroup` and it stops cleanly on
/// SIGTERM/SIGINT, answering what it holds before it goes.
///
/// ```swift
/// let broker = try Broker(configuration: config, logger: logger, plugins: registry)
/// let group = ServiceGroup(services: [broker], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
public final class Broker: Service, Sendable {
    /// Makes the dispatch algorithm (and the routing plugin) by name; called on the loop thread.
    public typealias AlgorithmFactory = @Sendable (String) throws -> any DispatchAlgorithm

    private let configuration: BrokerConfiguration
    private let logger: Logger
    private let makeAlgorithm: AlgorithmFactory
    /// Commands for the loop (internal, so that tests can run a step on the loop's thread).
    let mailbox: ZMQMailbox<BrokerControl>
    private let startup = ZMQStartup<String>()
    /// What the broker held when it stopped (nil while it runs, or when it never started).
    private let stoppedSnapshot = Mutex<BrokerSnapshot?>(nil)

    /// Creates a broker that makes its algorithms with `algorithms`.
    public init(
        configuration: BrokerConfiguration,
        logger: Logger = Logger(label: "mserve.broker"),
        algorithms: @escaping AlgorithmFactory
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.makeAlgorithm = algorithms
        self.mailbox = try ZMQMailbox()
        // Large messages pass through: their memory goes back to the system when freed.
        ProcessMemory.returnLargeBlocksWhenFreed()
    }

    /// Creates a broker whose algorithms come from loaded dispatch plugins.
    public convenience init(
        configuration: BrokerConfiguration,
        logger: Logger = Logger(label: "mserve.broker"),
        plugins: DispatchPluginRegistry
    ) throws {
        // A C plugin's wrong answers (a busy or unknown servant, an absurd routing length) are
        // logged, at most once a second: a broken plugin may give one for every query.
        let throttle = Mutex(LogThrottle())
        let report: @Sendable (String) -> Void = { message in
            guard let heldBack = throttle.withLock({ $0.admit() }) else { return }
            logger.warning("\(LogThrottle.line("dispatch plugin misbehaved: \(message)", heldBack: heldBack))")
        }
        try self.init(configuration: configuration, logger: logger) { spec in
            try plugins.makeAlgorithm(spec, onInvalidChoice: report)
        }
    }

    /// Runs the broker until graceful shutdown or cancellation.
    public func run() async throws {
        let mailbox = mailbox
        try await ZMQLoopThread.runService(named: "mserve-broker", stop: { mailbox.post(.stop) }) { [self] in
            let loop: BrokerLoop
            do {
                loop = try startup.report(\.clientEndpoint) {
                    let algorithm = try makeAlgorithm(configuration.dispatch.algorithm)
                    let routingHook = try configuration.dispatch.routing.pluginName.map {
                        try makeAlgorithm($0)
                    }
                    return try BrokerLoop(
                        configuration: configuration, logger: logger, mailbox: mailbox,
                        algorithm: algorithm, routingHook: routingHook)
                }
            } catch {
                // A broker that never started holds nothing, and must not leave askers waiting.
                for command in mailbox.closeIntake() { command.answerUnrun(with: .empty) }
                throw error
            }
            loop.run { final in self.stoppedSnapshot.withLock { $0 = final } }
        }
    }

    /// The endpoint clients connect to, once the broker has bound it (the real port when
    /// the configuration asked for port 0). Throws the start-up error if binding failed.
    public var clientEndpoint: String {
        get async throws { try await startup.value }
    }

    /// Starts using the servant at `endpoint` (`tcp://host:port`). Safe from any thread.
    public func addServant(endpoint: String) {
        mailbox.post(.addServant(endpoint: endpoint, serverKey: nil))
    }

    /// Starts using the servant at `endpoint` whose CURVE public key is `serverKey` (nil when it
    /// registered none). With security on, the broker connects to it as a CURVE client pinned
    /// to that key, and only when the key is in the allowed list; without, the key is ignored.
    public func addServant(endpoint: String, serverKey: String?) {
        mailbox.post(.addServant(endpoint: endpoint, serverKey: serverKey))
    }

    /// Stops using the servant at `endpoint` at once; its in-flight queries are re-dispatched
    /// (a servant no longer trusted: its key revoked).
    public func removeServant(endpoint: String) {
        mailbox.post(.removeServant(endpoint: endpoint))
    }

    /// The hub no longer lists the servant at `endpoint` (its LEAVE, or a listing without it).
    /// The hub judges by heartbeats to itself, which a cut between it and the servant stops
    /// while the servant still answers this broker: a servant in session with the broker (its
    /// READY taken, and not lost since) is kept, in dispatch, until its own link to the broker
    /// ends it (it misses its heartbeats, its connection ends, it restarts, or it drains and
    /// says goodbye), and then removed, not connected to again; listed again meanwhile
    /// (``addServant(endpoint:serverKey:)`` with the same key), it is kept as it is. A servant
    /// not in session, or a q servant, is dropped at once. None is logged as lost for it.
    public func servantLeft(endpoint: String) {
        mailbox.post(.servantLeft(endpoint: endpoint))
    }

    /// The broker's current state (``BrokerSnapshot/stopping`` while it drains). Once it has
    /// stopped, what it held and counted when it stopped, still ``BrokerSnapshot/stopping``
    /// (so that a last scrape sees the queries its stop ended); empty when it failed to
    /// start. A broker not yet running answers when it runs.
    public func snapshot() async -> BrokerSnapshot {
        await withCheckedContinuation { continuation in
            let posted = mailbox.post(.snapshot({ continuation.resume(returning: $0) }))
            if !posted { continuation.resume(returning: stoppedSnapshot.withLock { $0 } ?? .empty) }
        }
    }

    /// Runs `body` on the loop's thread between two of its turns and returns once it has run:
    /// true, or false when the loop stopped first. For tests that must put the loop in a state
    /// no timing can be relied on to reach.
    @discardableResult
    func onLoop(_ body: @escaping @Sendable (BrokerLoop) -> Void) async -> Bool {
        await withCheckedContinuation { continuation in
            let posted = mailbox.post(
                .onLoop(
                    body: { loop in
                        body(loop)
                        continuation.resume(returning: true)
                    },
                    dropped: { continuation.resume(returning: false) }))
            if !posted { continuation.resume(returning: false) }
        }
    }

    /// Asks the broker to stop (as on SIGTERM).
    public func stop() {
        mailbox.post(.stop)
    }
}
