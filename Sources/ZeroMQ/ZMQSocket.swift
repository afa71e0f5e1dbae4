import CZeroMQ
import Glibc

/// The kind of a ZeroMQ socket.
public enum ZMQSocketType: Sendable, CaseIterable {
    case pair, pub, sub, req, rep, dealer, router, pull, push, xpub, xsub, stream

    var rawValue: Int32 {
        switch self {
        case .pair: ZMQ_PAIR
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pull: ZMQ_PULL
        case .push: ZMQ_PUSH
        case .xpub: ZMQ_XPUB
        case .xsub: ZMQ_XSUB
        case .stream: ZMQ_STREAM
        }
    }
}

/// Readiness a poll asks for or reports.
public struct ZMQPollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }
    /// A message (or data on a descriptor) can be read.
    public static let readable = ZMQPollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// A message can be sent without blocking.
    public static let writable = ZMQPollEvents(rawValue: Int16(ZMQ_POLLOUT))
    /// An error condition on a raw descriptor.
    public static let error = ZMQPollEvents(rawValue: Int16(ZMQ_POLLERR))
}

/// A ZeroMQ socket. Not thread-safe: create, use and close it on one thread.
public final class ZMQSocket {
    let handle: UnsafeMutableRawPointer
    /// Kept so the context outlives its sockets.
    public let context: ZMQContext
    /// The socket's kind.
    public let type: ZMQSocketType
    private var isClosed = false
    private var lingerWasSet = false

    /// Creates a socket of `type` in `context`.
    public init(context: ZMQContext, type: ZMQSocketType) throws {
        guard let socket = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError(call: "zmq_socket(\(type))")
        }
        self.handle = socket
        self.context = context
        self.type = type
    }

    deinit {
        close()
    }

    /// Closes the socket. Unless a linger was set explicitly, pending messages are dropped
    /// (linger 0), so closing never blocks context termination. Safe to call twice.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        if !lingerWasSet {
            var zero: Int32 = 0
            zmq_setsockopt(handle, ZMQ_LINGER, &zero, MemoryLayout<Int32>.size)
        }
        zmq_close(handle)
    }

    // MARK: endpoints

    /// Binds to `endpoint`, e.g. `tcp://*:0` (any free port) or `inproc://name`.
    public func bind(_ endpoint: String) throws {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError(call: "zmq_bind(\(endpoint))") }
    }

    /// Connects to `endpoint`; the connection is made (and remade) in the background.
    public func connect(_ endpoint: String) throws {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError(call: "zmq_connect(\(endpoint))") }
    }

    /// Stops listening on `endpoint`.
    public func unbind(_ endpoint: String) throws {
        guard zmq_unbind(handle, endpoint) == 0 else { throw ZMQError(call: "zmq_unbind(\(endpoint))") }
    }

    /// Drops the connection to `endpoint`.
    public func disconnect(_ endpoint: String) throws {
        guard zmq_disconnect(handle, endpoint) == 0 else { throw ZMQError(call: "zmq_disconnect(\(endpoint))") }
    }

    /// The endpoint last bound, with the real port, e.g. `tcp://0.0.0.0:41234`.
    public var lastEndpoint: String {
        get throws { try stringOption(ZMQ_LAST_ENDPOINT, name: "ZMQ_LAST_ENDPOINT") }
    }

    // MARK: sending

    /// Sends one frame. Returns false when `dontWait` is set and the send would block.
    @discardableResult
    public func send(_ frame: [UInt8], more: Bool = false, dontWait: Bool = false) throws -> Bool {
        try send(frame[...], more: more, dontWait: dontWait)
    }

    /// Sends one frame. Returns false when `dontWait` is set and the send would block.
    @discardableResult
    public func send(_ frame: ArraySlice<UInt8>, more: Bool = false, dontWait: Bool = false) throws -> Bool {
        let flags = (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
        while true {
            let result = frame.withUnsafeBytes { buffer in
                zmq_send(handle, buffer.baseAddress, buffer.count, flags)
            }
            if result >= 0 { return true }
            let error = ZMQError(call: "zmq_send")
            if error.code == .interrupted { continue }
            if error.code == .again && dontWait { return false }
            throw error
        }
    }

    /// Sends a frame received earlier without copying its body.
    @discardableResult
    public func send(_ message: ZMQMessage, more: Bool = false, dontWait: Bool = false) throws -> Bool {
        let flags = (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
        while true {
            if zmq_msg_send(message.pointer, handle, flags) >= 0 {
                message.consumed()
                return true
            }
            let error = ZMQError(call: "zmq_msg_send")
            if error.code == .interrupted { continue }
            if error.code == .again && dontWait { return false }
            throw error
        }
    }

    /// Sends all `frames` as one message. With `dontWait`, returns false if the first frame
    /// would block (later frames of a message never block once the first is queued).
    @discardableResult
    public func send(multipart frames: [[UInt8]], dontWait: Bool = false) throws -> Bool {
        for (index, frame) in frames.enumerated() {
            let sent = try send(frame, more: index < frames.count - 1, dontWait: dontWait && index == 0)
            if !sent { return false }
        }
        return true
    }

    // MARK: receiving

    /// Receives one frame. Nil when `dontWait` is set (or a receive timeout passed) and
    /// nothing is there.
    public func receive(dontWait: Bool = false) throws -> ZMQMessage? {
        let message = ZMQMessage()
        while true {
            if zmq_msg_recv(message.pointer, handle, dontWait ? ZMQ_DONTWAIT : 0) >= 0 { return message }
            let error = ZMQError(call: "zmq_msg_recv")
            if error.code == .interrupted { continue }
            if error.code == .again { return nil }
            throw error
        }
    }

    /// Receives every frame of one message. Nil when nothing is there (with `dontWait`).
    public func receiveMultipart(dontWait: Bool = false) throws -> [ZMQMessage]? {
        guard let first = try receive(dontWait: dontWait) else { return nil }
        var frames = [first]
        while frames[frames.count - 1].more {
            guard let next = try receive() else { break }
            frames.append(next)
        }
        return frames
    }

    /// Receives every frame of one message, as byte arrays.
    public func receiveMultipartBytes(dontWait: Bool = false) throws -> [[UInt8]]? {
        try receiveMultipart(dontWait: dontWait)?.map(\.bytes)
    }

    /// Whether the last frame received has more frames after it.
    public var hasMoreFrames: Bool {
        get throws { try intOption(ZMQ_RCVMORE, name: "ZMQ_RCVMORE") != 0 }
    }

    /// What the socket is ready for now.
    public var events: ZMQPollEvents {
        get throws { ZMQPollEvents(rawValue: Int16(truncatingIfNeeded: try intOption(ZMQ_EVENTS, name: "ZMQ_EVENTS"))) }
    }

    /// The descriptor libzmq signals on (edge-triggered; see zmq_getsockopt ZMQ_FD).
    public var fileDescriptor: Int32 {
        get throws { try intOption(ZMQ_FD, name: "ZMQ_FD") }
    }

    // MARK: options

    /// ZMQ_ROUTING_ID: this socket's name as peers' ROUTER sockets see it.
    public func setRoutingId(_ id: [UInt8]) throws { try setBytes(ZMQ_ROUTING_ID, id, name: "ZMQ_ROUTING_ID") }

    /// ZMQ_CONNECT_ROUTING_ID: the name a ROUTER gives the peer of its next `connect`.
    public func setConnectRoutingId(_ id: [UInt8]) throws {
        try setBytes(ZMQ_CONNECT_ROUTING_ID, id, name: "ZMQ_CONNECT_ROUTING_ID")
    }

    /// ZMQ_ROUTER_MANDATORY: sending to an unknown peer fails with `.hostUnreachable`.
    public func setRouterMandatory(_ on: Bool) throws { try setInt(ZMQ_ROUTER_MANDATORY, on ? 1 : 0, name: "ZMQ_ROUTER_MANDATORY") }

    /// ZMQ_ROUTER_HANDOVER: a new connection with a known routing id takes it over.
    public func setRouterHandover(_ on: Bool) throws { try setInt(ZMQ_ROUTER_HANDOVER, on ? 1 : 0, name: "ZMQ_ROUTER_HANDOVER") }

    /// ZMQ_PROBE_ROUTER: send an empty message on connect.
    public func setProbeRouter(_ on: Bool) throws { try setInt(ZMQ_PROBE_ROUTER, on ? 1 : 0, name: "ZMQ_PROBE_ROUTER") }

    /// ZMQ_SNDHWM: messages queued per peer before sends block or drop (0: no limit).
    public func setSendHighWaterMark(_ messages: Int32) throws { try setInt(ZMQ_SNDHWM, messages, name: "ZMQ_SNDHWM") }

    /// ZMQ_RCVHWM: messages queued per peer on receive (0: no limit).
    public func setReceiveHighWaterMark(_ messages: Int32) throws { try setInt(ZMQ_RCVHWM, messages, name: "ZMQ_RCVHWM") }

    /// ZMQ_LINGER: how long close keeps unsent messages.
    public func setLinger(milliseconds: Int32) throws {
        try setInt(ZMQ_LINGER, milliseconds, name: "ZMQ_LINGER")
        lingerWasSet = true
    }

    /// ZMTP heartbeats (milliseconds). Answered by libzmq's I/O thread, not the application.
    public func setHeartbeat(interval: Int32, timeout: Int32, ttl: Int32) throws {
        try setInt(ZMQ_HEARTBEAT_IVL, interval, name: "ZMQ_HEARTBEAT_IVL")
        try setInt(ZMQ_HEARTBEAT_TIMEOUT, timeout, name: "ZMQ_HEARTBEAT_TIMEOUT")
        try setInt(ZMQ_HEARTBEAT_TTL, ttl, name: "ZMQ_HEARTBEAT_TTL")
    }

    /// ZMQ_IMMEDIATE: queue messages only to completed connections.
    public func setImmediate(_ on: Bool) throws { try setInt(ZMQ_IMMEDIATE, on ? 1 : 0, name: "ZMQ_IMMEDIATE") }

    /// ZMQ_MAXMSGSIZE: a peer sending a larger message is disconnected (-1: no limit).
    public func setMaxMessageSize(_ bytes: Int64) throws {
        var value = bytes
        try check(zmq_setsockopt(handle, ZMQ_MAXMSGSIZE, &value, MemoryLayout<Int64>.size), "ZMQ_MAXMSGSIZE")
    }

    /// ZMQ_RCVTIMEO: a blocking receive gives up after this long (-1: never).
    public func setReceiveTimeout(milliseconds: Int32) throws { try setInt(ZMQ_RCVTIMEO, milliseconds, name: "ZMQ_RCVTIMEO") }

    /// ZMQ_SNDTIMEO: a blocking send gives up after this long (-1: never).
    public func setSendTimeout(milliseconds: Int32) throws { try setInt(ZMQ_SNDTIMEO, milliseconds, name: "ZMQ_SNDTIMEO") }

    /// ZMQ_RECONNECT_IVL and ZMQ_RECONNECT_IVL_MAX.
    public func setReconnectInterval(milliseconds: Int32, max: Int32) throws {
        try setInt(ZMQ_RECONNECT_IVL, milliseconds, name: "ZMQ_RECONNECT_IVL")
        try setInt(ZMQ_RECONNECT_IVL_MAX, max, name: "ZMQ_RECONNECT_IVL_MAX")
    }

    /// ZMQ_TCP_KEEPALIVE.
    public func setTCPKeepalive(_ on: Bool) throws { try setInt(ZMQ_TCP_KEEPALIVE, on ? 1 : 0, name: "ZMQ_TCP_KEEPALIVE") }

    /// ZMQ_IPV6.
    public func setIPv6(_ on: Bool) throws { try setInt(ZMQ_IPV6, on ? 1 : 0, name: "ZMQ_IPV6") }

    /// Subscribes a SUB socket to messages starting with `prefix` (empty: everything).
    public func subscribe(_ prefix: [UInt8]) throws { try setBytes(ZMQ_SUBSCRIBE, prefix, name: "ZMQ_SUBSCRIBE") }

    /// Removes a subscription.
    public func unsubscribe(_ prefix: [UInt8]) throws { try setBytes(ZMQ_UNSUBSCRIBE, prefix, name: "ZMQ_UNSUBSCRIBE") }

    /// Makes this socket a CURVE server with its Z85 secret key.
    public func setCurveServer(secretKey: String) throws {
        try setInt(ZMQ_CURVE_SERVER, 1, name: "ZMQ_CURVE_SERVER")
        try setBytes(ZMQ_CURVE_SECRETKEY, Array(secretKey.utf8), name: "ZMQ_CURVE_SECRETKEY")
    }

    /// Makes this socket a CURVE client of the server with `serverPublicKey` (all Z85).
    public func setCurveClient(serverPublicKey: String, publicKey: String, secretKey: String) throws {
        try setBytes(ZMQ_CURVE_SERVERKEY, Array(serverPublicKey.utf8), name: "ZMQ_CURVE_SERVERKEY")
        try setBytes(ZMQ_CURVE_PUBLICKEY, Array(publicKey.utf8), name: "ZMQ_CURVE_PUBLICKEY")
        try setBytes(ZMQ_CURVE_SECRETKEY, Array(secretKey.utf8), name: "ZMQ_CURVE_SECRETKEY")
    }

    /// ZMQ_ZAP_DOMAIN: the domain passed to the ZAP handler.
    public func setZAPDomain(_ domain: String) throws { try setBytes(ZMQ_ZAP_DOMAIN, Array(domain.utf8), name: "ZMQ_ZAP_DOMAIN") }

    // MARK: monitor

    /// Publishes this socket's `events` on a PAIR endpoint (`inproc://…`); read them with ``ZMQMonitor``.
    public func startMonitor(endpoint: String, events: ZMQMonitorEvents = .all) throws {
        guard zmq_socket_monitor(handle, endpoint, Int32(events.rawValue)) == 0 else {
            throw ZMQError(call: "zmq_socket_monitor(\(endpoint))")
        }
    }

    // MARK: option plumbing

    private func check(_ result: Int32, _ name: String) throws {
        guard result == 0 else { throw ZMQError(call: "zmq_setsockopt(\(name))") }
    }

    private func setInt(_ option: Int32, _ value: Int32, name: String) throws {
        var value = value
        try check(zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size), name)
    }

    private func setBytes(_ option: Int32, _ value: [UInt8], name: String) throws {
        let result = value.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        try check(result, name)
    }

    private func intOption(_ option: Int32, name: String) throws -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(handle, option, &value, &size) == 0 else {
            throw ZMQError(call: "zmq_getsockopt(\(name))")
        }
        return value
    }

    private func stringOption(_ option: Int32, name: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: 1024)
        var size = buffer.count
        guard zmq_getsockopt(handle, option, &buffer, &size) == 0 else {
            throw ZMQError(call: "zmq_getsockopt(\(name))")
        }
        return ZMQ.string(buffer)
    }
}

@available(*, unavailable, message: "a ZeroMQ socket belongs to one thread")
extension ZMQSocket: Sendable {}

@available(*, unavailable, message: "a ZeroMQ message belongs to one thread")
extension ZMQMessage: Sendable {}
