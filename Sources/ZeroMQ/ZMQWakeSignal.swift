import CZeroMQ
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A cross-thread wake-up for poll loops: an eventfd a ``ZMQPoller`` watches.
/// ``signal()`` may be called from any thread; the polling thread calls ``drain()``.
public final class ZMQWakeSignal: Sendable {
    /// The eventfd, or -1 once closed; the lock keeps a signal from racing with close.
    private let descriptor: Mutex<Int32>
    /// The eventfd as created, for poll sets.
    public let fileDescriptor: Int32

    /// Creates a non-blocking eventfd.
    public init(file: String = #fileID, line: Int = #line) throws(ZMQError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard fd >= 0 else {
            throw ZMQError(code: .init(rawValue: errno), call: "eventfd", message: String(cString: strerror(errno)), file: file, line: line)
        }
        descriptor = Mutex(fd)
        fileDescriptor = fd
    }

    deinit { close() }

    /// Makes the file descriptor readable until the next ``drain()``. Never blocks.
    public func signal() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            var one: UInt64 = 1
            while write(fd, &one, MemoryLayout<UInt64>.size) < 0 && errno == EINTR {}
        }
    }

    /// Resets the file descriptor to not readable.
    public func drain() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            var value: UInt64 = 0
            while read(fd, &value, MemoryLayout<UInt64>.size) < 0 && errno == EINTR {}
        }
    }

    /// Closes the eventfd; later signals do nothing. Idempotent.
    public func close() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            _ = Glibc.close(fd)
            fd = -1
        }
    }
}
