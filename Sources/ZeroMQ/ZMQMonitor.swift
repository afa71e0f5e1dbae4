import CZeroMQ

/// Socket monitor event kinds (`ZMQ_EVENT_*`), used both to choose events and to name one.
public struct ZMQMonitorEvents: OptionSet, Sendable, Hashable, CustomStringConvertible {
    /// The `ZMQ_EVENT_*` bits.
    public let rawValue: UInt16

    /// Events from `ZMQ_EVENT_*` bits.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// A connection to a remote peer was made.
    public static let connected = Self(rawValue: UInt16(ZMQ_EVENT_CONNECTED))
    /// A connect is pending (asynchronous).
    public static let connectDelayed = Self(rawValue: UInt16(ZMQ_EVENT_CONNECT_DELAYED))
    /// A reconnection is being tried; the value is the reconnect interval.
    public static let connectRetried = Self(rawValue: UInt16(ZMQ_EVENT_CONNECT_RETRIED))
    /// The socket is listening on an endpoint.
    public static let listening = Self(rawValue: UInt16(ZMQ_EVENT_LISTENING))
    /// A bind failed; the value is the errno.
    public static let bindFailed = Self(rawValue: UInt16(ZMQ_EVENT_BIND_FAILED))
    /// A connection from a peer was accepted.
    public static let accepted = Self(rawValue: UInt16(ZMQ_EVENT_ACCEPTED))
    /// Accepting a connection failed; the value is the errno.
    public static let acceptFailed = Self(rawValue: UInt16(ZMQ_EVENT_ACCEPT_FAILED))
    /// A connection's file descriptor was closed.
    public static let closed = Self(rawValue: UInt16(ZMQ_EVENT_CLOSED))
    /// Closing a file descriptor failed; the value is the errno.
    public static let closeFailed = Self(rawValue: UInt16(ZMQ_EVENT_CLOSE_FAILED))
    /// A session was broken unexpectedly.
    public static let disconnected = Self(rawValue: UInt16(ZMQ_EVENT_DISCONNECTED))
    /// Monitoring stopped; the last event.
    public static let monitorStopped = Self(rawValue: UInt16(ZMQ_EVENT_MONITOR_STOPPED))
    /// A security handshake failed for a reason other than protocol or authentication.
    public static let handshakeFailedNoDetail = Self(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL))
    /// The security handshake succeeded.
    public static let handshakeSucceeded = Self(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_SUCCEEDED))
    /// The handshake failed on a ZMTP protocol error; the value is the `ZMQ_PROTOCOL_ERROR_*`.
    public static let handshakeFailedProtocol = Self(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL))
    /// The handshake failed because authentication was refused; the value is the ZAP status.
    public static let handshakeFailedAuth = Self(rawValue: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
    /// Every event.
    public static let all = Self(rawValue: UInt16(ZMQ_EVENT_ALL))

    private static let names: [(Self, String)] = [
        (.connected, "connected"), (.connectDelayed, "connectDelayed"), (.connectRetried, "connectRetried"),
        (.listening, "listening"), (.bindFailed, "bindFailed"), (.accepted, "accepted"),
        (.acceptFailed, "acceptFailed"), (.closed, "closed"), (.closeFailed, "closeFailed"),
        (.disconnected, "disconnected"), (.monitorStopped, "monitorStopped"),
        (.handshakeFailedNoDetail, "handshakeFailedNoDetail"), (.handshakeSucceeded, "handshakeSucceeded"),
        (.handshakeFailedProtocol, "handshakeFailedProtocol"), (.handshakeFailedAuth, "handshakeFailedAuth"),
    ]

    /// The names of the events in the set, e.g. `[accepted]`.
    public var description: String {
        "[" + Self.names.filter { contains($0.0) }.map(\.1).joined(separator: ", ") + "]"
    }
}

/// One event reported by a socket monitor.
public struct ZMQMonitorEvent: Sendable, Hashable {
    /// The event kind (a single bit).
    public var event: ZMQMonitorEvents
    /// The event's value: a file descriptor, errno, interval or status, depending on the kind.
    public var value: Int32
    /// The endpoint the event concerns, e.g. `tcp://127.0.0.1:41234`.
    public var endpoint: String

    /// An event with every field given.
    public init(event: ZMQMonitorEvents, value: Int32, endpoint: String) {
        self.event = event
        self.value = value
        self.endpoint = endpoint
    }
}

/// Reads the events of a socket monitored with ``ZMQSocket/startMonitor(endpoint:events:file:line:)``:
/// a PAIR socket connected to the monitor endpoint. Owned by one thread.
public final class ZMQMonitor {
    /// The PAIR socket the events arrive on; poll it to wait for events.
    public let socket: ZMQSocket

    /// Connects to a monitor endpoint (an inproc endpoint in the same context).
    ///
    /// Once this end holds `unreadLimit` unread events (0: no limit) and the monitored
    /// socket's end its own 1,000, the next event blocks the libzmq I/O thread that sends it
    /// (see ``ZMQSocket/startMonitor(endpoint:events:file:line:)``): a monitor read only now
    /// and then, or only when something went wrong, sets none.
    public init(
        context: ZMQContext, endpoint: String, unreadLimit: Int32 = 1_000, file: String = #fileID, line: Int = #line
    ) throws(ZMQError) {
        socket = try ZMQSocket(context: context, type: .pair, file: file, line: line)
        try socket.setReceiveHighWaterMark(unreadLimit, file: file, line: line)
        try socket.connect(endpoint, file: file, line: line)
    }

    /// The next event; nil when none is waiting (`dontWait`) or the socket's receive timeout expired.
    public func next(dontWait: Bool = false, file: String = #fileID, line: Int = #line) throws(ZMQError) -> ZMQMonitorEvent? {
        guard let frames = try socket.receiveMultipartBytes(dontWait: dontWait, file: file, line: line) else {
            return nil
        }
        return try Self.decode(frames, file: file, line: line)
    }

    /// Reads the two frames of one monitor event.
    static func decode(_ frames: [[UInt8]], file: String = #fileID, line: Int = #line) throws(ZMQError) -> ZMQMonitorEvent {
        guard frames.count == 2, frames[0].count == 6 else {
            throw ZMQError(
                code: .invalidArgument, call: "zmq_socket_monitor",
                message: "malformed monitor event: \(frames.count) frames", file: file, line: line)
        }
        let header = frames[0]
        // The event number and value are in the machine's byte order (little-endian here).
        let event = UInt16(header[0]) | UInt16(header[1]) << 8
        let value = UInt32(header[2]) | UInt32(header[3]) << 8 | UInt32(header[4]) << 16 | UInt32(header[5]) << 24
        return ZMQMonitorEvent(
            event: ZMQMonitorEvents(rawValue: event), value: Int32(bitPattern: value),
            endpoint: String(decoding: frames[1], as: UTF8.self))
    }

    /// Closes the monitor's socket. Idempotent.
    public func close() { socket.close() }
}

@available(*, unavailable, message: "a ZMQMonitor belongs to one thread")
extension ZMQMonitor: Sendable {}
