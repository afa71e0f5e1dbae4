#if canImport(Glibc)
import Glibc
#endif

/// IPv4 addresses as the socket API holds them: a `UInt32` in network byte order (as
/// `in_addr.s_addr`).
public enum IPv4Address {
    /// The address of a literal such as `10.0.0.7`; nil for anything else (a host name).
    public static func literal(_ text: String) -> UInt32? {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1 ? address.s_addr : nil
    }

    /// `host` when it is a name to look up; nil for an IPv4 address, an IPv6 one (a colon or
    /// brackets), `*` or nothing.
    public static func nameToLookUp(_ host: String) -> String? {
        guard !host.isEmpty, host != "*", !host.contains(":"), !host.hasPrefix("["), literal(host) == nil else {
            return nil
        }
        return host
    }

    /// Why the host name of a `tcp://HOST:PORT` endpoint's `host` cannot be looked up, for a
    /// message (`the host name NAME does not resolve (REASON)`); nil when it resolves or is no
    /// name. Blocks as ``resolve(_:)`` does.
    public static func lookupFailure(ofHost host: String) -> String? {
        guard let name = nameToLookUp(host), case .failure(let error) = resolve(name) else { return nil }
        return "the host name \(name) does not resolve (\(error.message))"
    }

    /// The dotted text of an address, e.g. `10.0.0.7`.
    public static func text(_ address: UInt32) -> String {
        let host = UInt32(bigEndian: address)
        return "\(host >> 24).\(host >> 16 & 255).\(host >> 8 & 255).\(host & 255)"
    }

    /// Looks a host name up (`getaddrinfo`, IPv4) and returns its first address. Blocks the
    /// calling thread for as long as the lookup takes (seconds, when a DNS server does not
    /// answer): call it off any event loop. A failure's message is the resolver's reason alone
    /// (e.g. `Name or service not known`), for the caller to say what it was looking up.
    public static func resolve(_ host: String) -> Result<UInt32, SocketError> {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &found)
        guard status == 0 else {
            return .failure(SocketError(.nameLookup, String(cString: gai_strerror(status))))
        }
        defer { freeaddrinfo(found) }
        guard let address = found?.pointee.ai_addr else {
            return .failure(SocketError(.nameLookup, "no IPv4 address"))
        }
        return .success(address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr })
    }

    /// Whether `address` (network byte order) is on the loopback network, `127.0.0.0/8`.
    public static func isLoopback(_ address: UInt32) -> Bool {
        UInt32(bigEndian: address) >> 24 == 127
    }

    /// Whether `address` (network byte order) is one of this host's IPv4 interface addresses.
    public static func isLocal(_ address: UInt32) -> Bool {
        interfaceAddresses().contains(address)
    }

    /// This host's first IPv4 address that is not on the loopback network, as text; nil when
    /// it has none.
    public static func firstNonLoopback() -> String? {
        interfaceAddresses().first { !isLoopback($0) }.map(text)
    }

    /// The first IPv4 address (network byte order) of this host's interface `name` (`lo`,
    /// `eth0`), the one libzmq binds for a `tcp://NAME:PORT` endpoint; nil when no interface
    /// has that name or it has no IPv4 address.
    public static func interfaceAddress(named name: String) -> UInt32? {
        interfaceAddresses(named: name).first
    }

    /// This host's IPv4 interface addresses (network byte order), in the system's order; only
    /// those of the interface `named`, when given.
    private static func interfaceAddresses(named name: String? = nil) -> [UInt32] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var addresses: [UInt32] = []
        var cursor = list
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else {
                continue
            }
            if let name, String(cString: entry.pointee.ifa_name) != name { continue }
            addresses.append(address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr })
        }
        return addresses
    }
}
