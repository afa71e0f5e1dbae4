public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The first line every `mserve` process (hub, broker, servant) writes to standard output once
/// it is up: the endpoint it serves. Whoever starts one as a child (the demo, the benchmark,
/// tests) reads that line from the child's output pipe with ``read(from:timeout:)``.
public enum EndpointLine {
    /// What reading the first line gave.
    public enum Outcome: Sendable, Equatable {
        /// The line, without its newline.
        case line(String)
        /// The pipe ended first: the child exited before it was up.
        case ended
        /// No line within the time allowed.
        case timedOut
    }

    /// Reads the first line from `handle` on a thread of its own, then goes on reading (and
    /// dropping) whatever follows until end of file, so the child never blocks on a full pipe.
    public static func read(from handle: FileHandle, timeout: Duration) async -> Outcome {
        let reader = Reader(handle)
        let clock = ContinuousClock()
        let giveUp = clock.now.advanced(by: timeout)
        while clock.now < giveUp {
            if let outcome = reader.outcome { return outcome }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return .timedOut
    }

    /// ``read(from:timeout:)`` for callers that may block their thread.
    public static func readBlocking(from handle: FileHandle, timeout: Duration) -> Outcome {
        let reader = Reader(handle)
        let clock = ContinuousClock()
        let giveUp = clock.now.advanced(by: timeout)
        while clock.now < giveUp {
            if let outcome = reader.outcome { return outcome }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return .timedOut
    }

    /// The reading thread and what it found.
    private final class Reader: Sendable {
        private let found = Mutex<Outcome?>(nil)

        var outcome: Outcome? { found.withLock { $0 } }

        init(_ handle: FileHandle) {
            let thread = Thread { [self] in
                var buffer: [UInt8] = []
                var seen = false
                while true {
                    let chunk = EndpointLine.readChunk(from: handle)
                    if chunk.isEmpty { break }
                    if seen { continue }
                    buffer += chunk
                    if let newline = buffer.firstIndex(of: 10) {
                        self.found.withLock { $0 = .line(String(decoding: buffer[..<newline], as: UTF8.self)) }
                        seen = true
                    }
                }
                if !seen { self.found.withLock { $0 = .ended } }
            }
            thread.name = "mserve-endpoint-line"
            thread.start()
        }
    }

    /// The bytes `handle` has, waiting until there are some; empty at end of file (or on a read
    /// error). A read a signal interrupts is tried again, where `FileHandle.availableData`
    /// stops the whole process.
    public static func readChunk(from handle: FileHandle) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = Glibc.read(handle.fileDescriptor, &buffer, buffer.count)
            if count >= 0 { return Array(buffer[..<count]) }
            if errno != EINTR { return [] }
        }
    }
}
