// ProcessMemory: what this process holds in memory, and giving back what it no longer uses.
// The broker, the servant and the hub pass large messages through short-lived buffers; glibc's
// allocator keeps freed memory in its arenas unless told otherwise, so a process that once
// carried a few large messages would keep their memory for good.

#if canImport(Glibc)
import CMalloc
import Glibc
#endif

/// The memory of this process, and the allocator settings that let it shrink again.
public enum ProcessMemory {
    /// Resident memory now and its peak so far, in bytes.
    public struct Usage: Sendable, Equatable {
        /// Resident set size now (`VmRSS`).
        public var resident: Int
        /// The largest resident set size so far (`VmHWM`).
        public var peak: Int

        /// Creates a usage record.
        public init(resident: Int, peak: Int) {
            self.resident = resident
            self.peak = peak
        }
    }

    /// Allocations from this size up get pages of their own, returned to the system when they
    /// are freed.
    public static let largeAllocationThreshold = 256 << 10

    /// This process's resident memory and peak, from `/proc/self/status`; nil where there is
    /// no such file.
    public static func usage() -> Usage? {
        guard let text = readStatus() else { return nil }
        return parseStatus(text)
    }

    /// The resident and peak memory in the text of a `/proc/PID/status` file (kB fields
    /// `VmRSS` and `VmHWM`), in bytes; nil when either is missing.
    public static func parseStatus(_ text: String) -> Usage? {
        var resident: Int?
        var peak: Int?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("VmRSS:") {
                resident = kilobytes(line)
            } else if line.hasPrefix("VmHWM:") {
                peak = kilobytes(line)
            }
        }
        guard let resident, let peak else { return nil }
        return Usage(resident: resident * 1024, peak: peak * 1024)
    }

    /// Sets glibc's allocator so that large blocks go back to the system as soon as they are
    /// freed: blocks from ``largeAllocationThreshold`` up are mapped on their own
    /// (`M_MMAP_THRESHOLD`, which also stops glibc raising that threshold after a large block
    /// is freed, as it otherwise does up to 32 MB), and free memory at the top of a heap over
    /// 1 MiB is returned (`M_TRIM_THRESHOLD`). Call once, early; other allocators: no effect.
    public static func returnLargeBlocksWhenFreed() {
        #if canImport(Glibc)
        _ = mallopt(M_MMAP_THRESHOLD, Int32(largeAllocationThreshold))
        _ = mallopt(M_TRIM_THRESHOLD, Int32(1 << 20))
        #endif
    }

    /// Returns the free memory of every allocator arena to the system (`malloc_trim(0)`):
    /// whole free pages anywhere in a heap, not only at its top. Costs a walk over the free
    /// blocks, so it is for when memory has grown, not for every turn of a loop.
    public static func releaseFreeMemory() {
        #if canImport(Glibc)
        _ = malloc_trim(0)
        #endif
    }

    private static func kilobytes(_ line: Substring) -> Int? {
        line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
    }

    private static func readStatus() -> String? {
        #if canImport(Glibc)
        let descriptor = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
        #else
        return nil
        #endif
    }
}

/// When a long-running process should give free memory back (``ProcessMemory/releaseFreeMemory()``):
/// checked from its loop's timers, at most once per `interval`, it is due when the resident
/// memory exceeds the lowest level seen after a release by more than `allowance` — after a
/// burst of large messages, say. While memory stays that high (a large working set), a
/// release is tried once per interval, no more. Owned by one loop.
public struct MemoryReleaseSchedule: Sendable {
    /// The least time between two checks, in nanoseconds.
    public let interval: UInt64
    /// Growth above the floor, in bytes, that makes a release due.
    public let allowance: Int
    /// The lowest resident size seen at a check or after a release; nil before the first check.
    public private(set) var floor: Int?
    private var nextCheck: UInt64 = 0

    /// A schedule checking at most every `interval` nanoseconds (default 1 s) that releases
    /// when memory grew by more than `allowance` bytes (default 32 MiB) over its floor.
    public init(interval: UInt64 = 1_000_000_000, allowance: Int = 32 << 20) {
        self.interval = interval
        self.allowance = allowance
    }

    /// Whether to release now, given the time (monotonic nanoseconds) and a way to read the
    /// resident size (read only when a check is due). After a release, tell the schedule the
    /// size it left with ``released(resident:)``.
    public mutating func isDue(now: UInt64, resident: () -> Int?) -> Bool {
        guard now >= nextCheck else { return false }
        nextCheck = now &+ interval
        guard let size = resident() else { return false }
        guard let floor else {
            self.floor = size
            return false
        }
        if size < floor { self.floor = size }
        return size > floor + allowance
    }

    /// Records the resident size after a release: the floor drops to it when lower.
    public mutating func released(resident: Int?) {
        guard let resident else { return }
        floor = Swift.min(floor ?? resident, resident)
    }

    /// Gives this process's free heap memory back to the system when a release is due (see
    /// ``isDue(now:resident:)``), and records what it left: what an event loop calls on its
    /// timer after large messages.
    public mutating func releaseIfDue(now: UInt64) {
        guard isDue(now: now, resident: { ProcessMemory.usage()?.resident }) else { return }
        ProcessMemory.releaseFreeMemory()
        released(resident: ProcessMemory.usage()?.resident)
    }
}
