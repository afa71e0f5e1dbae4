public import POSIXSockets
import ZeroMQ

/// Whether what a spoke registers can be reached from other hosts. A spoke that listens on
/// loopback only, registered with a hub on another host, is listed there and resolved for
/// brokers and clients everywhere, yet only its own host can connect to it: a deployment
/// mistake that shows as a servant forever `connecting`, with no error anywhere. The commands
/// warn about it at start (``listensOnLoopbackOnly(_:)`` and ``isOnAnotherHost(hub:)``).
public enum SpokeReachability {
    /// Whether `endpoint` (`tcp://HOST:PORT`, as bound) takes connections on loopback only:
    /// a `127.0.0.0/8` address, `::1`, an interface name whose address libzmq binds is one of
    /// those (`lo`), or a host name that looks up to loopback (`localhost`, or a host's own
    /// name on a system whose hosts file maps it to `127.0.1.1`). Every interface (`*`) is not
    /// loopback only; an endpoint of another scheme (`ipc`, `inproc`) is local whatever its text.
    public static func listensOnLoopbackOnly(
        _ endpoint: String, lookUp: (String) -> UInt32? = Self.lookUp,
        interfaceAddress: (String) -> UInt32? = IPv4Address.interfaceAddress(named:)
    ) -> Bool {
        guard let parsed = ZMQEndpoint(endpoint) else { return false }
        guard parsed.scheme == "tcp" || parsed.scheme == "kdb" else { return true }
        guard let host = parsed.unbracketedHost, !parsed.bindsEveryInterface else { return false }
        // libzmq binds an address as written, else an interface's first IPv4 address.
        if IPv4Address.literal(host) == nil, let address = interfaceAddress(host) {
            return IPv4Address.isLoopback(address)
        }
        return isLoopback(host: host, lookUp: lookUp) == true
    }

    /// Whether the hub at `hub` (a connect endpoint) is on another host: its host is neither
    /// loopback nor one of this host's addresses (`isLocal`), as written or as it looks up. A
    /// name that does not look up counts as another host; an `ipc` or `inproc` hub is on
    /// this one.
    public static func isOnAnotherHost(
        hub: String, lookUp: (String) -> UInt32? = Self.lookUp, isLocal: (UInt32) -> Bool = IPv4Address.isLocal
    ) -> Bool {
        guard let parsed = ZMQEndpoint(hub), parsed.scheme == "tcp", let host = parsed.unbracketedHost,
            // Every interface (`*`, `0.0.0.0`, `[::]`): a spoke reaches such a hub on this host.
            !parsed.bindsEveryInterface
        else {
            return false
        }
        // Looked up once: loopback, or one of this host's addresses, is this host.
        switch classify(host: host, lookUp: lookUp) {
        case .loopbackName: return false
        case .otherIPv6, .unknown: return true
        case .ipv4(let address): return !IPv4Address.isLoopback(address) && !isLocal(address)
        }
    }

    /// What a host names: loopback by its name (`localhost`, `::1`), another IPv6 address, an
    /// IPv4 address (as written or looked up), or nothing a lookup knows.
    enum Host {
        case loopbackName, otherIPv6, ipv4(UInt32), unknown
    }

    static func classify(host: String, lookUp: (String) -> UInt32?) -> Host {
        if host == "::1" || host.lowercased() == "localhost" { return .loopbackName }
        if host.contains(":") { return .otherIPv6 }
        return (IPv4Address.literal(host) ?? lookUp(host)).map(Host.ipv4) ?? .unknown
    }

    /// Whether `host` is loopback; nil when a name cannot be looked up.
    static func isLoopback(host: String, lookUp: (String) -> UInt32?) -> Bool? {
        switch classify(host: host, lookUp: lookUp) {
        case .loopbackName: true
        case .otherIPv6: false
        case .ipv4(let address): IPv4Address.isLoopback(address)
        case .unknown: nil
        }
    }

    /// Looks `host` up (IPv4), blocking while the resolver works; nil when it cannot.
    public static func lookUp(_ host: String) -> UInt32? {
        try? IPv4Address.resolve(host).get()
    }
}
