import Synchronization

/// kdb+ users kept up to date by another thread (from the hub): the door reads the current
/// list at each login. Until a first list is set, every login is refused. Safe from any thread.
public final class KdbUserList: Sendable {
    private let current = Mutex<KdbUsers?>(nil)

    /// An empty list that refuses every login until ``replace(_:)`` is first called.
    public init() {}

    /// Replaces the whole list.
    public func replace(_ users: KdbUsers) {
        current.withLock { $0 = users }
    }

    /// The users now; nil until a first list was set.
    public var users: KdbUsers? { current.withLock { $0 } }

    /// Whether `user` may log in with `password` now (false until a first list was set).
    public func accepts(user: String, password: String) -> Bool {
        current.withLock { $0?.accepts(user: user, password: password) ?? false }
    }
}
