import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// The libzmq socket types available without the draft API.
public enum ZMQSocketType: Sendable, Hashable {
    case pair, pub, sub, req, rep, dealer, router, pull, push, xpub, xsub, stream

    /// The `ZMQ_*` constant.
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

/// A libzmq socket, owned by one thread.
///
/// The socket keeps its context alive. ``close()`` (or `deinit`) closes it with LINGER 0 unless
/// a linger period was set explicitly; neither ever terminates the context.
public final class ZMQSocket {
    /// The context the socket belongs to; held so it outlives the socket.
    public let context: ZMQContext
    /// The socket type.
    public let type: ZMQSocketType
    /// The `void *` socket handle; nil once closed.
    private(set) var handle: UnsafeMutableRawPointer?
    /// Whether ``setLinger(milliseconds:)`` was called, so ``close()`` keeps that period.
    private var lingerWasSet = false
    /// Whether libzmq's last look at the socket found no message to read and processed every
    /// command sent to it (a receive that found nothing, or ``events`` without
    /// ``ZMQPollEvents/readable``). Until the next call on the socket, anything that changes
    /// what it can do arrives as a command, and a command signals ``fileDescriptor``: a
    /// ``ZMQPoller`` then need not ask ``events`` before it sleeps. Any other call (a send, a
    /// received message, a bind) may process commands unseen, and clears it.
    private(set) var isSettled = false
    /// ``fileDescriptor``, read once: it is the socket's for its whole life.
    private var cachedFileDescriptor: Int32?

    /// Creates a socket of a type in a context.
    public init(
        context: ZMQContext, type: ZMQSocketType, file: String = #fileID, line: Int = #line
    ) throws(ZMQError) {
        self.context = context
        self.type = type
        self.handle = try context.makeSocketHandle(type: type.rawValue, file: file, line: line)
    }

    deinit { close() }

    /// Whether ``close()`` has been called.
    public var isClosed: Bool { handle == nil }

    /// Closes the socket; unsent messages are dropped unless a linger period was set explicitly.
    /// Idempotent.
    public func close() {
        guard let handle else { return }
        if !lingerWasSet {
            var zero: Int32 = 0
            zmq_setsockopt(handle, ZMQ_LINGER, &zero, MemoryLayout<Int32>.size)
        }
        zmq_close(handle)
        self.handle = nil
    }

    /// The open handle, or ENOTSOCK when closed.
    func openHandle(call: @autoclosure () -> String, file: String, line: Int) throws(ZMQError) -> UnsafeMutableRawPointer {
        // Every call may process the socket's commands; only the two that say so settle it.
        isSettled = false
        guard let handle else {
            throw ZMQError(code: .notSocket, call: call(), message: "the socket is closed", file: file, line: line)
        }
        return handle
    }

    // MARK: Endpoints

    /// Binds to an endpoint, e.g. `tcp://127.0.0.1:0` (an OS-chosen port; see ``lastEndpoint``)
    /// or `inproc://name`.
    public func bind(_ endpoint: String, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try endpointCall("zmq_bind", endpoint, file: file, line: line, zmq_bind)
    }

    /// Connects to an endpoint; the connection is made (and remade) in the background.
    public func connect(_ endpoint: String, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try endpointCall("zmq_connect", endpoint, file: file, line: line, zmq_connect)
    }

    /// Stops listening on a bound endpoint (use the ``lastEndpoint`` form for wildcard binds).
    public func unbind(_ endpoint: String, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try endpointCall("zmq_unbind", endpoint, file: file, line: line, zmq_unbind)
    }

    /// Disconnects from a connected endpoint.
    public func disconnect(_ endpoint: String, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        try endpointCall("zmq_disconnect", endpoint, file: file, line: line, zmq_disconnect)
    }

    private func endpointCall(
        _ name: String, _ endpoint: String, file: String, line: Int,
        _ function: (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Int32
    ) throws(ZMQError) {
        let call = "\(name)(\(endpoint))"
        // libzmq reads a TCP port modulo 65536 (`:70000` binds 4464, `:-1` 65535): refused here.
        if let parsed = ZMQEndpoint(endpoint), parsed.scheme == "tcp", let port = parsed.portText, port != "*",
            parsed.port(in: 0...65_535) == nil
        {
            throw ZMQError(
                code: .invalidArgument, call: call, message: "the port '\(port)' is not a number from 0 to 65535",
                file: file, line: line)
        }
        let handle = try openHandle(call: call, file: file, line: line)
        // libzmq takes an IPv6 address (`tcp://[::1]:PORT`) only on a socket with ZMQ_IPV6 set,
        // and fails with "No such device" otherwise. Set for this call alone: libzmq copies the
        // option when the bind or connect is made, and a socket left with it would resolve names
        // such as localhost to their IPv6 address first, where a peer may listen on IPv4 only.
        let ipv6 = ZMQEndpoint(endpoint).map { $0.scheme == "tcp" && ($0.host?.hasPrefix("[") ?? false) } ?? false
        if ipv6 { try setOption(ZMQ_IPV6, name: "ZMQ_IPV6", value: Int32(1), file: file, line: line) }
        defer { if ipv6 { try? setOption(ZMQ_IPV6, name: "ZMQ_IPV6", value: Int32(0), file: file, line: line) } }
        guard function(handle, endpoint) == 0 else {
            throw ZMQError.last(call: call, file: file, line: line)
        }
    }

    /// The endpoint last bound or connected (ZMQ_LAST_ENDPOINT), e.g. `tcp://127.0.0.1:41234`.
    public var lastEndpoint: String {
        get throws(ZMQError) { try stringOption(ZMQ_LAST_ENDPOINT, name: "ZMQ_LAST_ENDPOINT") }
    }

    // MARK: Sending

    /// Sends one frame (copied). Returns false when the frame could not be queued without
    /// blocking (`dontWait`) or before the send timeout.
    @discardableResult
    public func send(
        _ frame: [UInt8], more: Bool = false, dontWait: Bool = false,
        file: String = #fileID, line: Int = #line
    ) throws(ZMQError) -> Bool {
        try send(frame[...], more: more, dontWait: dontWait, file: file, line: line)
    }

    /// Sends one frame (copied) from a slice of bytes. Returns false when the frame could not be
    /// queued without blocking (`dontWait`) or before the send timeout.
    @discardableResult
    public func send(
        _ frame: ArraySlice<UInt8>, more: Bool = false, dontWait: Bool = false,
        file: String = #fileID, line: Int = #line
    ) throws(ZMQError) -> Bool {
        let handle = try openHandle(call: "zmq_send", file: file, line: line)
        let flags = Self.sendFlags(more: more, dontWait: dontWait)
        while true {
            let rc = frame.withUnsafeBytes { buffer in
                zmq_send(handle, buffer.baseAddress, buffer.count, flags)
            }
            if rc >= 0 { return true }
            let code = ZMQError.lastCode
            switch code {
            case .interrupted: continue
            case .again: return false
            default: throw ZMQError(code: code, call: "zmq_send", file: file, line: line)
            }
        }
    }

    /// Sends a message without copying its body, e.g. forwarding a received frame.
    /// On success the message is left empty. Returns false when it could not be queued without
    /// blocking (`dontWait`) or before the send timeout; the message is then unchanged.
    @discardableResult
    public func send(
        _ message: consuming ZMQMessage, more: Bool = false, dontWait: Bool = false,
        file: String = #fileID, line: Int = #line
    ) throws(ZMQError) -> Bool {
        let handle = try openHandle(call: "zmq_msg_send", file: file, line: line)
        let flags = Self.sendFlags(more: more, dontWait: dontWait)
        while true {
            if zmq_msg_send(message.pointer, handle, flags) >= 0 { return true }
            let code = ZMQError.lastCode
            switch code {
            case .interrupted: continue
            case .again: return false
            default: throw ZMQError(code: code, call: "zmq_msg_send", file: file, line: line)
            }
        }
    }

    /// Sends a countable message (``ZMQMessage/init(countableCopyOf:)``) as
    /// ``send(_:more:dontWait:file:line:)`` does, counting its bytes in `held` from now until
    /// libzmq lets it go. A message not sent (false, or an error) is not counted.
    @discardableResult
    public func send(
        _ message: ZMQMessage, more: Bool = false, dontWait: Bool = false, countingIn held: ZMQHeldBytes,
        file: String = #fileID, line: Int = #line
    ) throws(ZMQError) -> Bool {
        precondition(message.isCountable, "only a countable message can be counted")
        let releaseCount = message.releaseCount
        releaseCount?.attach(to: held)
        let sent: Bool
        do {
            sent = try send(message, more: more, dontWait: dontWait, file: file, line: line)
        } catch {
            releaseCount?.detach()
            throw error
        }
        if sent {
            message.releaseCount = nil
        } else {
            releaseCount?.detach()
        }
        return sent
    }

    /// Sends a multipart message. The message is atomic: if the first frame cannot be queued
    /// (`dontWait` or the send timeout) nothing is sent and the result is false.
    /// An empty list of frames is an invalid argument.
    @discardableResult
    public func send(
        multipart frames: [[UInt8]], dontWait: Bool = false,
        file: String = #fileID, line: Int = #line
    ) throws(ZMQError) -> Bool {
        guard let last = frames.indices.last else {
            throw ZMQError(
                code: .invalidArgument, call: "zmq_send", message: "a message has at least one frame",
                file: file, line: line)
        }
        for index in frames.indices {
            // Once the first frame is queued libzmq accepts the rest of the message.
            let sent = try send(
                frames[index], more: index != last, dontWait: dontWait && index == 0, file: file, line: line)
            if !sent { return false }
        }
        return true
    }

    private static func sendFlags(more: Bool, dontWait: Bool) -> Int32 {
        (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
    }

    // MARK: Receiving

    /// Receives one frame. Returns nil when none is waiting (`dontWait`) or the receive timeout
    /// expired.
    public func receive(dontWait: Bool = false, file: String = #fileID, line: Int = #line) throws(ZMQError) -> ZMQMessage? {
        let handle = try openHandle(call: "zmq_msg_recv", file: file, line: line)
        let message = ZMQMessage()
        let flags = dontWait ? ZMQ_DONTWAIT : 0
        while true {
            if zmq_msg_recv(message.pointer, handle, flags) >= 0 { return message }
            let code = ZMQError.lastCode
            switch code {
            case .interrupted: continue
            case .again:
                if dontWait { markSettled() }
                return nil
            default: throw ZMQError(code: code, call: "zmq_msg_recv", file: file, line: line)
            }
        }
    }

    /// Receives all frames of one message. Returns nil when none is waiting (`dontWait`) or the
    /// receive timeout expired.
    public func receiveMultipart(dontWait: Bool = false, file: String = #fileID, line: Int = #line) throws(ZMQError) -> [ZMQMessage]? {
        guard let first = try receive(dontWait: dontWait, file: file, line: line) else { return nil }
        var frames = [first]
        while frames[frames.count - 1].more {
            // The rest of a message arrives together with its first frame.
            guard let next = try receive(dontWait: false, file: file, line: line) else { break }
            frames.append(next)
        }
        return frames
    }

    /// Receives all frames of one message as byte arrays. Returns nil when none is waiting
    /// (`dontWait`) or the receive timeout expired.
    public func receiveMultipartBytes(dontWait: Bool = false, file: String = #fileID, line: Int = #line) throws(ZMQError) -> [[UInt8]]? {
        try receiveMultipart(dontWait: dontWait, file: file, line: line)?.map(\.bytes)
    }

    /// Whether the frame last received is followed by more frames of the same message (ZMQ_RCVMORE).
    public var hasMoreFrames: Bool {
        get throws(ZMQError) { try int32Option(ZMQ_RCVMORE, name: "ZMQ_RCVMORE") != 0 }
    }

    /// Whether the socket can be read or written now (ZMQ_EVENTS), edge-triggered with ``fileDescriptor``.
    public var events: ZMQPollEvents {
        get throws(ZMQError) {
            let events = ZMQPollEvents(rawValue: Int16(truncatingIfNeeded: try int32Option(ZMQ_EVENTS, name: "ZMQ_EVENTS")))
            // Asking processes every pending command.
            if !events.contains(.readable) { markSettled() }
            return events
        }
    }

    /// The file descriptor that signals (edge-triggered) that ``events`` may have changed (ZMQ_FD).
    public var fileDescriptor: Int32 {
        get throws(ZMQError) {
            if let cachedFileDescriptor { return cachedFileDescriptor }
            let settled = isSettled
            let descriptor = try int32Option(ZMQ_FD, name: "ZMQ_FD")
            // Reading ZMQ_FD processes no command.
            isSettled = settled
            cachedFileDescriptor = descriptor
            return descriptor
        }
    }

    /// Records that libzmq just processed every command and found nothing to read.
    func markSettled() { isSettled = true }

    // MARK: Monitoring

    /// Publishes this socket's connection events on an inproc PAIR endpoint; read them with a
    /// ``ZMQMonitor`` on the same context.
    ///
    /// - Important: keep the monitor's PAIR open, and reading, until the monitor is stopped
    ///   (``stopMonitor(file:line:)``) or this socket is closed and its context terminated.
    ///   libzmq 4.3.4 sends each event with a blocking send: an event with no PAIR left to take
    ///   it (or too many unread: ``ZMQMonitor/init(context:endpoint:unreadLimit:file:line:)``)
    ///   blocks the I/O thread that sends it, and with it the context's other connections,
    ///   until the context terminates. A socket closed just before its
    ///   PAIR keeps its connections open so; ``ZMQContextScope`` closes its monitors last.
    public func startMonitor(
        endpoint: String, events: ZMQMonitorEvents = .all, file: String = #fileID, line: Int = #line
    ) throws(ZMQError) {
        let call = "zmq_socket_monitor(\(endpoint))"
        let handle = try openHandle(call: call, file: file, line: line)
        guard zmq_socket_monitor(handle, endpoint, Int32(events.rawValue)) == 0 else {
            throw ZMQError.last(call: call, file: file, line: line)
        }
    }

    /// Stops publishing connection events (the monitor receives `.monitorStopped`).
    public func stopMonitor(file: String = #fileID, line: Int = #line) throws(ZMQError) {
        let handle = try openHandle(call: "zmq_socket_monitor", file: file, line: line)
        guard zmq_socket_monitor(handle, nil, 0) == 0 else {
            throw ZMQError.last(call: "zmq_socket_monitor", file: file, line: line)
        }
    }

    // MARK: Raw options (internal)

    func setOption(
        _ option: Int32, name: String, bytes: some Collection<UInt8>, file: String = #fileID, line: Int = #line
    ) throws(ZMQError) {
        let call = "zmq_setsockopt(\(name))"
        let handle = try openHandle(call: call, file: file, line: line)
        let value = Array(bytes)
        let rc = value.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw ZMQError.last(call: call, file: file, line: line) }
    }

    func setOption<Value: FixedWidthInteger>(
        _ option: Int32, name: String, value: Value, file: String = #fileID, line: Int = #line
    ) throws(ZMQError) {
        let call = "zmq_setsockopt(\(name))"
        let handle = try openHandle(call: call, file: file, line: line)
        var value = value
        guard zmq_setsockopt(handle, option, &value, MemoryLayout<Value>.size) == 0 else {
            throw ZMQError.last(call: call, file: file, line: line)
        }
    }

    func int32Option(_ option: Int32, name: String, file: String = #fileID, line: Int = #line) throws(ZMQError) -> Int32 {
        let call = "zmq_getsockopt(\(name))"
        let handle = try openHandle(call: call, file: file, line: line)
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(handle, option, &value, &size) == 0 else {
            throw ZMQError.last(call: call, file: file, line: line)
        }
        return value
    }

    func bytesOption(_ option: Int32, name: String, capacity: Int = 256, file: String = #fileID, line: Int = #line) throws(ZMQError) -> [UInt8] {
        let call = "zmq_getsockopt(\(name))"
        let handle = try openHandle(call: call, file: file, line: line)
        var buffer = [UInt8](repeating: 0, count: capacity)
        var size = capacity
        let rc = buffer.withUnsafeMutableBytes { zmq_getsockopt(handle, option, $0.baseAddress, &size) }
        guard rc == 0 else { throw ZMQError.last(call: call, file: file, line: line) }
        return Array(buffer.prefix(size))
    }

    func stringOption(_ option: Int32, name: String, file: String = #fileID, line: Int = #line) throws(ZMQError) -> String {
        let bytes = try bytesOption(option, name: name, capacity: 1024, file: file, line: line)
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    func markLingerSet() { lingerWasSet = true }
}

@available(*, unavailable, message: "a ZMQSocket belongs to one thread")
extension ZMQSocket: Sendable {}
