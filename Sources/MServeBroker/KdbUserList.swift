import Synchronization

/// kdb+ users kept up to date by another thread (from the hub): the door reads the current
/// list at each login, and closes the connections of users no longer in it. Until a first
/// list is set, every login is refused. Safe from any thread.
public final class KdbUserList: Sendable {
    private let current = Mutex<(users: KdbUsers?, generation: UInt64)>((nil, 0))

    /// An empty list that refuses every login until ``replace(_:)`` is first called.
    public init() {}

    /// Replaces the whole list.
    public func replace(_ users: KdbUsers) {
        current.withLock { $0 = (users, $0.generation &+ 1) }
    }

    /// The users now; nil until a first list was set.
    public var users: KdbUsers? { current.withLock { $0.users } }

    /// The users now, and how many times the list was replaced (a change of the count tells
    /// that the users may have changed).
    public var versioned: (users: KdbUsers?, generation: UInt64) { current.withLock { $0 } }

    /// Whether `user` may log in with `password` now (false until a first list was set).
    public func accepts(user: String, password: String) -> Bool {
        current.withLock { $0.users }?.accepts(user: user, password: password) ?? false
    }
}
