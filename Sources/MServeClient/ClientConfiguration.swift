public import ZeroMQ

/// Client settings.
public struct ClientConfiguration: Sendable {
    /// How long a query may take before the client gives up on it with an error.
    /// Keep it above the broker's deadline so the broker's own error reply arrives first.
    public var deadline: Duration = .seconds(65)
    /// Largest reply accepted.
    public var maxMessageSize: Int64 = 1 << 30
    /// Largest query sent, in bytes as encoded: a larger one fails at once with
    /// ``ClientError/Code/queryTooLarge``. Keep it at most the broker's `--max-message` (64 MiB
    /// by default, the default here too): the broker's ZeroMQ socket closes the connection of a
    /// client that sends more, before reading it, and can send that client no reply.
    public var maxQuerySize: Int64 = 64 << 20
    /// With security on: the broker's public key and this client's key pair (the broker admits
    /// only allowed client keys). Nil (the default): no security.
    public var curve: ZMQCurveClientKeys? = nil
    /// How long the client may go without a connection to the broker while queries wait:
    /// past it they fail with ``ClientError/Code/notConnected`` instead of waiting out their
    /// deadline, and so does each query sent while the connection stays down. Nil (the
    /// default): queries wait for the broker as long as their deadline allows, through a
    /// broker restart say. Either way queries wait in the client until there is a connection
    /// (ZeroMQ's `ZMQ_IMMEDIATE`), so a query that failed before one came up was never sent
    /// and never runs later.
    public var connectTimeout: Duration? = nil
    /// Creates the default settings.
    public init() {}
}
