import Foundation
import ZeroMQ

/// The form of servant endpoints, and of every endpoint a process connects to:
/// `tcp://HOST:PORT`, `kdb://HOST:PORT` (a q servant) or `ipc://PATH`.
package enum ServantEndpoint {
    /// What a servant endpoint looks like, for messages.
    package static let forms =
        "tcp://HOST:PORT (HOST an address or a name, not * nor [::]), kdb://HOST:PORT (a q servant: HOST a name or an IPv4 address) or ipc://PATH"

    /// Whether `endpoint` has the form of an endpoint another process can be reached at: a
    /// transport, and for TCP a host one can connect to and a port from 1 to 65535. Not
    /// `inproc://` (it lives inside one process, so no other process can reach it) nor a host
    /// for every interface (`*`, `0.0.0.0`, `[::]`: something to bind, not to connect to). A q
    /// servant is reached over IPv4, by a name or an IPv4 address: not an IPv6 host.
    package static func isValid(_ endpoint: String) -> Bool {
        guard let parsed = ZMQEndpoint(endpoint) else { return false }
        switch parsed.scheme {
        case "ipc": return !parsed.address.isEmpty
        case "tcp", "kdb":
            guard hostAndPort(of: endpoint) != nil, !parsed.bindsEveryInterface else { return false }
            return parsed.scheme == "tcp" || !(parsed.host ?? "").hasPrefix("[")
        default: return false
        }
    }

    /// The host and port of `SCHEME://HOST:PORT`; nil without a host, with a bracketed host that
    /// is no IPv6 address (``ZMQEndpoint/isWellFormedHost(_:)``), or without a port from 1 to 65535.
    static func hostAndPort(of endpoint: String) -> (host: String, port: Int)? {
        guard let parsed = ZMQEndpoint(endpoint), let host = parsed.host, !host.isEmpty, parsed.hostIsWellFormed,
            let port = parsed.port()
        else { return nil }
        return (host, port)
    }
}
