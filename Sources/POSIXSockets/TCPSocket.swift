import CCloseOnExec

#if canImport(Glibc)
import Glibc
#endif

/// Non-blocking TCP sockets as plain descriptors, for a caller that polls them in its own poll
/// set (the broker polls them beside its ZeroMQ sockets, so no thread of their own). Every
/// descriptor made here is closed on exec from its first instant (`SOCK_CLOEXEC`): a process
/// started by this one (the Swift runtime's crash reporter, say) inherits no listening socket,
/// which would hold its port for as long as that process lives, and no connection.
public enum TCPSocket {
    /// A connection taken from a listening socket.
    public struct Accepted: Sendable {
        /// The connection's descriptor (non-blocking, `TCP_NODELAY`).
        public let descriptor: Int32
        /// The peer as `a.b.c.d:port`.
        public let peer: String
        /// Whether the peer is on the loopback network (127.0.0.0/8).
        public let isLoopback: Bool
    }

    /// The outcome of a non-blocking read.
    public enum ReadResult: Sendable, Equatable {
        /// This many bytes were appended.
        case bytes(Int)
        /// Nothing to read now.
        case wouldBlock
        /// The peer closed the connection, or it failed.
        case closed
    }

    /// Why a server could not bind a listening socket at `host:port` now (a port another
    /// process listens on, an address this host does not have): the system's reason, or nil
    /// when it could. Binds one as a server does (`SO_REUSEADDR`, any address family `host`
    /// resolves to) and closes it. Nil as well for a name that does not resolve, which the
    /// server reports in its own words. The server's own bind stays the final word: the port
    /// may be taken in between.
    public static func bindFailure(host: String, port: Int) -> String? {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else { return nil }
        defer { freeaddrinfo(found) }
        let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { Glibc.close(descriptor) }
        var one: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard Glibc.bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            return String(cString: strerror(errno))
        }
        return nil
    }

    /// Binds and listens on `host:port`, non-blocking. `host` is an IPv4 address, `*` (every
    /// interface), or a name, which is looked up (blocking) and its first IPv4 address taken;
    /// port 0 takes any free port. Returns the descriptor and the port bound.
    public static func listen(host: String, port: Int) throws(SocketError) -> (descriptor: Int32, port: Int) {
        guard (0...65_535).contains(port) else {
            throw SocketError(.invalidAddress, "\(port) is not a TCP port (0 to 65535)")
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        if host == "*" {
            address.sin_addr.s_addr = INADDR_ANY
        } else if let literal = IPv4Address.literal(host) {
            address.sin_addr.s_addr = literal
        } else {
            switch IPv4Address.resolve(host) {
            case .success(let found): address.sin_addr.s_addr = found
            case .failure(let error):
                throw SocketError(.nameLookup, "cannot resolve \(host): \(error.message)")
            }
        }
        let descriptor = socket(AF_INET, streamType, 0)
        guard descriptor >= 0 else { throw .lastSystemCall("cannot open a socket") }
        setOption(descriptor, SOL_SOCKET, SO_REUSEADDR, 1)
        guard bind(descriptor, to: &address) == 0, Glibc.listen(descriptor, 128) == 0 else {
            let error = SocketError.lastSystemCall("cannot listen on \(host):\(port)")
            Glibc.close(descriptor)
            throw error
        }
        return (descriptor, boundPort(descriptor))
    }

    /// Binds and listens on `host:port` for a server of any address family (the HTTP side):
    /// `host` an IPv4 or IPv6 address or a name, looked up (blocking) as
    /// ``bindFailure(host:port:)`` looks it up, its first address taken; an IPv6 socket takes
    /// IPv4 connections too (`IPV6_V6ONLY` off, so `::` is every address). `SO_REUSEADDR`,
    /// non-blocking; port 0 takes any free port. Returns the descriptor and the port bound.
    public static func listen(
        anyFamilyHost host: String, port: Int, backlog: Int32 = 256
    ) throws(SocketError) -> (descriptor: Int32, port: Int) {
        guard (0...65_535).contains(port) else {
            throw SocketError(.invalidAddress, "\(port) is not a TCP port (0 to 65535)")
        }
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &found)
        guard status == 0, let first = found else {
            throw SocketError(.nameLookup, "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(found) }
        let descriptor = socket(first.pointee.ai_family, streamType, 0)
        guard descriptor >= 0 else { throw .lastSystemCall("cannot open a socket") }
        setOption(descriptor, SOL_SOCKET, SO_REUSEADDR, 1)
        if first.pointee.ai_family == AF_INET6 { setOption(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0) }
        guard Glibc.bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0,
            Glibc.listen(descriptor, backlog) == 0
        else {
            let error = SocketError.lastSystemCall("cannot listen on \(host):\(port)")
            Glibc.close(descriptor)
            throw error
        }
        return (descriptor, boundPort(descriptor))
    }

    /// Accepts one pending connection on a listening socket of any address family, as a
    /// descriptor non-blocking and closed on exec from the start, with no option set (for a
    /// library that sets its own); nil when none is waiting (or the one waiting was aborted).
    /// Throws as ``acceptNext(_:)`` does.
    public static func acceptDescriptor(_ listener: Int32) throws(SocketError) -> Int32? {
        try acceptedDescriptor(mserve_accept_cloexec(listener, nil, nil))
    }

    /// What `accept4` returned, read: the descriptor; nil when no connection was waiting (or
    /// the one waiting was aborted, or a signal came); thrown, any other failure.
    private static func acceptedDescriptor(_ result: Int32) throws(SocketError) -> Int32? {
        guard result >= 0 else {
            switch errno {
            case EAGAIN, EWOULDBLOCK, EINTR, ECONNABORTED: return nil
            default: throw .lastSystemCall("cannot accept a connection")
            }
        }
        return result
    }

    /// Waits up to `milliseconds` (-1: without end) for any of `descriptors` to be readable
    /// (or closed, or failed); returns those that are, none when the time ran out or a signal
    /// came.
    public static func waitReadable(_ descriptors: [Int32], milliseconds: Int) -> [Int32] {
        var items = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        guard poll(&items, nfds_t(items.count), Int32(clamping: milliseconds)) > 0 else { return [] }
        return items.filter { $0.revents != 0 }.map(\.fd)
    }

    /// Accepts one pending connection on a listening descriptor; nil when none is waiting, or
    /// when accepting failed (see ``acceptNext(_:)`` for why).
    public static func accept(_ listener: Int32) -> Accepted? {
        (try? acceptNext(listener)) ?? nil
    }

    /// Accepts one pending connection on a listening descriptor, non-blocking and closed on
    /// exec from the start (`accept4`); nil when none is waiting (or the one waiting was
    /// aborted). Throws when accepting fails, as when the process is out of file descriptors:
    /// the connection then stays pending and the listener readable, so a caller polling it
    /// must pause rather than spin.
    public static func acceptNext(_ listener: Int32) throws(SocketError) -> Accepted? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { mserve_accept_cloexec(listener, $0, &length) }
        }
        guard let descriptor = try acceptedDescriptor(result) else { return nil }
        setOption(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        // A fixed kernel send buffer, so that what a peer leaves unread is bounded by the
        // caller's own buffer rather than by TCP autotuning (up to megabytes).
        setOption(descriptor, SOL_SOCKET, SO_SNDBUF, 256 << 10)
        return Accepted(
            descriptor: descriptor,
            peer: "\(IPv4Address.text(address.sin_addr.s_addr)):\(UInt16(bigEndian: address.sin_port))",
            isLoopback: UInt32(bigEndian: address.sin_addr.s_addr) >> 24 == 127)
    }

    /// Starts a non-blocking connect to `address` (IPv4, network byte order) and `port`; the
    /// descriptor turns writable when it is done (see ``connectSucceeded(_:)``).
    public static func connect(address: UInt32, port: Int) throws(SocketError) -> Int32 {
        let descriptor = socket(AF_INET, streamType, 0)
        guard descriptor >= 0 else { throw .lastSystemCall("cannot open a socket") }
        setOption(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        var peer = sockaddr_in()
        peer.sin_family = sa_family_t(AF_INET)
        peer.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        peer.sin_addr.s_addr = address
        let result = withUnsafePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result != 0 && errno != EINPROGRESS {
            let error = SocketError.lastSystemCall("cannot connect to \(IPv4Address.text(address)):\(port)")
            Glibc.close(descriptor)
            throw error
        }
        return descriptor
    }

    /// Whether a non-blocking connect finished without error.
    public static func connectSucceeded(_ descriptor: Int32) -> Bool {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0
    }

    /// Reads what is available, appending at most `limit` bytes to `buffer`.
    public static func read(_ descriptor: Int32, into buffer: inout [UInt8], limit: Int) -> ReadResult {
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: limit))
        let count = buffer.withUnsafeMutableBytes { raw in
            recv(descriptor, raw.baseAddress! + start, limit, 0)
        }
        if count > 0 {
            buffer.removeLast(limit - count)
            return .bytes(count)
        }
        buffer.removeLast(limit)
        if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return .wouldBlock }
        return .closed
    }

    /// Writes as much of `bytes` as the socket takes now, from where they lie, and returns how
    /// much that was; nil when the peer has gone.
    public static func write(_ descriptor: Int32, _ bytes: RawSpan) -> Int? {
        guard bytes.byteCount > 0 else { return 0 }
        let count = bytes.withUnsafeBytes { raw in
            send(descriptor, raw.baseAddress!, raw.count, Int32(MSG_NOSIGNAL))
        }
        if count >= 0 { return count }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return 0 }
        return nil
    }

    /// Writes as much of `bytes[offset...]` as the socket takes now and returns how much that
    /// was; nil when the peer has gone.
    public static func write(_ descriptor: Int32, _ bytes: [UInt8], from offset: Int) -> Int? {
        guard offset < bytes.count else { return 0 }
        let count = bytes.withUnsafeBytes { raw in
            send(descriptor, raw.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
        }
        if count >= 0 { return count }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return 0 }
        return nil
    }

    /// Waits up to `milliseconds` for `descriptor` to take more bytes.
    public static func waitWritable(_ descriptor: Int32, milliseconds: Int) {
        var item = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        _ = poll(&item, 1, Int32(clamping: milliseconds))
    }

    /// Closes a descriptor.
    public static func close(_ descriptor: Int32) {
        Glibc.close(descriptor)
    }

    /// Closes a connection with a reset: unsent bytes are discarded, and a peer that stopped
    /// reading learns of it at once.
    public static func abort(_ descriptor: Int32) {
        var abort = linger(l_onoff: 1, l_linger: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<linger>.size))
        Glibc.close(descriptor)
    }

    /// The local IPv4 address a socket is bound to (network byte order; `INADDR_ANY`, 0, for
    /// every interface); nil when it cannot be read.
    public static func boundAddress(_ descriptor: Int32) -> UInt32? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let status = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return status == 0 ? address.sin_addr.s_addr : nil
    }

    /// The local port a socket is bound to; 0 when it cannot be read.
    static func boundPort(_ descriptor: Int32) -> Int {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard status == 0 else { return 0 }
        // The port lies at the same place in an IPv4 and an IPv6 address.
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    /// Binds `descriptor` to an IPv4 address; the system call's status.
    static func bind(_ descriptor: Int32, to address: inout sockaddr_in) -> Int32 {
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    private static func setOption(_ descriptor: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        setsockopt(descriptor, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A TCP socket's type: a stream, non-blocking and closed on exec from its creation.
    static let streamType = Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
}
