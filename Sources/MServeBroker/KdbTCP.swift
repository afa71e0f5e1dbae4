#if canImport(Glibc)
import Glibc
#endif

/// Thin non-blocking TCP helpers over the C socket API for the kdb+ IPC door. The door polls
/// these descriptors in the broker's own `zmq_poll` set, so no extra thread is needed.
enum KdbTCP {
    /// The outcome of a non-blocking read.
    enum ReadResult {
        case bytes(Int)
        case wouldBlock
        case closed
    }

    /// Binds and listens on `host:port` (port 0: any free port); returns the descriptor and
    /// the real port.
    static func listen(host: String, port: Int) throws(BrokerError) -> (descriptor: Int32, port: Int) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BrokerError(.socket, "socket(): \(errorText())") }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        let bindHost = host == "*" ? "0.0.0.0" : host
        guard inet_pton(AF_INET, bindHost, &address.sin_addr) == 1 else {
            close(descriptor)
            throw BrokerError(.configuration, "the kdb+ door host \(host) is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, Glibc.listen(descriptor, 128) == 0 else {
            let text = errorText()
            close(descriptor)
            throw BrokerError(.socket, "cannot listen for kdb+ IPC on \(host):\(port): \(text)")
        }
        setNonBlocking(descriptor)
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return (descriptor, Int(UInt16(bigEndian: actual.sin_port)))
    }

    /// Accepts one pending connection; nil when none is waiting. Also says whether the peer
    /// is on the loopback interface (kdb+ never compresses for those).
    static func accept(_ listener: Int32) -> (descriptor: Int32, peer: String, loopback: Bool)? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let descriptor = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listener, $0, &length) }
        }
        guard descriptor >= 0 else { return nil }
        setNonBlocking(descriptor)
        var yes: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
        // A fixed kernel send buffer, so that what a client leaves unread is bounded by the
        // door's own reply buffer rather than by TCP autotuning (up to megabytes).
        var sendBuffer: Int32 = 256 << 10
        setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &sendBuffer, socklen_t(MemoryLayout<Int32>.size))
        let hostOrder = UInt32(bigEndian: address.sin_addr.s_addr)
        let peer = "\(hostOrder >> 24).\(hostOrder >> 16 & 255).\(hostOrder >> 8 & 255).\(hostOrder & 255)"
        return (descriptor, "\(peer):\(UInt16(bigEndian: address.sin_port))", hostOrder >> 24 == 127)
    }

    /// The address of an IPv4 literal such as `10.0.0.7`, in network byte order; nil for a name.
    static func ipv4Literal(_ host: String) -> UInt32? {
        var address = in_addr()
        return inet_pton(AF_INET, host, &address) == 1 ? address.s_addr : nil
    }

    /// Looks `host` up with `getaddrinfo` (IPv4), blocking: call it off the event loop
    /// (``HostResolver``).
    @Sendable
    static func resolveIPv4(_ host: String) -> HostResolver.Answer {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &found)
        guard status == 0, let first = found, let address = first.pointee.ai_addr else {
            if status == 0 { freeaddrinfo(found) }
            return .failed(status == 0 ? "no IPv4 address" : String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(found) }
        return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { .address($0.pointee.sin_addr.s_addr) }
    }

    /// Starts a non-blocking connect to `address` (network byte order) and `port`.
    static func connect(address: UInt32, port: Int) throws(BrokerError) -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BrokerError(.socket, "socket(): \(errorText())") }
        setNonBlocking(descriptor)
        var yes: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
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
            let text = errorText()
            close(descriptor)
            throw BrokerError(.socket, "cannot connect: \(text)")
        }
        return descriptor
    }

    /// Whether a non-blocking connect finished without error.
    static func connectSucceeded(_ descriptor: Int32) -> Bool {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0
    }

    /// Reads what is available into `buffer` (appending at most `limit` bytes).
    static func read(_ descriptor: Int32, into buffer: inout [UInt8], limit: Int) -> ReadResult {
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

    /// Writes as much of `bytes[offset...]` as the socket takes; nil when the peer has gone.
    static func write(_ descriptor: Int32, _ bytes: [UInt8], from offset: Int) -> Int? {
        guard offset < bytes.count else { return 0 }
        let count = bytes.withUnsafeBytes { raw in
            send(descriptor, raw.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
        }
        if count >= 0 { return count }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return 0 }
        return nil
    }

    private static func setNonBlocking(_ descriptor: Int32) {
        let flags = fcntl(descriptor, F_GETFL, 0)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
    }

    private static func errorText() -> String {
        String(cString: strerror(errno))
    }
}
