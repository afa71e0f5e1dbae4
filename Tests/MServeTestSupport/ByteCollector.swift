public import Foundation
import MServeProtocol
import Synchronization

/// Bytes gathered from another thread: a child process's output, read to its end.
public final class ByteCollector: Sendable {
    private let stored = Mutex<[UInt8]>([])
    private let ended = Mutex(false)

    /// Creates an empty collector.
    public init() {}

    /// Appends bytes (from any thread).
    public func append(_ data: Data) { stored.withLock { $0 += data } }

    /// Everything collected so far.
    public var bytes: [UInt8] { stored.withLock { $0 } }

    /// Whether the pipe being read (``collect(from:)``) reached its end.
    public var reachedEnd: Bool { ended.withLock { $0 } }

    /// Reads `handle` on a thread of its own until end of file, appending every chunk.
    ///
    /// A thread rather than `FileHandle.readabilityHandler`: on Linux that handler's dispatch
    /// source keeps firing once the pipe has ended, and libdispatch can crash when the
    /// descriptor is closed while the source is still registered.
    public func collect(from handle: FileHandle) {
        let thread = Thread { [self] in
            while case let chunk = EndpointLine.readChunk(from: handle), !chunk.isEmpty {
                append(Data(chunk))
            }
            ended.withLock { $0 = true }
        }
        thread.name = "mserve-test-pipe"
        thread.start()
    }

    /// Waits up to `timeout` seconds for the pipe being read to end; returns whether it did.
    /// Blocks the calling thread: for synchronous code (a `defer`). In async code the overload
    /// that waits without a thread is chosen.
    @discardableResult
    public func waitForEnd(timeout: TimeInterval = 5) -> Bool {
        let giveUp = Date().addingTimeInterval(timeout)
        while !reachedEnd && Date() < giveUp { Thread.sleep(forTimeInterval: 0.005) }
        return reachedEnd
    }

    /// Waits up to `timeout` seconds for the pipe being read to end, looking every 5 ms without
    /// holding a thread of the concurrency pool; returns whether it ended.
    @discardableResult
    public func waitForEnd(timeout: TimeInterval = 5) async -> Bool {
        let giveUp = ContinuousClock.now + .milliseconds(Int(timeout * 1_000))
        while !reachedEnd && ContinuousClock.now < giveUp { await idle(for: .milliseconds(5)) }
        return reachedEnd
    }
}
