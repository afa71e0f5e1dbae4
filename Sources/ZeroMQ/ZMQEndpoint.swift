import Foundation

/// An endpoint read once, the one way: `SCHEME://ADDRESS`, where for TCP-like schemes (`tcp`,
/// `kdb`) the address is `HOST:PORT` (an IPv6 host in brackets, `*` for every interface, and
/// for a ZeroMQ connect an optional `SOURCE;` before it). Every host and port split in MServe
/// goes through here.
public struct ZMQEndpoint: Sendable, Hashable {
    /// The transport, as written (`tcp`, `kdb`, `ipc`, `inproc`).
    public var scheme: String
    /// What follows `://`.
    public var address: String

    /// Reads `text`; nil without `://`.
    public init?(_ text: String) {
        guard let separator = text.range(of: "://") else { return nil }
        scheme = String(text[..<separator.lowerBound])
        address = String(text[separator.upperBound...])
    }

    /// The host as written (IPv6 in brackets), after any `SOURCE;`; nil without a colon.
    public var host: String? { Self.split(address)?.host }

    /// The host without an IPv6 address's brackets.
    public var unbracketedHost: String? { host.map(Self.unbracketed) }

    /// The text after the last colon (`*` or a number, for a well-formed endpoint); nil
    /// without a colon.
    public var portText: String? { Self.split(address)?.port }

    /// The port, when it is a number from `range`.
    public func port(in range: ClosedRange<Int> = 1...65_535) -> Int? {
        portText.flatMap { Int($0) }.flatMap { range.contains($0) ? $0 : nil }
    }

    /// Whether the host is one that binds every interface: `*`, `0.0.0.0`, `[::]` or `::`.
    public var bindsEveryInterface: Bool {
        guard let host else { return false }
        return host == "*" || host == "0.0.0.0" || host == "[::]" || host == "::"
    }

    /// `HOST:PORT` split at its last colon, after any `SOURCE;` (a ZeroMQ connect's source
    /// address); nil without a colon.
    public static func split(_ address: String) -> (host: String, port: String)? {
        var address = Substring(address)
        if let semicolon = address.lastIndex(of: ";") { address = address[address.index(after: semicolon)...] }
        guard let colon = address.lastIndex(of: ":") else { return nil }
        return (String(address[..<colon]), String(address[address.index(after: colon)...]))
    }

    /// Whether the host is written as an endpoint may write it: ``isWellFormedHost(_:)``. An
    /// endpoint without a host (no colon) has none to refuse.
    public var hostIsWellFormed: Bool { host.map(Self.isWellFormedHost) ?? true }

    /// Whether `host` is a host as an endpoint writes it: one without brackets (a name, an IPv4
    /// address, `*`), or an IPv6 address in brackets (`[::1]`, `[::]`, `[fe80::1%eth0]` with a
    /// zone). Not `[zz]`, `[::1` nor `::1]`: libzmq would take them and fail only when it binds
    /// or connects, so every endpoint checked up front is checked here.
    public static func isWellFormedHost(_ host: String) -> Bool {
        guard host.contains("[") || host.contains("]") else { return true }
        guard host.count > 2, host.hasPrefix("["), host.hasSuffix("]") else { return false }
        let inside = host.dropFirst().dropLast()
        let address = inside.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
        if address.count == 2, address[1].isEmpty || !address[1].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
            return false
        }
        var bytes = in6_addr()
        return inet_pton(AF_INET6, String(address[0]), &bytes) == 1
    }

    /// `host` without the brackets of an IPv6 address.
    public static func unbracketed(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }
}
