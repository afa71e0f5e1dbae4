// What keeps the HTTP side from holding the process's file descriptors: a connection must send
// a whole request head in time, and only so many connections are open at once.

import Logging
import MServeProtocol
import NIOCore
import Synchronization

extension MonitoringServer {
    /// How the HTTP side bounds its connections (docs/OPERATIONS.md, "Monitoring").
    public struct ConnectionLimits: Sendable {
        /// How long a connection may go without a request part: a client that opens a
        /// connection and sends nothing, or only part of a request head, is closed after this
        /// long, and so is a kept-alive connection left idle between requests. A response being
        /// written is not cut short.
        public var requestTimeout: Duration = .seconds(10)
        /// The most HTTP connections open at once; one more is accepted and closed at once,
        /// without an answer, so that a flood of connections cannot use up the descriptors the
        /// ZeroMQ sockets and the kdb+ door need.
        public var maxConnections: Int = 64
        /// Creates the default limits.
        public init() {}
    }
}

/// The connections open on one HTTP server, shared by the handlers of all its connections
/// (on NIO's event loops), and the throttle of the line logged when one is refused.
final class HTTPConnectionCount: Sendable {
    private let maximum: Int
    private let open = Atomic<Int>(0)
    private let refusedLog = Mutex(LogThrottle(interval: .seconds(10)))
    private let logger: Logger

    init(maximum: Int, logger: Logger) {
        self.maximum = maximum
        self.logger = logger
    }

    /// The connections open now.
    var current: Int { open.load(ordering: .relaxed) }

    /// Counts a new connection in; false (counting nothing) when `maximum` are open already.
    func admit() -> Bool {
        while true {
            let now = open.load(ordering: .relaxed)
            guard now < maximum else { return false }
            if open.compareExchange(expected: now, desired: now + 1, ordering: .relaxed).exchanged { return true }
        }
    }

    /// Counts an admitted connection out.
    func release() {
        open.subtract(1, ordering: .relaxed)
    }

    /// Logs, at most once per interval, that a connection from `peer` was refused.
    func logRefused(peer: String) {
        guard let heldBack = refusedLog.withLock({ $0.admit() }) else { return }
        logger.warning(
            "\(LogThrottle.line("refused an HTTP connection: too many open", heldBack: heldBack))",
            metadata: ["peer": "\(peer)", "open": "\(current)", "limit": "\(maximum)"])
    }
}

/// The first handler after a connection's HTTP decoding: counts the connection in when it
/// becomes active and out when it closes; one over the limit is closed at once.
final class HTTPConnectionCapHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let count: HTTPConnectionCount
    /// Whether this connection was counted in (and must be counted out once).
    private var counted = false
    /// Whether the connection was admitted or refused already.
    private var decided = false

    init(count: HTTPConnectionCount) {
        self.count = count
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { _ = admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if admit(context) { context.fireChannelActive() }
    }

    /// Counts the connection in the first time it is seen active; false when it was refused
    /// (and is being closed).
    private func admit(_ context: ChannelHandlerContext) -> Bool {
        guard !decided else { return counted }
        decided = true
        guard count.admit() else {
            // HOST:PORT, as the other lines write a peer (SocketAddress's own text is `[IPv4]…/…:PORT`).
            let peer = context.channel.remoteAddress.map { address in
                "\(address.ipAddress ?? "\(address)")\(address.port.map { ":\($0)" } ?? "")"
            }
            count.logRefused(peer: peer ?? "unknown")
            context.close(promise: nil)
            return false
        }
        counted = true
        return true
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            counted = false
            count.release()
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if counted {
            counted = false
            count.release()
        }
    }
}
