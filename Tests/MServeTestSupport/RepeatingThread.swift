// A thread of a test's own that repeats one step until stopped: for a peer that must keep
// answering (heartbeats, queries) however busy Swift's concurrency pool is.

import Foundation
import Synchronization

/// Runs `step` over and over on a thread of its own until ``stop()``.
///
/// A test that hands a ZeroMQ socket to the step must not touch that socket until `stop()`
/// returns: a socket may move between threads, not be shared. `stop()` waits for the step
/// under way to finish, so the socket is the caller's again when it returns.
public final class RepeatingThread: Sendable {
    private let running = Mutex(true)
    private let finished = DispatchSemaphore(value: 0)

    /// Starts the thread, which calls `step` until stopped. What `step` captures (a socket)
    /// is the thread's alone until `stop()` returns: the caller promises not to touch it.
    public init(_ step: @escaping () -> Void) {
        nonisolated(unsafe) let step = step
        Thread.detachNewThread { [self] in
            defer { finished.signal() }
            while running.withLock({ $0 }) { step() }
        }
    }

    /// Stops the thread and waits for it to end.
    public func stop() {
        running.withLock { $0 = false }
        finished.wait()
    }
}
