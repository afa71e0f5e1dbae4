import Foundation
public import QData

/// A process's memory use, as a spoke reports it with each heartbeat (the seed's `.Q.w[]`).
public struct MemoryStats: Sendable, Hashable {
    /// Anonymous resident bytes: the heap and other private memory in use (`RssAnon`).
    public var used: Int64
    /// Bytes of the data segment and private mappings, touched or not (`VmData`).
    public var heap: Int64
    /// Peak resident set size, bytes (`VmHWM`).
    public var peak: Int64
    /// Resident set size now, bytes (`VmRSS`).
    public var rss: Int64

    /// Creates stats from explicit values (bytes).
    public init(used: Int64, heap: Int64, peak: Int64, rss: Int64) {
        self.used = used
        self.heap = heap
        self.peak = peak
        self.rss = rss
    }

    /// This process's memory use now, from `/proc/self/status`.
    public static func current() -> MemoryStats {
        var used: Int64 = 0
        var heap: Int64 = 0
        var peak: Int64 = 0
        var rss: Int64 = 0
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
            for line in status.split(separator: "\n") {
                if line.hasPrefix("RssAnon:") { used = kilobytes(line) }
                if line.hasPrefix("VmData:") { heap = kilobytes(line) }
                if line.hasPrefix("VmHWM:") { peak = kilobytes(line) }
                if line.hasPrefix("VmRSS:") { rss = kilobytes(line) }
            }
        }
        return MemoryStats(used: used, heap: heap, peak: peak, rss: rss)
    }

    /// Reads `Name:   1234 kB` as bytes.
    private static func kilobytes(_ line: Substring) -> Int64 {
        let number = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? ""
        return (Int64(number) ?? 0) * 1024
    }

    /// The HEARTBEAT body entries.
    public var entries: [(String, QValue)] {
        [("used", .atom(.long(used))), ("heap", .atom(.long(heap))), ("peak", .atom(.long(peak))), ("rss", .atom(.long(rss)))]
    }
}

/// One heartbeat of a spoke, as the hub stores it: when it was heard (a q timestamp) and the
/// memory stats it carried, if any.
public struct HeardSpoke: Sendable, Hashable {
    /// The spoke's id.
    public var id: Int64
    /// When the heartbeat was heard, in q timestamp nanoseconds.
    public var time: Int64
    /// The memory stats it carried; nil when it carried none.
    public var memory: MemoryStats?

    /// A heartbeat of spoke `id` heard at `time`, carrying `memory`.
    public init(id: Int64, time: Int64, memory: MemoryStats?) {
        self.id = id
        self.time = time
        self.memory = memory
    }
}
