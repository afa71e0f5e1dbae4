/// A loop's context and what it opened in it, closed together: sockets, and whatever must stop
/// before the context terminates (a ZAP handler, a monitor). ``setUp(_:)`` closes everything
/// again when a step of the setup fails, and ``close()`` does at the end; either way the last
/// opened is the first closed, except monitors, closed after everything else (a monitored
/// socket's last events must find its monitor open: see
/// ``ZMQSocket/startMonitor(endpoint:events:file:line:)``), and the context is terminated last
/// (terminating it waits for its sockets to close). Owned by one thread.
public final class ZMQContextScope {
    /// The context.
    public let context: ZMQContext
    private var closers: [() -> Void] = []
    private var monitors: [ZMQMonitor] = []
    private var closed = false

    /// Creates a context with `ioThreads` I/O threads.
    public init(ioThreads: Int = 1) throws(ZMQError) {
        context = try ZMQContext(ioThreads: ioThreads)
    }

    /// Opens a socket of `type` in the context; it is closed with the scope.
    public func socket(_ type: ZMQSocketType) throws(ZMQError) -> ZMQSocket {
        let socket = try ZMQSocket(context: context, type: type)
        closers.append { socket.close() }
        return socket
    }

    /// Opens a monitor of a socket's events on `endpoint`; it is closed with the scope, after
    /// every socket.
    public func monitor(endpoint: String) throws(ZMQError) -> ZMQMonitor {
        let monitor = try ZMQMonitor(context: context, endpoint: endpoint)
        monitors.append(monitor)
        return monitor
    }

    /// Runs `action` when the scope closes, before what was opened earlier is closed.
    public func onClose(_ action: @escaping () -> Void) {
        closers.append(action)
    }

    /// Runs `steps`; if one throws, closes the scope and throws the error.
    public func setUp<Result>(_ steps: () throws -> Result) throws -> Result {
        do {
            return try steps()
        } catch {
            close()
            throw error
        }
    }

    /// Closes what was opened, last first, then terminates the context. Idempotent.
    public func close() {
        guard !closed else { return }
        closed = true
        for closer in closers.reversed() { closer() }
        closers.removeAll()
        for monitor in monitors.reversed() { monitor.close() }
        monitors.removeAll()
        context.terminate()
    }
}
