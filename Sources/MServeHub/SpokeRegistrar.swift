public import Logging
public import ServiceLifecycle
public import ZeroMQ

extension SpokeRegistration {
    /// This process's registration as a spoke bound at `endpoint` (as bound,
    /// `tcp://HOST:PORT`): the port from it, and the bound host advertised, so that it is
    /// registered under an address it listens on, unless the endpoint binds every interface
    /// (`*`, `0.0.0.0`, `[::]`), when the hub uses the address the connection comes from.
    public static func current(
        boundAt endpoint: String, threads: Int32 = 1, service: String, role: String
    ) -> SpokeRegistration {
        let parsed = ZMQEndpoint(endpoint)
        let port = parsed?.portText.flatMap { Int32($0) } ?? 0
        let host = parsed?.unbracketedHost.flatMap { $0.isEmpty ? nil : $0 }
        let advertised = parsed.map { $0.scheme == "tcp" && !$0.bindsEveryInterface } == true ? host : nil
        return current(port: port, threads: threads, service: service, role: role, endpoint: endpoint, advertisedHost: advertised)
    }
}

/// Registers a process with the hub once it has bound its endpoint, and keeps it registered: a
/// ``SpokeAgent`` made when `endpoint` answers (the bound endpoint is known only then, a port
/// the system chose included). For a servant written as a program:
///
/// ```swift
/// let servant = try Servant(functions: functions, logger: logger)
/// let registrar = SpokeRegistrar(hub: "tcp://hub-host:5560", service: "vwap", role: SpokeRole.servant, logger: logger) {
///     try await servant.endpoint
/// }
/// // The servant last: a ServiceGroup stops it first, so it finishes its queries still registered.
/// try await ServiceGroup(services: [registrar, servant], gracefulShutdownSignals: [.sigterm], logger: logger).run()
/// ```
public struct SpokeRegistrar: Service {
    private let hub: String
    private let service: String
    private let role: String
    private let threads: Int32
    private let curve: ZMQCurveClientKeys?
    private let logger: Logger
    private let endpoint: @Sendable () async throws -> String

    /// Registers, as `role` of `service` with the hub at `hub`, the endpoint `endpoint` gives
    /// once it is bound (``SpokeRegistration/current(boundAt:threads:service:role:)``). With
    /// security on, `curve` holds the hub's public key and this process's key pair, the one it
    /// serves with: its public key is registered, for brokers to pin.
    public init(
        hub: String = HubLink.defaultEndpoint, service: String, role: String, threads: Int32 = 1,
        curve: ZMQCurveClientKeys? = nil, logger: Logger = Logger(label: "mserve.spoke"),
        endpoint: @escaping @Sendable () async throws -> String
    ) {
        self.hub = hub
        self.service = service
        self.role = role
        self.threads = threads
        self.curve = curve
        self.logger = logger
        self.endpoint = endpoint
    }

    /// Waits for the endpoint, then registers and heartbeats until graceful shutdown (when it
    /// deregisters) or cancellation; returns at once if cancelled while waiting.
    public func run() async throws {
        let bound: String
        do {
            bound = try await endpoint()
        } catch is CancellationError {
            return
        }
        var registration = SpokeRegistration.current(boundAt: bound, threads: threads, service: service, role: role)
        registration.curveKey = curve?.keyPair.publicKey
        try await SpokeAgent(hub: hub, registration: registration, curve: curve, logger: logger).run()
    }
}
