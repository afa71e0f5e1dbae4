import Foundation
import Synchronization

/// The lookup of a host name on a thread of its own (a lookup may block for seconds): ZeroMQ
/// resolves a name only when it connects, and retries one that does not resolve as quietly as
/// a peer that is down, so whoever connects by name looks it up beside, to say why.
public final class HostLookup: Sendable {
    private let outcome = Mutex<String?>(nil)

    /// Starts looking up `host` on a thread named `threadName`, calling `whenItFails` there
    /// with the reason (``IPv4Address/lookupFailure(ofHost:)``: `the host name NAME does not
    /// resolve (REASON)`) should it not resolve; nil when `host` is no name to look up (an
    /// address, `*`, nothing).
    public static func start(
        host: String, threadName: String, whenItFails: (@Sendable (String) -> Void)? = nil
    ) -> HostLookup? {
        guard IPv4Address.nameToLookUp(host) != nil else { return nil }
        let lookup = HostLookup()
        let thread = Thread {
            guard let failure = IPv4Address.lookupFailure(ofHost: host) else { return }
            lookup.outcome.withLock { $0 = failure }
            whenItFails?(failure)
        }
        thread.name = threadName
        thread.start()
        return lookup
    }

    /// Why the host cannot be reached by name: nil while the lookup runs or once it succeeded.
    public var failure: String? { outcome.withLock { $0 } }
}
