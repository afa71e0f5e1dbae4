import CZeroMQ

/// Socket events a monitor reports (`ZMQ_EVENT_*`).
public struct ZMQMonitorEvents: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let connected = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_CONNECTED))
    public static let connectDelayed = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_CONNECT_DELAYED))
    public static let connectRetried = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_CONNECT_RETRIED))
    public static let listening = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_LISTENING))
    public static let bindFailed = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_BIND_FAILED))
    public static let accepted = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_ACCEPTED))
    public static let acceptFailed = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_ACCEPT_FAILED))
    public static let closed = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_CLOSED))
    public static let closeFailed = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_CLOSE_FAILED))
    public static let disconnected = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_DISCONNECTED))
    public static let monitorStopped = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_MONITOR_STOPPED))
    public static let handshakeFailedNoDetail = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL))
    public static let handshakeSucceeded = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_SUCCEEDED))
    public static let handshakeFailedProtocol = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL))
    public static let handshakeFailedAuth = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
    public static let all = ZMQMonitorEvents(rawValue: UInt16(ZMQ_EVENT_ALL))
}

/// One monitor event: what happened, its value (a descriptor, an errno or an interval),
/// and the endpoint it concerns (for a connecting socket, the endpoint it connected to).
public struct ZMQMonitorEvent: Sendable, Hashable {
    /// What happened (a single flag).
    public var event: ZMQMonitorEvents
    /// The event's value.
    public var value: Int32
    /// The endpoint concerned.
    public var endpoint: String
}

/// Reads the events a socket publishes after ``ZMQSocket/startMonitor(endpoint:events:)``.
public final class ZMQMonitor {
    /// The PAIR socket the events arrive on (add it to a ``ZMQPoller``).
    public let socket: ZMQSocket

    /// Connects to a monitor endpoint.
    public init(context: ZMQContext, endpoint: String) throws {
        socket = try ZMQSocket(context: context, type: .pair)
        try socket.connect(endpoint)
    }

    /// The next event; nil when none is waiting (with `dontWait`).
    public func next(dontWait: Bool = false) throws -> ZMQMonitorEvent? {
        guard let frames = try socket.receiveMultipartBytes(dontWait: dontWait), frames.count >= 2,
            frames[0].count >= 6
        else { return nil }
        let head = frames[0]
        let event = UInt16(head[0]) | UInt16(head[1]) << 8
        let value = Int32(bitPattern: UInt32(head[2]) | UInt32(head[3]) << 8 | UInt32(head[4]) << 16 | UInt32(head[5]) << 24)
        return ZMQMonitorEvent(
            event: ZMQMonitorEvents(rawValue: event), value: value,
            endpoint: String(decoding: frames[1], as: UTF8.self))
    }

    /// Closes the monitor's socket.
    public func close() {
        socket.close()
    }
}

@available(*, unavailable, message: "a monitor belongs to one thread")
extension ZMQMonitor: Sendable {}
