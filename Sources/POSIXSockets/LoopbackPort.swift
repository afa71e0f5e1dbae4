import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A free TCP port on 127.0.0.1, for whoever starts an `mserve` process that binds it later
/// (the demo's hub, the benchmark's kdb+ door, a test's hub or restarted servant).
public enum LoopbackPort {
    /// A port that was free a moment ago.
    ///
    /// It is drawn below the kernel's ephemeral range (where binding port 0 would pick one): a
    /// port from that range can be taken as the local port of any outgoing connection in the
    /// meantime — even by a client retrying to connect to that very port, which on loopback can
    /// end up connected to itself and then holds the port for good. When no port there is free,
    /// one the kernel picks; 0 when binding fails altogether. A port is handed out once per
    /// process: two callers asking at the same moment (tests running in parallel) never get
    /// the same port, which neither has bound yet.
    public static func free() -> Int {
        for _ in 0..<500 {
            let port = Int.random(in: 20_000..<32_000)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if canBind(port) { return port }
        }
        return boundPort(0)
    }

    /// The ports ``free()`` has handed out in this process.
    private static let handedOut = Mutex<Set<Int>>([])

    /// Whether a TCP socket can be bound to `port` on loopback right now.
    public static func canBind(_ port: Int) -> Bool {
        (1...65_535).contains(port) && boundPort(port) == port
    }

    /// Binds a TCP socket to `port` on loopback (0: any), closes it, and returns the port it got
    /// (0 when binding failed).
    private static func boundPort(_ port: Int) -> Int {
        let descriptor = socket(AF_INET, TCPSocket.streamType, 0)
        guard descriptor >= 0 else { return 0 }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard TCPSocket.bind(descriptor, to: &address) == 0 else { return 0 }
        return TCPSocket.boundPort(descriptor)
    }
}
