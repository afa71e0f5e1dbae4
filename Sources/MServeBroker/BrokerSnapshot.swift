// The broker's state as status output and tests see it.

/// A point-in-time view of the broker, for status output and tests.
public struct BrokerSnapshot: Sendable {
    /// The servants the broker knows, in join order.
    public var servants: [ServantStatus]
    /// Queries waiting for a free servant.
    public var queued: Int
    /// Queries dispatched and not yet answered.
    public var inFlight: Int
    /// Queries answered since start (results and errors).
    public var answered: UInt64
}

/// One servant as the broker sees it.
public struct ServantStatus: Sendable, Hashable {
    /// The endpoint the broker connects to.
    public var endpoint: String
    /// Its display name, `host:port`.
    public var name: String
    /// `connecting`, `ready` or `lost`.
    public var state: String
    /// Queries running on it now.
    public var inFlight: Int
    /// Queries it may run at once.
    public var capacity: Int
    /// Queries it has answered.
    public var served: UInt64
}
