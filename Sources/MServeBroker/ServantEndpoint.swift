import Foundation
import ZeroMQ

/// The form of servant endpoints: `tcp://HOST:PORT`, `kdb://HOST:PORT` (a q servant),
/// `ipc://PATH` or `inproc://NAME`.
package enum ServantEndpoint {
    /// What a servant endpoint looks like, for messages.
    package static let forms = "tcp://HOST:PORT, kdb://HOST:PORT (a q servant), ipc://PATH or inproc://NAME"

    /// Whether `endpoint` has the form of a servant endpoint: a transport, and for TCP a host
    /// and a port from 1 to 65535.
    package static func isValid(_ endpoint: String) -> Bool {
        guard let separator = endpoint.range(of: "://") else { return false }
        switch endpoint[..<separator.lowerBound] {
        case "ipc", "inproc": return separator.upperBound < endpoint.endIndex
        case "tcp", "kdb": return hostAndPort(of: endpoint) != nil
        default: return false
        }
    }

    /// The host and port of `SCHEME://HOST:PORT`; nil without a host, or without a port from 1
    /// to 65535.
    static func hostAndPort(of endpoint: String) -> (host: String, port: Int)? {
        guard let parsed = ZMQEndpoint(endpoint), let host = parsed.host, !host.isEmpty, let port = parsed.port()
        else { return nil }
        return (host, port)
    }
}
