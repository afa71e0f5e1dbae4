#if canImport(Glibc)
import Glibc
#endif

/// Whether a TCP connection to a host and port can be opened: opens one (without sending a
/// byte) and closes it at once. Used to watch a process that cannot heartbeat itself, such as a
/// q servant.
public enum TCPProbe {
    /// True when a connection to `host`:`port` is accepted within `timeoutMilliseconds`; tries
    /// each address the name resolves to. Blocks the calling thread.
    public static func canConnect(host: String, port: Int, timeoutMilliseconds: Int) -> Bool {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0 else { return false }
        defer { freeaddrinfo(list) }
        var cursor = list
        while let entry = cursor {
            if connects(entry.pointee, timeoutMilliseconds: timeoutMilliseconds) { return true }
            cursor = entry.pointee.ai_next
        }
        return false
    }

    private static func connects(_ address: addrinfo, timeoutMilliseconds: Int) -> Bool {
        let descriptor = socket(address.ai_family, address.ai_socktype | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), address.ai_protocol)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        if connect(descriptor, address.ai_addr, address.ai_addrlen) == 0 { return true }
        // A signal during a non-blocking connect leaves it going on, as EINPROGRESS does.
        guard errno == EINPROGRESS || errno == EINTR else { return false }
        var item = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        // A signal is not an answer: poll again for the time left.
        let deadline = monotonicMilliseconds() + Int64(timeoutMilliseconds)
        while true {
            let left = max(0, deadline - monotonicMilliseconds())
            let ready = poll(&item, 1, Int32(clamping: left))
            if ready == 1 { return TCPSocket.connectSucceeded(descriptor) }
            if ready < 0 && errno == EINTR && left > 0 { continue }
            return false
        }
    }

    private static func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000
    }
}
