// A fixed port in the kernel's ephemeral port range (docs/OPERATIONS.md, "Processes and
// ports"): while nothing listens on it, the kernel may give it to an outgoing connection as its
// local port; on this host even to a client reconnecting to that very port, which then ends up
// connected to itself (a TCP simultaneous open) and holds the port. Said once at start, with
// the fix.

import Logging
import MServeHub
import POSIXSockets
import ZeroMQ

/// A port given to a process (a flag, a variable or a default) that it listens on, or
/// connects to on this host.
struct FixedPort: Sendable, Equatable {
    /// What it is and where it was given, as the warning begins:
    /// `the hub endpoint tcp://127.0.0.1:43600 (--bind)`.
    var what: String
    /// The port.
    var port: Int
    /// Whether this process listens on it; else it connects to it, on this host.
    var listens: Bool

    /// The port of `endpoint` (`tcp://HOST:PORT`), which this process binds; nil for port 0
    /// (any free one: the kernel picks it from the range itself), `*`, or another scheme.
    static func bound(_ endpoint: String, _ name: String, source: String) -> FixedPort? {
        guard let parsed = ZMQEndpoint(endpoint), parsed.scheme == "tcp", let port = parsed.port() else { return nil }
        return FixedPort(what: "\(name) \(endpoint) (\(source))", port: port, listens: true)
    }

    /// A port this process listens on given as `host:port` (`--kdb-port`, `--http`); nil for 0.
    static func bound(host: String, port: Int, _ name: String, source: String) -> FixedPort? {
        guard (1...65_535).contains(port) else { return nil }
        return FixedPort(what: "\(name) \(host):\(port) (\(source))", port: port, listens: true)
    }

    /// The port of the hub endpoint this process connects to, when the hub is on this host
    /// (only a connection to this host can end up connected to itself); nil otherwise.
    static func hub(_ endpoint: String, source: String) -> FixedPort? {
        guard let parsed = ZMQEndpoint(endpoint), parsed.scheme == "tcp", let port = parsed.port(),
            !SpokeReachability.isOnAnotherHost(hub: endpoint)
        else { return nil }
        return FixedPort(what: "the hub endpoint \(endpoint) (\(source))", port: port, listens: false)
    }

    /// The warning when the kernel may hand this port to outgoing connections; nil when not.
    func warning(_ ephemeral: EphemeralPorts) -> String? {
        guard ephemeral.contains(port) else { return nil }
        let inRange =
            "\(what) has port \(port), in the kernel's ephemeral port range \(ephemeral.rangeText) "
            + "(net.ipv4.ip_local_port_range), which outgoing connections take their local ports from: "
        let fix = "net.ipv4.ip_local_reserved_ports (docs/OPERATIONS.md, \"Processes and ports\")"
        if listens {
            return inRange
                + "while nothing listens on it, a connection may be given it (a client reconnecting to it from this host "
                + "may end up connected to itself and hold it), and this process cannot listen there again until that "
                + "connection ends; give a port outside the range, or add \(port) to \(fix)"
        }
        return inRange
            + "while the hub is down, this process's reconnects to it may be given that very port and end up connected "
            + "to themselves, holding it so that the hub cannot listen there again; give the hub a port outside the "
            + "range, or add \(port) to \(fix)"
    }
}

/// Logs, once each, the warning of every port of `ports` that the kernel may hand to outgoing
/// connections (``EphemeralPorts/current(directory:)``); nothing where the range cannot be read.
func warnOfEphemeralPorts(
    _ ports: [FixedPort?], logger: Logger, ephemeral: EphemeralPorts? = EphemeralPorts.current()
) {
    guard let ephemeral else { return }
    var warned: Set<String> = []
    for port in ports.compactMap({ $0 }) {
        guard let warning = port.warning(ephemeral), warned.insert(warning).inserted else { continue }
        logger.warning("\(warning)")
    }
}

extension HubMode {
    /// The port of the hub this process joins (``FixedPort/hub(_:source:)``), or, in auto mode,
    /// serves (``FixedPort/bound(_:_:source:)``); `source` says where the hub was given.
    func fixedPort(source: String) -> FixedPort? {
        switch self {
        case .connect(let endpoint): FixedPort.hub(endpoint, source: source)
        case .auto(let configuration): FixedPort.bound(configuration.endpoint, "the hub endpoint", source: source)
        }
    }
}
