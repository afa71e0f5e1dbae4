import Foundation
import POSIXSockets
import ZeroMQ

/// Where the HTTP side listens: `--http HOST:PORT` (or `PORT`, on loopback).
public struct HTTPBindAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host or address to bind (`127.0.0.1`, `::1`, `0.0.0.0`, a name).
    public var host: String
    /// The port; 0 picks a free one.
    public var port: Int
    /// Where the address was given, for messages: `--http` by default, or the environment
    /// variable it came from.
    public var source = "--http"
    /// Whether a bind other machines can reach was accepted (`--http-allow-remote`): the server
    /// then starts on it without the warning it logs otherwise.
    public var remoteAccepted = false

    /// The address `host:port`.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Reads `HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT` (the last two bind loopback,
    /// 127.0.0.1: the safe default).
    public init(parsing text: String) throws(MonitoringError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let refusal = MonitoringError(.address, "'\(text)' is not HOST:PORT or PORT (a port from 0 to 65535; an IPv6 host in brackets, [::1]:PORT)")
        // Split the one way every MServe address is split; `;` (a ZeroMQ source address) has no
        // meaning here.
        guard !trimmed.contains(";") else { throw refusal }
        var host = "127.0.0.1"
        var portText = trimmed
        if let (written, port) = ZMQEndpoint.split(trimmed) {
            let bracketed = written.hasPrefix("[") || written.hasSuffix("]")
            guard !bracketed || ZMQEndpoint.isWellFormedHost(written) else { throw refusal }
            // An IPv6 address needs its brackets, or its last group would be read as the port.
            guard bracketed || !written.contains(":") else { throw refusal }
            if !written.isEmpty { host = ZMQEndpoint.unbracketed(written) }
            portText = port
        }
        guard let port = Int(portText), (0...65_535).contains(port) else { throw refusal }
        self.host = host
        self.port = port
    }

    /// Whether the host is a loopback address or `localhost`, or a name that resolves to a
    /// loopback address (a host name on 127.0.1.1, as Debian writes /etc/hosts): only this
    /// machine can connect, and the `Host` check against DNS rebinding is wanted.
    public var isLoopback: Bool {
        isLoopback(resolving: { host in try? IPv4Address.resolve(host).get() })
    }

    /// ``isLoopback``, a name other than `localhost` looked up with `resolve` (its IPv4
    /// address; nil when it has none).
    func isLoopback(resolving resolve: (String) -> UInt32?) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "::1" || lowered.hasPrefix("127.") { return true }
        // Addresses are judged as written; a name by what it resolves to.
        guard let name = IPv4Address.nameToLookUp(host) else { return false }
        return resolve(name).map(IPv4Address.isLoopback) ?? false
    }

    /// Refuses a bind reachable from other machines when the process runs with CURVE security
    /// (`--keys`) unless `allowRemote` (`--http-allow-remote`) says so: the HTTP side has no
    /// authentication, and would show what the keys protect to anyone on the network.
    public func checkSafe(securityOn: Bool, allowRemote: Bool) throws(MonitoringError) {
        guard securityOn, !isLoopback, !allowRemote else { return }
        throw MonitoringError(
            .refused,
            "\(self) is reachable from other machines, and the HTTP side has no authentication while "
                + "--keys secures the rest; bind a loopback address, or add --http-allow-remote to accept it")
    }

    /// `host:port` (`[host]:port` for IPv6).
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
