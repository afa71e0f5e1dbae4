import ZeroMQ

extension BrokerConfiguration {
    /// The kdb+ IPC door: where q sessions and kdb+ client libraries connect over TCP.
    public struct Kdb: Sendable {
        /// The IPv4 address to listen on (`0.0.0.0` or `*`: every interface).
        public var host: String = "127.0.0.1"
        /// The TCP port (0: any free port).
        public var port: Int
        /// A kdb+ `-u` style users file; nil with `users` nil: anyone may log in.
        public var usersFile: String?
        /// Users given directly (used when `usersFile` is nil); nil: anyone may log in.
        public var users: KdbUsers?
        /// Users kept up to date from outside (the hub's `users` table); when set it wins over
        /// `usersFile` and `users`, and every login is refused until it holds a first list.
        public var userList: KdbUserList?
        /// A message announcing more bytes than this closes the connection.
        public var maxMessageSize: Int = 64 << 20
        /// Reply bytes buffered for a client that does not read before it is disconnected.
        public var maxBufferedReplyBytes: Int = 64 << 20
        /// Connections open at once; one more is closed as soon as it is accepted, so that
        /// clients cannot take every file descriptor the broker needs for its servants.
        public var maxConnections: Int = 512
        /// Connections one peer address may hold at once; nil: a quarter of `maxConnections`
        /// (but at least 4 when the cap allows). See ``KdbConnectionLimits``.
        public var maxConnectionsPerAddress: Int?
        /// Nanoseconds a logged-in connection may stay idle (no message from the client, no
        /// reply owed to it) before the door closes it; nil: never, as a q process never closes
        /// an idle handle and q and pykx clients keep one handle open for the day.
        public var idleTimeout: UInt64?

        /// The connection limits these settings give.
        public var connectionLimits: KdbConnectionLimits {
            KdbConnectionLimits(maxConnections: maxConnections, maxPerAddress: maxConnectionsPerAddress)
        }

        /// A door on `port`, no passwords, default limits.
        public init(port: Int) {
            self.port = port
        }

        /// Parses `PORT` or `HOST:PORT`.
        public init(parsing text: String) throws(BrokerError) {
            let (host, portText) = ZMQEndpoint.split(text) ?? ("127.0.0.1", text)
            guard let port = Int(portText), (0...65_535).contains(port) else {
                throw BrokerError(
                    .configuration, "the kdb+ port must be PORT or HOST:PORT, PORT from 0 to 65535, got \(text)")
            }
            // The door's sockets are IPv4 (POSIXSockets' TCPSocket): an IPv6 host is refused
            // here, not left to fail as a name that cannot be resolved.
            guard !host.contains(":"), !host.hasPrefix("[") else {
                throw BrokerError(
                    .configuration,
                    "the kdb+ door listens on IPv4 only: HOST must be an IPv4 address, * or a name, got \(host)")
            }
            guard !host.isEmpty, !host.contains(where: \.isWhitespace) else {
                throw BrokerError(.configuration, "the kdb+ port must be PORT or HOST:PORT, with a HOST before the colon, got '\(text)'")
            }
            self.init(port: port)
            self.host = host
        }
    }
}
