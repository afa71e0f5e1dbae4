import CZeroMQ
import Glibc

/// Wakes a poll loop from another thread: an eventfd the loop adds to its ``ZMQPoller``.
public final class ZMQWakeSignal: Sendable {
    /// The descriptor to poll for `.readable`.
    public let fileDescriptor: Int32
    private let closed = LockedFlag()

    /// Creates the eventfd (non-blocking, close-on-exec).
    public init() throws {
        let descriptor = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard descriptor >= 0 else {
            throw ZMQError(code: .init(rawValue: errno), call: "eventfd")
        }
        fileDescriptor = descriptor
    }

    /// Makes the descriptor readable. Never blocks; safe from any thread.
    public func signal() {
        guard !closed.isSet else { return }
        var one: UInt64 = 1
        _ = write(fileDescriptor, &one, 8)
    }

    /// Resets the descriptor (call from the loop's thread after it polled readable).
    public func drain() {
        var value: UInt64 = 0
        _ = read(fileDescriptor, &value, 8)
    }

    /// Closes the descriptor. Call once, when the loop has stopped.
    public func close() {
        guard closed.set() else { return }
        Glibc.close(fileDescriptor)
    }
}
