// MServeHub owns port discovery: the hub (registration, liveness, the spoke/memst/down tables
// in SQLite, name resolution and watches), the spoke agent every MServe process runs, one-off
// hub requests, service watchers, and auto mode (the process that grabs the hub port serves it).

import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization
import ZeroMQ

/// The hub as a `Service`: binds a ROUTER on the hub endpoint, keeps `spoke`, `memst` and `down`
/// in SQLite in the hub directory, moves silent spokes to `down`, and answers RESOLVE, WATCH and
/// TABLE requests.
///
/// ```swift
/// let hub = try Hub(configuration: HubConfiguration(directory: "/var/lib/mserve/hub"))
/// let group = ServiceGroup(services: [hub], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public final class Hub: Service, Sendable {
    private let configuration: HubConfiguration
    private let logger: Logger
    /// Commands to the hub's loop, run on its thread (internal: tests hold the loop with one).
    let mailbox: ZMQMailbox<HubControl>
    private let startup = ZMQStartup<String>()

    /// Creates a hub; nothing is bound until ``run()``. What it counts (``HubMetrics``) comes
    /// with each ``snapshot()``.
    public init(configuration: HubConfiguration, logger: Logger = Logger(label: "mserve.hub")) throws {
        self.configuration = configuration
        self.logger = logger
        self.mailbox = try ZMQMailbox()
    }

    /// Runs the hub until graceful shutdown, cancellation or ``stop()``. Throws a ``HubError``
    /// with code ``HubError/Code/addressInUse`` when another process holds the hub endpoint.
    public func run() async throws {
        try await run(stoppingOnGracefulShutdown: true)
    }

    /// Runs the hub; with `stoppingOnGracefulShutdown` false it stops only on ``stop()`` or
    /// cancellation, for an owner that must do something through the hub first (auto mode
    /// deregisters its own spoke, then stops the hub).
    func run(stoppingOnGracefulShutdown: Bool) async throws {
        let mailbox = mailbox
        try await ZMQLoopThread.runService(
            named: "mserve-hub", stoppingOnGracefulShutdown: stoppingOnGracefulShutdown, stop: { mailbox.post(.stop) }
        ) { [self] in
            let loop = try startup.report(\.endpoint) {
                do {
                    return try HubLoop(configuration: configuration, logger: logger, mailbox: mailbox)
                } catch {
                    // A hub that never started holds nothing, and must not leave askers waiting.
                    for case .snapshot(let reply) in mailbox.closeIntake() { reply(.stopped) }
                    throw error as? HubError ?? HubError(.socket, "the hub could not start: \(error)")
                }
            }
            loop.run()
        }
    }

    /// The endpoint the hub bound (with the real port), once bound. Throws the start-up error.
    public var endpoint: String {
        get async throws { try await startup.value }
    }

    /// True once the hub has bound its endpoint (and, after a failed start, never).
    public var isBound: Bool {
        if case .success = startup.result { true } else { false }
    }

    /// The hub's current state: its spokes and newest crash reports (``HubSnapshot/stopped``
    /// once it has stopped, or when it failed to start; a hub not yet running answers when it runs).
    public func snapshot() async -> HubSnapshot {
        await withCheckedContinuation { continuation in
            if !mailbox.post(.snapshot({ continuation.resume(returning: $0) })) {
                continuation.resume(returning: .stopped)
            }
        }
    }

    /// Asks the hub to stop (as on SIGTERM). The tables stay on disk for the next hub.
    public func stop() {
        mailbox.post(.stop)
    }

    /// The live servants (or, with `role`, brokers) of `service`, asked of the hub at `hub`
    /// (`Hub.resolve("dev")`, the seed's `HOP "dev"`).
    public static func resolve(
        _ service: String, role: String = SpokeRole.servant, hub: String = HubLink.defaultEndpoint,
        timeout: Duration = .seconds(3)
    ) async throws -> [ServiceEndpoint] {
        try await HubClient(endpoint: hub, timeout: timeout).resolve(service, role: role)
    }
}

/// Commands other threads post to the hub's loop.
enum HubControl: Sendable {
    case stop
    case snapshot(@Sendable (HubSnapshot) -> Void)
}
