import ArgumentParser
import Foundation
import MServeHub
import ServiceLifecycle

/// `mserve hub register kdb://HOST:PORT`: a sidecar that registers a q servant with the hub.
struct HubRegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register a q servant (kdb://HOST:PORT) with the hub while it accepts connections.",
        discussion: """
            A q process cannot speak the hub protocol, so this sidecar speaks for it: every \
            --heartbeat seconds it opens (and closes) a TCP connection to HOST:PORT, and it \
            heartbeats the hub every second (more often with a shorter --heartbeat), so that no \
            --heartbeat makes the hub take the q process for down. While that works, \
            the q process is a servant of --service, stored by the hub as kdb://IP:PORT (IP is \
            HOST, or the address the hub sees this sidecar come from when HOST is loopback), \
            so brokers following the service dispatch to it. When the connection fails the \
            servant goes to the hub's down table at once, with the reason, and brokers drop \
            it; it is registered again when the q process is back. Prints the endpoint on the \
            first line of standard output. SIGTERM or SIGINT deregisters it and exits.

            Environment (flags win): MSERVE_HUB, MSERVE_LOG_LEVEL, \
            MSERVE_STOP_WITH_PARENT (its parent's process id: stop once that process is gone).
            """)

    @Argument(help: "The q process, kdb://HOST:PORT.") var endpoint: String

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The service the q process serves.", valueName: "name"))
    var service: String = "default"

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("How the hub's tables show the q process (column X; default this command line).", valueName: "name"))
    var name: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Hub endpoint (env MSERVE_HUB, default \(HubLink.defaultEndpoint)).", valueName: "endpoint"))
    var hub: String?

    // `parsing: .unconditional`: `--heartbeat -1` is read as a value, and refused by its check.
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds between checks of the q process (the hub hears from this sidecar at least every second).", valueName: "seconds"))
    var heartbeat: String = "1"

    @OptionGroup var logging: LoggingOptions

    /// The longest time between two heartbeats to the hub: the spokes' pace, which the hub's
    /// liveness (at least 2 s) allows for.
    static let longestHubHeartbeat: Duration = .seconds(1)

    /// Refuses a bad q endpoint, --heartbeat or hub endpoint before anything starts.
    func validate() throws {
        try checkServiceName(service)
        _ = try qAddress()
        _ = try seconds(heartbeat, flag: "--heartbeat")
        if let hub, !isHubEndpoint(hub) {
            throw ValidationError("--hub '\(hub)' is not a hub endpoint, such as \(HubLink.defaultEndpoint)")
        }
        if hub == nil, let value = HubEnvironment.setting, value != "auto", value != "none", !isHubEndpoint(value) {
            throw ValidationError("MSERVE_HUB '\(value)' is not a hub endpoint, such as \(HubLink.defaultEndpoint)")
        }
    }

    /// The q process's host and port, from `kdb://HOST:PORT`.
    private func qAddress() throws -> (host: String, port: Int) {
        do {
            return try QServantRegistrar.parse(endpoint: endpoint)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() async throws {
        let address = try qAddress()
        let probeInterval = try seconds(heartbeat, flag: "--heartbeat")
        let hubHeartbeat = min(probeInterval, Self.longestHubHeartbeat)
        let logger = logging.bootstrap(label: "mserve.register")
        let registrar = QServantRegistrar(
            host: address.host, port: address.port, service: service, name: name,
            hub: HubAutoMode.connectableEndpoint(hub ?? HubEnvironment.endpoint), probeInterval: probeInterval,
            heartbeatInterval: hubHeartbeat, livenessTimeout: hubHeartbeat * 3, logger: logger)
        announce(endpoint)
        let group = ServiceGroup(services: [registrar], logger: logger)
        StopSignals.onStop { await group.triggerGracefulShutdown() }
        try await group.run()
    }
}
