import POSIXSockets
import ZeroMQ

/// The lookup of the host name in a client's `tcp://HOST:PORT` endpoint.
extension HostLookup {
    /// Starts looking up the host of `endpoint`; nil when it names no host to look up (an
    /// address, `*`, another transport).
    static func start(for endpoint: String) -> HostLookup? {
        guard let host = hostName(of: endpoint) else { return nil }
        return start(host: host, threadName: "mserve-client-lookup")
    }

    /// The host name of a `tcp://[SOURCE;]HOST:PORT` endpoint; nil for an IPv4 or IPv6 address,
    /// `*`, or another transport.
    static func hostName(of endpoint: String) -> String? {
        guard let parsed = ZMQEndpoint(endpoint), parsed.scheme.lowercased() == "tcp", let host = parsed.host else {
            return nil
        }
        return IPv4Address.nameToLookUp(host)
    }
}
