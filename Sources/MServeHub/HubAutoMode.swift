import Foundation
public import Logging
import MServeProtocol
public import ServiceLifecycle
import Synchronization

/// Auto mode (`--hub auto`): the process tries to bind the hub endpoint; if it wins it serves the
/// hub in-process (reloading the tables from the hub directory), otherwise it is a spoke of the
/// hub there. When that hub stops answering, every auto-mode process waits a random moment and
/// races to bind the port; the winner serves, the others carry on as its spokes. Either way the
/// process registers itself as a spoke.
public final class HubAutoMode: Service, Sendable {
    private let configuration: HubConfiguration
    private let logger: Logger
    private let agent: SpokeAgent
    private let stopped = Atomic<Bool>(false)
    private let currentHub = Mutex<Hub?>(nil)
    private let servedHubs = Atomic<Int>(0)
    private let onServing: @Sendable (String) -> Void

    /// Creates an auto-mode member that registers `registration` with whichever process serves.
    /// `onServing` is given the endpoint the hub bound (with the real port) each time this
    /// process wins the hub port and starts serving.
    public init(
        configuration: HubConfiguration,
        registration: SpokeRegistration,
        logger: Logger = Logger(label: "mserve.hub-auto"),
        onServing: @escaping @Sendable (_ endpoint: String) -> Void = { _ in }
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.onServing = onServing
        self.agent = try SpokeAgent(
            hub: Self.connectableEndpoint(configuration.endpoint), registration: registration,
            heartbeatInterval: configuration.heartbeatInterval, livenessTimeout: configuration.livenessTimeout,
            logger: logger)
    }

    /// The endpoint to connect to for a bind endpoint (`*` and `0.0.0.0` become `127.0.0.1`).
    public static func connectableEndpoint(_ endpoint: String) -> String {
        endpoint.replacingOccurrences(of: "://*:", with: "://127.0.0.1:")
            .replacingOccurrences(of: "://0.0.0.0:", with: "://127.0.0.1:")
            .replacingOccurrences(of: "://[::]:", with: "://[::1]:")
    }

    /// True while this process serves the hub: it has bound the hub endpoint (a try that finds
    /// the port taken never counts).
    public var isServingHub: Bool { currentHub.withLock { $0?.isBound ?? false } }

    /// The hub this process serves now (it has bound the hub endpoint); nil while it is a spoke
    /// of another process's hub. Each term it wins is a new ``Hub``.
    public var servingHub: Hub? { currentHub.withLock { hub in hub.flatMap { $0.isBound ? $0 : nil } } }

    /// How many times this process has won the hub port.
    public var hubTerms: Int { servedHubs.load(ordering: .relaxed) }

    /// This process's spoke agent (its registration status).
    public var spoke: SpokeAgent { agent }

    /// Runs until graceful shutdown, cancellation or ``stop()``: deregisters, then stops serving.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                async let election: Void = elect()
                do {
                    try await agent.run()
                } catch {
                    stop()
                    currentHub.withLock { $0?.stop() }
                    try? await election
                    throw error
                }
                stopped.store(true, ordering: .sequentiallyConsistent)
                currentHub.withLock { $0?.stop() }
                try await election
            } onCancel: {
                self.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Stops: the spoke deregisters (through the hub if this process serves it), then the hub stops.
    public func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        agent.stop(deregister: true)
    }

    private var isStopped: Bool { stopped.load(ordering: .sequentiallyConsistent) }

    private func elect() async throws {
        var lastFailure = ""
        var saidHubIsElsewhere = false
        while !isStopped {
            let hub = try Hub(configuration: configuration, logger: logger)
            currentHub.withLock { $0 = hub }
            if isStopped { hub.stop() }
            // Told once the port is won; a try that finds it taken never reports a bound hub.
            let serving = Task { [onServing] in
                if let bound = try? await hub.endpoint { onServing(bound) }
            }
            defer { serving.cancel() }
            do {
                servedHubs.add(1, ordering: .relaxed)
                // Not stopped by the graceful shutdown itself: this process's own DEREGISTER
                // must reach it first (`run()` stops it once the agent has left).
                try await hub.run(stoppingOnGracefulShutdown: false)
                currentHub.withLock { $0 = nil }
                logger.info("stopped serving the hub")
            } catch let error as HubError where error.code == .addressInUse {
                servedHubs.subtract(1, ordering: .relaxed)
                currentHub.withLock { $0 = nil }
                try await followUntilHubSilent()
            } catch let error as HubError where error.code == .addressNotOnThisHost {
                // The hub's host is another one: this process is its spoke, and can never
                // stand in for it. Said once; the port is tried again only when the hub goes
                // silent, as by every other spoke.
                servedHubs.subtract(1, ordering: .relaxed)
                currentHub.withLock { $0 = nil }
                if !saidHubIsElsewhere {
                    saidHubIsElsewhere = true
                    logger.notice(
                        "the hub endpoint is on another host: this process follows the hub there and cannot stand in for it",
                        metadata: ["hub": "\(configuration.endpoint)"])
                }
                // No race to join here: while the hub there is silent, its address is looked
                // for again only every few seconds, quietly (it may move to this host).
                try await followUntilHubSilent(racing: false)
                for _ in 0..<25 where !isStopped { try await Task.sleep(for: .milliseconds(200)) }
            } catch {
                // The port was won but the hub could not serve (its directory held by a hub on
                // another port, a database error): said once, tried again each second, this
                // process a spoke meanwhile, so failover is not lost for good.
                servedHubs.subtract(1, ordering: .relaxed)
                currentHub.withLock { $0 = nil }
                let reason = "\(error)"
                if reason != lastFailure {
                    lastFailure = reason
                    logger.error("cannot serve the hub; trying again every second: \(reason)")
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Waits while another process serves the hub and answers; then, `racing`, a random moment
    /// (up to one heartbeat interval), so the racers do not all try the port at once.
    private func followUntilHubSilent(racing: Bool = true) async throws {
        let pause = max(configuration.heartbeatInterval / 4, .milliseconds(20))
        // Give the agent a first chance to hear from the hub.
        try await Task.sleep(for: pause)
        while !isStopped && agent.isHubAnswering {
            try await Task.sleep(for: pause)
        }
        guard !isStopped, racing else { return }
        let jitter = Double.random(in: 0...1) * Double(configuration.heartbeatInterval.nanoseconds)
        logger.info("the hub stopped answering; racing for its port")
        try await Task.sleep(for: .nanoseconds(Int64(jitter)))
    }
}
