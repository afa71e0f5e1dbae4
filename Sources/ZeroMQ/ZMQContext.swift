import CZeroMQ
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A libzmq context: the I/O threads and the inproc namespace that sockets share.
///
/// Contexts are thread-safe. Close every socket (``ZMQSocket/close()``) before ``terminate()``,
/// which otherwise blocks until they are. A context is never terminated by `deinit`.
public final class ZMQContext: @unchecked Sendable {
    private enum State { case open, terminating, terminated }

    /// The `void *` context handle; valid until termination completes.
    private let handle: UnsafeMutableRawPointer
    private let state = Mutex(State.open)

    /// Creates a context with a number of I/O threads.
    ///
    /// Fails with ``ZMQError/Code/tooManyOpenFiles`` when the process has too few file
    /// descriptors left to start it: libzmq starts a context's threads at its first socket and
    /// aborts the whole process when it cannot open their descriptors (an `errno_assert` on
    /// `epoll_create`), so the descriptors they and a first socket take are checked for here
    /// (``descriptorsLeft(forIOThreads:)``). Another thread taking descriptors meanwhile can
    /// still win that race; a process that makes contexts while it runs keeps it short.
    public init(ioThreads: Int = 1, file: String = #fileID, line: Int = #line) throws(ZMQError) {
        guard Self.descriptorsLeft(forIOThreads: ioThreads) else {
            throw ZMQError(
                code: .tooManyOpenFiles, call: "zmq_ctx_new",
                message: "too few file descriptors left to start a ZeroMQ context (its threads and a first socket take \(Self.descriptorsNeeded(forIOThreads: ioThreads))): the process is at its open-files limit (ulimit -n)",
                file: file, line: line)
        }
        guard let handle = zmq_ctx_new() else {
            throw ZMQError.last(call: "zmq_ctx_new", file: file, line: line)
        }
        self.handle = handle
        if ioThreads != 1, zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(clamping: ioThreads)) != 0 {
            let error = ZMQError.last(call: "zmq_ctx_set(ZMQ_IO_THREADS)", file: file, line: line)
            zmq_ctx_term(handle)
            throw error
        }
    }

    /// The descriptors a context and its first socket open: the context's mailbox; the reaper
    /// thread's poller and mailbox; each I/O thread's poller and mailbox; the socket's mailbox
    /// and a connection.
    static func descriptorsNeeded(forIOThreads ioThreads: Int) -> Int { 5 + 2 * max(1, ioThreads) }

    /// Whether the process can open the descriptors a new context with `ioThreads` I/O threads
    /// needs to start: they are opened (as `/dev/null`) and closed again at once.
    static func descriptorsLeft(forIOThreads ioThreads: Int) -> Bool {
        let needed = descriptorsNeeded(forIOThreads: ioThreads)
        var opened: [Int32] = []
        opened.reserveCapacity(needed)
        defer { for descriptor in opened { close(descriptor) } }
        for _ in 0..<needed {
            let descriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return errno != EMFILE && errno != ENFILE }
            opened.append(descriptor)
        }
        return true
    }

    /// Makes every blocking call on this context's sockets return ETERM (``ZMQError/Code/contextTerminated``)
    /// and refuses new sockets; sockets must still be closed and the context terminated.
    public func shutdown() {
        state.withLock { state in
            if case .open = state { zmq_ctx_shutdown(handle) }
        }
    }

    /// Terminates the context: blocks until all its sockets are closed, then frees it.
    /// Idempotent; a second call (even from another thread) returns at once.
    public func terminate() {
        let proceed = state.withLock { state -> Bool in
            guard case .open = state else { return false }
            state = .terminating
            return true
        }
        guard proceed else { return }
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
        state.withLock { $0 = .terminated }
    }

    /// Whether ``terminate()`` has been called.
    public var isTerminated: Bool {
        state.withLock { state in
            if case .open = state { return false }
            return true
        }
    }

    /// Creates a raw libzmq socket, or throws ETERM once termination has begun.
    func makeSocketHandle(type: Int32, file: String, line: Int) throws(ZMQError) -> UnsafeMutableRawPointer {
        let result = state.withLock { state -> Result<UnsafeMutableRawPointer, ZMQError> in
            guard case .open = state else {
                return .failure(ZMQError(code: .contextTerminated, call: "zmq_socket", file: file, line: line))
            }
            guard let socket = zmq_socket(handle, type) else {
                return .failure(ZMQError.last(call: "zmq_socket", file: file, line: line))
            }
            return .success(socket)
        }
        return try result.get()
    }
}
