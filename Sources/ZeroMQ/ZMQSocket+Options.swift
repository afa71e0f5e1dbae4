import CZeroMQ

/// Typed socket options. Most must be set before ``ZMQSocket/bind(_:file:line:)`` or
/// ``ZMQSocket/connect(_:file:line:)`` to take effect for that endpoint.
extension ZMQSocket {
    /// The identity this socket presents to ROUTER peers (ZMQ_ROUTING_ID), 1–255 bytes,
    /// not starting with a zero byte.
    public func setRoutingId(_ id: [UInt8], file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_ROUTING_ID, name: "ZMQ_ROUTING_ID", bytes: id, file: file, line: line)
    }

    /// The routing id this socket currently presents (ZMQ_ROUTING_ID).
    public var routingId: [UInt8] {
        get throws(ZMQError) { try bytesOption(ZMQ_ROUTING_ID, name: "ZMQ_ROUTING_ID") }
    }

    /// The name a ROUTER (or STREAM) gives the peer of its next ``connect(_:file:line:)``
    /// (ZMQ_CONNECT_ROUTING_ID), so it can address that peer at once.
    public func setConnectRoutingId(_ id: [UInt8], file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_CONNECT_ROUTING_ID, name: "ZMQ_CONNECT_ROUTING_ID", bytes: id, file: file, line: line)
    }

    /// Whether a ROUTER fails with EHOSTUNREACH for an unknown peer instead of dropping the
    /// message (ZMQ_ROUTER_MANDATORY).
    public func setRouterMandatory(_ on: Bool, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_ROUTER_MANDATORY, name: "ZMQ_ROUTER_MANDATORY", value: Int32(on ? 1 : 0), file: file, line: line)
    }

    /// Whether a new peer with a routing id already in use takes it over (ZMQ_ROUTER_HANDOVER).
    public func setRouterHandover(_ on: Bool, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_ROUTER_HANDOVER, name: "ZMQ_ROUTER_HANDOVER", value: Int32(on ? 1 : 0), file: file, line: line)
    }

    /// Whether a ROUTER or DEALER sends an empty message to each peer it connects to, so a
    /// ROUTER peer learns its routing id (ZMQ_PROBE_ROUTER).
    public func setProbeRouter(_ on: Bool, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_PROBE_ROUTER, name: "ZMQ_PROBE_ROUTER", value: Int32(on ? 1 : 0), file: file, line: line)
    }

    /// The most messages queued for sending per peer (ZMQ_SNDHWM); 0 means no limit.
    public func setSendHighWaterMark(_ messages: Int32, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_SNDHWM, name: "ZMQ_SNDHWM", value: messages, file: file, line: line)
    }

    /// The most messages queued for receiving per peer (ZMQ_RCVHWM); 0 means no limit.
    public func setReceiveHighWaterMark(_ messages: Int32, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_RCVHWM, name: "ZMQ_RCVHWM", value: messages, file: file, line: line)
    }

    /// How long ``close()`` keeps unsent messages (ZMQ_LINGER); -1 forever. Once set, ``close()``
    /// keeps this period instead of using 0.
    public func setLinger(milliseconds: Int32, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_LINGER, name: "ZMQ_LINGER", value: milliseconds, file: file, line: line)
        markLingerSet()
    }

    /// ZMTP heartbeats: ping every `interval` ms, drop the connection when no traffic arrives
    /// within `timeout` ms, and ask the peer to wait `ttl` ms (ZMQ_HEARTBEAT_IVL/TIMEOUT/TTL).
    ///
    /// - Warning: with libzmq 4.3.4 a heartbeat that falls due on a connection its peer reset
    ///   while the receive high-water mark held its input back aborts the process; a socket
    ///   that others may flood closes dead connections with
    ///   ``setDeadPeerTimeout(probeMilliseconds:silenceMilliseconds:file:line:)`` instead.
    public func setHeartbeat(interval: Int32, timeout: Int32, ttl: Int32, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_HEARTBEAT_IVL, name: "ZMQ_HEARTBEAT_IVL", value: interval, file: file, line: line)
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, name: "ZMQ_HEARTBEAT_TIMEOUT", value: timeout, file: file, line: line)
        try setOption(ZMQ_HEARTBEAT_TTL, name: "ZMQ_HEARTBEAT_TTL", value: ttl, file: file, line: line)
    }

    /// How long a new connection may take to complete its handshake (the ZMTP greeting, and
    /// CURVE's) before libzmq closes it (ZMQ_HANDSHAKE_IVL; libzmq's default is 30 s).
    public func setHandshakeInterval(milliseconds: Int32, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_HANDSHAKE_IVL, name: "ZMQ_HANDSHAKE_IVL", value: milliseconds, file: file, line: line)
    }

    /// The handshake interval set (ZMQ_HANDSHAKE_IVL), in milliseconds.
    public var handshakeIntervalMilliseconds: Int32 {
        get throws(ZMQError) { try int32Option(ZMQ_HANDSHAKE_IVL, name: "ZMQ_HANDSHAKE_IVL") }
    }

    /// What a socket that accepts connections from the network sets so that a peer cannot
    /// hold a connection (a file descriptor) for nothing: a new connection must complete its
    /// handshake within `handshakeMilliseconds`, and one whose peer is gone (a half-open
    /// connection) is closed after about `silenceMilliseconds` (``setDeadPeerTimeout(probeMilliseconds:silenceMilliseconds:file:line:)``).
    public func setPeerTimeouts(
        handshakeMilliseconds: Int32 = 10_000, probeMilliseconds: Int32 = 2_000, silenceMilliseconds: Int32 = 10_000,
        file: String = #fileID, line: Int = #line
    ) throws(ZMQError) {
        try setHandshakeInterval(milliseconds: handshakeMilliseconds, file: file, line: line)
        try setDeadPeerTimeout(probeMilliseconds: probeMilliseconds, silenceMilliseconds: silenceMilliseconds, file: file, line: line)
    }

    /// Closes a TCP connection whose peer is gone within about `silenceMilliseconds`: the
    /// kernel probes an idle connection every `probeMilliseconds` (TCP keep-alives,
    /// ZMQ_TCP_KEEPALIVE_IDLE/INTVL/CNT; a live peer's kernel answers them), and gives up on
    /// data left unacknowledged for `silenceMilliseconds` (ZMQ_TCP_MAXRT: TCP_USER_TIMEOUT).
    ///
    /// Not ZMTP heartbeats (``setHeartbeat(interval:timeout:ttl:file:line:)``): libzmq 4.3.4
    /// writes a heartbeat without checking that the connection failed, and aborts the whole
    /// process (`Assertion failed: !_io_error (src/stream_engine_base.cpp)`) when one falls due
    /// on a connection its peer reset while the socket's receive high-water mark held its input
    /// back: any peer that floods a socket and then resets its connection could stop the
    /// process.
    public func setDeadPeerTimeout(
        probeMilliseconds: Int32 = 2_000, silenceMilliseconds: Int32 = 10_000, file: String = #fileID, line: Int = #line
    ) throws(ZMQError) {
        let probeSeconds = max(1, probeMilliseconds / 1_000)
        let probes = max(1, (silenceMilliseconds / 1_000 - probeSeconds) / probeSeconds)
        try setTCPKeepalive(true, file: file, line: line)
        try setOption(ZMQ_TCP_KEEPALIVE_IDLE, name: "ZMQ_TCP_KEEPALIVE_IDLE", value: probeSeconds, file: file, line: line)
        try setOption(ZMQ_TCP_KEEPALIVE_INTVL, name: "ZMQ_TCP_KEEPALIVE_INTVL", value: probeSeconds, file: file, line: line)
        try setOption(ZMQ_TCP_KEEPALIVE_CNT, name: "ZMQ_TCP_KEEPALIVE_CNT", value: probes, file: file, line: line)
        try setOption(ZMQ_TCP_MAXRT, name: "ZMQ_TCP_MAXRT", value: silenceMilliseconds, file: file, line: line)
    }

    /// The ZMTP heartbeat interval set (ZMQ_HEARTBEAT_IVL), in milliseconds; 0: none.
    public var heartbeatIntervalMilliseconds: Int32 {
        get throws(ZMQError) { try int32Option(ZMQ_HEARTBEAT_IVL, name: "ZMQ_HEARTBEAT_IVL") }
    }

    /// The TCP keep-alive settings (ZMQ_TCP_KEEPALIVE, _IDLE, _INTVL, _CNT) and the TCP
    /// retransmission limit (ZMQ_TCP_MAXRT, milliseconds).
    public var deadPeerSettings: (keepalive: Int32, idle: Int32, interval: Int32, probes: Int32, maximumRetransmit: Int32) {
        get throws(ZMQError) {
            (
                try int32Option(ZMQ_TCP_KEEPALIVE, name: "ZMQ_TCP_KEEPALIVE"),
                try int32Option(ZMQ_TCP_KEEPALIVE_IDLE, name: "ZMQ_TCP_KEEPALIVE_IDLE"),
                try int32Option(ZMQ_TCP_KEEPALIVE_INTVL, name: "ZMQ_TCP_KEEPALIVE_INTVL"),
                try int32Option(ZMQ_TCP_KEEPALIVE_CNT, name: "ZMQ_TCP_KEEPALIVE_CNT"),
                try int32Option(ZMQ_TCP_MAXRT, name: "ZMQ_TCP_MAXRT")
            )
        }
    }

    /// The receive buffer of each TCP connection (ZMQ_RCVBUF, bytes; -1: the system's).
    public func setReceiveBuffer(bytes: Int32, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_RCVBUF, name: "ZMQ_RCVBUF", value: bytes, file: file, line: line)
    }

    /// How long one attempt to connect may take before libzmq gives it up and tries again
    /// (ZMQ_CONNECT_TIMEOUT; 0: the system's, minutes for TCP's SYN retries).
    public func setConnectTimeout(milliseconds: Int32, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_CONNECT_TIMEOUT, name: "ZMQ_CONNECT_TIMEOUT", value: milliseconds, file: file, line: line)
    }

    /// The connect timeout set (ZMQ_CONNECT_TIMEOUT), in milliseconds.
    public var connectTimeoutMilliseconds: Int32 {
        get throws(ZMQError) { try int32Option(ZMQ_CONNECT_TIMEOUT, name: "ZMQ_CONNECT_TIMEOUT") }
    }

    /// Whether messages are queued only for completed connections (ZMQ_IMMEDIATE).
    public func setImmediate(_ on: Bool, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_IMMEDIATE, name: "ZMQ_IMMEDIATE", value: Int32(on ? 1 : 0), file: file, line: line)
    }

    /// The largest frame accepted from a peer (ZMQ_MAXMSGSIZE); a peer sending a larger one is
    /// disconnected. -1 means no limit.
    public func setMaxMessageSize(_ bytes: Int64, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_MAXMSGSIZE, name: "ZMQ_MAXMSGSIZE", value: bytes, file: file, line: line)
    }

    /// How long a blocking receive waits before returning nil (ZMQ_RCVTIMEO); -1 forever.
    public func setReceiveTimeout(milliseconds: Int32, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_RCVTIMEO, name: "ZMQ_RCVTIMEO", value: milliseconds, file: file, line: line)
    }

    /// How long a blocking send waits before returning false (ZMQ_SNDTIMEO); -1 forever.
    public func setSendTimeout(milliseconds: Int32, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_SNDTIMEO, name: "ZMQ_SNDTIMEO", value: milliseconds, file: file, line: line)
    }

    /// The first reconnection delay and, with exponential back-off, the largest
    /// (ZMQ_RECONNECT_IVL, ZMQ_RECONNECT_IVL_MAX; 0 for `max` disables back-off).
    public func setReconnectInterval(milliseconds: Int32, max: Int32, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_RECONNECT_IVL, name: "ZMQ_RECONNECT_IVL", value: milliseconds, file: file, line: line)
        try setOption(ZMQ_RECONNECT_IVL_MAX, name: "ZMQ_RECONNECT_IVL_MAX", value: max, file: file, line: line)
    }

    /// Whether TCP connections use SO_KEEPALIVE (ZMQ_TCP_KEEPALIVE).
    public func setTCPKeepalive(_ on: Bool, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_TCP_KEEPALIVE, name: "ZMQ_TCP_KEEPALIVE", value: Int32(on ? 1 : 0), file: file, line: line)
    }

    /// Subscribes a SUB socket to messages whose first frame starts with `prefix` (empty: all).
    public func subscribe(_ prefix: [UInt8], file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_SUBSCRIBE, name: "ZMQ_SUBSCRIBE", bytes: prefix, file: file, line: line)
    }

    /// Removes a subscription made with ``subscribe(_:file:line:)``.
    public func unsubscribe(_ prefix: [UInt8], file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_UNSUBSCRIBE, name: "ZMQ_UNSUBSCRIBE", bytes: prefix, file: file, line: line)
    }

    /// Makes the socket a CURVE server with a Z85 secret key (ZMQ_CURVE_SERVER, ZMQ_CURVE_SECRETKEY).
    public func setCurveServer(secretKey: String, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVER, name: "ZMQ_CURVE_SERVER", value: Int32(1), file: file, line: line)
        try setOption(ZMQ_CURVE_SECRETKEY, name: "ZMQ_CURVE_SECRETKEY", bytes: secretKey.utf8, file: file, line: line)
    }

    /// Makes the socket a CURVE client of a server with a known public key; all keys Z85
    /// (ZMQ_CURVE_SERVERKEY, ZMQ_CURVE_PUBLICKEY, ZMQ_CURVE_SECRETKEY).
    public func setCurveClient(
        serverPublicKey: String, publicKey: String, secretKey: String, file: String = #fileID, line: Int = #line
    ) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVERKEY, name: "ZMQ_CURVE_SERVERKEY", bytes: serverPublicKey.utf8, file: file, line: line)
        try setOption(ZMQ_CURVE_PUBLICKEY, name: "ZMQ_CURVE_PUBLICKEY", bytes: publicKey.utf8, file: file, line: line)
        try setOption(ZMQ_CURVE_SECRETKEY, name: "ZMQ_CURVE_SECRETKEY", bytes: secretKey.utf8, file: file, line: line)
    }

    /// The ZAP domain sent to the authentication handler (ZMQ_ZAP_DOMAIN).
    public func setZAPDomain(_ domain: String, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_ZAP_DOMAIN, name: "ZMQ_ZAP_DOMAIN", bytes: domain.utf8, file: file, line: line)
    }

    /// Whether TCP endpoints use IPv6 as well as IPv4 (ZMQ_IPV6).
    public func setIPv6(_ on: Bool, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try setOption(ZMQ_IPV6, name: "ZMQ_IPV6", value: Int32(on ? 1 : 0), file: file, line: line)
    }
}
