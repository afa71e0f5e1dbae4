import Synchronization
public import ZeroMQ

/// The allowed keys a secured process keeps from the hub, with one ZAP key list for each use a
/// key can be allowed for (`client`, `servant`, `broker`): a socket admits peers from the list
/// of the role they need, so a key allowed for one role is refused where another is needed.
/// Every list is empty (admitting no one) until the first ``replace(_:)``. Safe from any thread.
public final class AllowedKeyLists: Sendable {
    private let latest = Mutex<[AllowedKey]>([])
    private let lists: [KeyRole: ZAPKeyList]

    /// Empty lists.
    public init() {
        lists = Dictionary(uniqueKeysWithValues: Self.uses.map { ($0, ZAPKeyList()) })
    }

    /// The roles a peer can need (``KeyRole/any`` is a key's role, never a need).
    public static let uses: [KeyRole] = [.client, .servant, .broker]

    /// The list of keys that may be used as `use` (their role is `use` or `any`), kept up to date
    /// by ``replace(_:)``. A role this version does not know gets a list that stays empty.
    public func keys(permitting use: KeyRole) -> ZAPKeyList {
        lists[use] ?? ZAPKeyList()
    }

    /// The last keys given to ``replace(_:)``.
    public var keys: [AllowedKey] { latest.withLock { $0 } }

    /// Puts `keys` in use, updating every list.
    public func replace(_ keys: [AllowedKey]) {
        latest.withLock { $0 = keys }
        for (use, list) in lists { list.replace(AllowedKey.keyList(keys, permitting: use)) }
    }
}
