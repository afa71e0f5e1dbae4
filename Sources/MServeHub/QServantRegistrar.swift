import Foundation
public import Logging
import POSIXSockets
public import ServiceLifecycle
import ZeroMQ

/// Registers a q process — a servant reached as `kdb://host:port`, which cannot speak the hub
/// protocol itself — with the hub, and keeps the registration true: every probe interval it
/// opens (and closes) a TCP connection to the q process; while that works a ``SpokeAgent``
/// holds the registration, and when it fails the spoke goes to `down` with the reason at once
/// (brokers drop the servant), to be registered again when the q process is back. A clean
/// stop deregisters. Run it in a `ServiceGroup`, as `mserve hub register` does.
public final class QServantRegistrar: Service, Sendable {
    /// The q process's host, as given.
    public let host: String
    /// The q process's port.
    public let port: Int
    private let hubEndpoint: String
    private let service: String
    private let name: String?
    private let probeInterval: Duration
    private let heartbeatInterval: Duration
    private let livenessTimeout: Duration
    private let logger: Logger

    /// Watches the q process at `host`:`port` and registers it with the hub at `hub` as a
    /// servant of `service`; `name` (default: this process's command line) is what the hub's
    /// tables show as its command line `X`. The q process is checked every `probeInterval`
    /// (default: `heartbeatInterval`); the hub hears from the registration every
    /// `heartbeatInterval`, which must stay under the hub's liveness timeout.
    public init(
        host: String, port: Int, service: String, name: String? = nil, hub: String = HubLink.defaultEndpoint,
        probeInterval: Duration? = nil, heartbeatInterval: Duration = .seconds(1), livenessTimeout: Duration = .seconds(3),
        logger: Logger = Logger(label: "mserve.register")
    ) {
        self.host = host
        self.port = port
        self.service = service
        self.name = name
        self.hubEndpoint = hub
        self.probeInterval = probeInterval ?? heartbeatInterval
        self.heartbeatInterval = heartbeatInterval
        self.livenessTimeout = livenessTimeout
        var logger = logger
        logger[metadataKey: "servant"] = "kdb://\(host):\(port)"
        self.logger = logger
    }

    /// Parses `kdb://HOST:PORT` (an IPv6 host in brackets) into host and port.
    public static func parse(endpoint: String) throws(HubError) -> (host: String, port: Int) {
        guard endpoint.lowercased().hasPrefix("kdb://") else {
            throw HubError(.refused, "a q servant's endpoint is kdb://HOST:PORT, not \(endpoint)")
        }
        guard let parsed = ZMQEndpoint(endpoint), let port = parsed.port(), let host = parsed.unbracketedHost else {
            throw HubError(.refused, "a q servant's endpoint is kdb://HOST:PORT with a port from 1 to 65535, not \(endpoint)")
        }
        guard !host.isEmpty else { throw HubError(.refused, "a q servant's endpoint needs a host: \(endpoint)") }
        guard !(parsed.host ?? "").hasPrefix("["), !host.contains(":") else {
            throw HubError(.refused, "a q servant is reached over IPv4: kdb://HOST:PORT with a host name or an IPv4 address, not \(endpoint)")
        }
        return (host, port)
    }

    /// The registration of the q process: the hub stores `kdb://IP:port`, where IP is `host`
    /// unless that is a loopback name, in which case it is the address the hub sees this
    /// process connect from (as for any spoke).
    public var registration: SpokeRegistration {
        let loopback = host == "localhost" || host.hasPrefix("127.") || host == "::1"
        var registration = SpokeRegistration.current(
            port: Int32(port), threads: 1, service: service, role: SpokeRole.servant,
            endpoint: "kdb://\(host.contains(":") ? "[\(host)]" : host):\(port)",
            advertisedHost: loopback ? nil : host)
        if let name { registration.commandLine = name }
        return registration
    }

    /// Runs until graceful shutdown or cancellation; then deregisters.
    public func run() async throws {
        var current: (agent: SpokeAgent, task: Task<Void, any Error>)?
        var reportedDown = false
        let probeTimeout = max(100, Int(probeInterval.milliseconds) / 2)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let up = await Self.probe(host: host, port: port, timeoutMilliseconds: probeTimeout)
            if up, current == nil {
                let agent = try SpokeAgent(
                    hub: hubEndpoint, registration: registration, heartbeatInterval: heartbeatInterval,
                    livenessTimeout: livenessTimeout, logger: logger)
                current = (agent, Task { try await agent.run() })
                reportedDown = false
                logger.notice("q servant accepts connections; registering it with the hub", metadata: ["hub": "\(hubEndpoint)"])
            } else if !up, let (agent, task) = current {
                agent.stop(downReason: "the q process at \(host):\(port) does not accept connections")
                _ = try? await task.value
                current = nil
                reportedDown = true
                logger.warning("q servant does not accept connections; reported down to the hub")
            } else if !up, !reportedDown {
                reportedDown = true
                logger.warning("q servant does not accept connections; waiting for it")
            }
            let interval = probeInterval
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
        if let (agent, task) = current {
            agent.stop(deregister: true)
            _ = try? await task.value
        }
    }

    /// ``TCPProbe/canConnect(host:port:timeoutMilliseconds:)`` on its own thread, so that no
    /// concurrency thread waits on the network.
    static func probe(host: String, port: Int, timeoutMilliseconds: Int) async -> Bool {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(
                    returning: TCPProbe.canConnect(host: host, port: port, timeoutMilliseconds: timeoutMilliseconds))
            }
            thread.name = "mserve-probe"
            thread.start()
        }
    }
}
