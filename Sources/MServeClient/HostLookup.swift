import Foundation
import POSIXSockets
import Synchronization
import ZeroMQ

/// The lookup of the host name in a client's `tcp://HOST:PORT` endpoint, on a thread of its
/// own (a lookup may block for seconds): ZeroMQ resolves the name only when it connects, and
/// retries a name that does not resolve as quietly as a broker that is down.
final class HostLookup: Sendable {
    private let outcome = Mutex<String?>(nil)

    /// Starts looking up the host of `endpoint`; nil when it names no host to look up (an
    /// address, `*`, another transport).
    static func start(for endpoint: String) -> HostLookup? {
        guard let host = hostName(of: endpoint) else { return nil }
        let lookup = HostLookup()
        let thread = Thread {
            if let failure = IPv4Address.lookupFailure(ofHost: host) {
                lookup.outcome.withLock { $0 = failure }
            }
        }
        thread.name = "mserve-client-lookup"
        thread.start()
        return lookup
    }

    /// Why the host cannot be reached by name: nil while the lookup runs or once it succeeded.
    var failure: String? { outcome.withLock { $0 } }

    /// The host name of a `tcp://[SOURCE;]HOST:PORT` endpoint; nil for an IPv4 or IPv6 address,
    /// `*`, or another transport.
    static func hostName(of endpoint: String) -> String? {
        guard let parsed = ZMQEndpoint(endpoint), parsed.scheme.lowercased() == "tcp", let host = parsed.host else {
            return nil
        }
        return IPv4Address.nameToLookUp(host)
    }
}
