import Foundation
import POSIXSockets
import Synchronization

/// Resolves q servants' host names to IPv4 addresses on threads of its own, so that a slow or
/// failing name lookup (a DNS server that does not answer can take many seconds) never stalls
/// the broker's event loop: the loop asks, goes on serving, and picks the answer up on a later
/// turn. An IPv4 address is answered at once, without a lookup.
final class HostResolver: Sendable {
    /// What a lookup found.
    enum Answer: Sendable, Equatable {
        /// The address, in network byte order (as `in_addr.s_addr`).
        case address(UInt32)
        /// Why there is no address.
        case failed(String)
    }

    private enum Entry: Sendable {
        case pending
        case done(Answer)
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let lookUpBlocking: @Sendable (String) -> Answer

    /// A resolver using `lookUp` (by default `getaddrinfo`, IPv4) for names.
    init(lookUp: @escaping @Sendable (String) -> Answer = HostResolver.lookUp) {
        lookUpBlocking = lookUp
    }

    /// The answer for `host`, or nil while its lookup is under way (the first call starts it).
    /// Each answer is handed out once: the next call for the same host looks it up again, so a
    /// reconnecting servant follows an address that changed.
    func address(of host: String) -> Answer? {
        if let literal = IPv4Address.literal(host) { return .address(literal) }
        let (answer, start) = entries.withLock { entries -> (Answer?, Bool) in
            switch entries[host] {
            case .pending?: return (nil, false)
            case .done(let answer)?:
                entries[host] = nil
                return (answer, false)
            case nil:
                entries[host] = .pending
                return (nil, true)
            }
        }
        if start {
            Thread.detachNewThread { [self] in
                let answer = lookUpBlocking(host)
                entries.withLock { $0[host] = .done(answer) }
            }
        }
        return answer
    }

    /// Looks `host` up with the system's resolver (IPv4), blocking.
    @Sendable
    static func lookUp(_ host: String) -> Answer {
        switch IPv4Address.resolve(host) {
        case .success(let address): .address(address)
        case .failure(let error): .failed(error.message)
        }
    }
}
