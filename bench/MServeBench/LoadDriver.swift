import Foundation
import Histogram
import MServeClient
import MServeProtocol
import ZeroMQ
import QData
import Synchronization

/// What one load run measured.
struct LoadResult: Sendable {
    /// Replies received inside the measured window.
    var completed = 0
    /// Queries that failed (a q error, a deadline, a closed client) inside the window.
    var errors = 0
    /// Length of the measured window.
    var seconds = 0.0
    /// Round-trip latency in nanoseconds.
    var latency = LoadResult.makeHistogram()
    /// Sum of the info dictionaries' `queued` times, in nanoseconds.
    var queuedNanoseconds = 0.0
    /// Sum of the info dictionaries' `execution` times, in nanoseconds.
    var executionNanoseconds = 0.0
    /// Replies that carried an info dictionary.
    var infoCount = 0
    /// Percentiles (µs) measured elsewhere (the majortomo driver), used when the histogram is empty.
    var externalPercentiles: [Double: Double] = [:]
    /// Mean latency (µs) measured elsewhere.
    var externalMean: Double? = nil
    /// CPU the broker (or baseline) and servant processes spent per query in the window,
    /// when a ``CPUProbe`` watched the run.
    var cpu = CPUCost()

    /// Queries per second.
    var throughput: Double { seconds > 0 ? Double(completed) / seconds : 0 }

    /// A latency percentile in microseconds.
    func percentileMicroseconds(_ percentile: Double) -> Double {
        latency.totalCount == 0
            ? externalPercentiles[percentile] ?? 0 : Double(latency.valueAtPercentile(percentile)) / 1_000
    }

    /// Mean latency in microseconds.
    var meanMicroseconds: Double { latency.totalCount == 0 ? externalMean ?? 0 : latency.mean / 1_000 }

    /// Mean queue time from the info dictionaries, in microseconds.
    var meanQueuedMicroseconds: Double { infoCount == 0 ? 0 : queuedNanoseconds / Double(infoCount) / 1_000 }

    /// Mean execution time from the info dictionaries, in microseconds.
    var meanExecutionMicroseconds: Double { infoCount == 0 ? 0 : executionNanoseconds / Double(infoCount) / 1_000 }

    /// An empty latency histogram: 1 µs to 100 s, three significant digits.
    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1_000, highestTrackableValue: 100_000_000_000, numberOfSignificantValueDigits: .three)
    }

    /// Adds another run's figures (same window) into this one.
    mutating func merge(_ other: LoadResult) {
        completed += other.completed
        errors += other.errors
        latency.add(other.latency)
        queuedNanoseconds += other.queuedNanoseconds
        executionNanoseconds += other.executionNanoseconds
        infoCount += other.infoCount
    }

    /// Records one round trip of `nanoseconds`.
    mutating func record(nanoseconds: UInt64) {
        completed += 1
        _ = latency.record(min(max(nanoseconds, 1_000), 100_000_000_000))
    }
}

/// The measured part of a load run: after a warm-up, for a duration.
struct LoadWindow: Sendable {
    /// Replies to queries sent from here on are recorded…
    let measureFrom: UInt64
    /// …if they arrive before this; no query is sent after it.
    let end: UInt64
    let duration: Double

    init(warmUp: Double, duration: Double) {
        measureFrom = monotonicNanoseconds() + UInt64(warmUp * 1e9)
        end = measureFrom + UInt64(duration * 1e9)
        self.duration = duration
    }

    /// Runs `client(index)` on `clients` threads at once, waits for them all, and merges what
    /// they measured; the first error any of them threw is thrown.
    func run(
        clients: Int, threadName: String, probe: CPUProbe? = nil,
        _ client: @escaping @Sendable (Int) throws -> LoadResult
    ) throws -> LoadResult {
        probe?.watch(from: measureFrom, to: end)
        let results = Locked<[Result<LoadResult, any Error>]>([])
        for clientIndex in 0..<clients {
            let thread = Thread {
                let outcome = Result { try client(clientIndex) }
                results.withLock { $0.append(outcome) }
            }
            thread.name = threadName
            thread.start()
        }
        while results.withLock({ $0.count }) < clients { Thread.sleep(forTimeInterval: 0.01) }
        var total = LoadResult()
        total.seconds = duration
        for outcome in results.withLock({ $0 }) { total.merge(try outcome.get()) }
        if let probe { total.cpu = CPUCost(probe.spent(), queries: total.completed) }
        return total
    }
}

/// Monotonic nanoseconds.
@inline(__always)
func monotonicNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Drives a broker (or a baseline) with raw DEALER clients, the way any ZeroMQ program
/// would: each of `clients` threads keeps `inFlight` queries outstanding, sends `(id; query)`
/// in one frame, as `QueryClient` does, and takes the latency from the send time it noted
/// under the id the reply carries, for `duration` seconds after a warm-up that is not
/// recorded. Every reply is sliced; q errors count as errors, and the info dictionaries'
/// `queued`/`execution` are sampled.
/// Threads rather than Swift tasks, so the client side costs the same for every row.
enum DealerLoad {
    /// A load client's DEALER: no high-water marks (the client bounds what it has in flight),
    /// no linger, and a receive timeout so that a silent peer ends the run with an error.
    static func clientSocket(context: ZMQContext, receiveTimeoutMilliseconds: Int32) throws -> ZMQSocket {
        let socket = try ZMQSocket(context: context, type: .dealer)
        do {
            try socket.setSendHighWaterMark(0)
            try socket.setReceiveHighWaterMark(0)
            try socket.setLinger(milliseconds: 0)
            try socket.setReceiveTimeout(milliseconds: receiveTimeoutMilliseconds)
        } catch {
            socket.close()
            throw error
        }
        return socket
    }

    static func run(
        endpoints: [String], workload: Workload, clients: Int, inFlight: Int, duration: Double,
        warmUp: Double = 0.5, symbols: Int = Workload.defaultSymbolCount, probe: CPUProbe? = nil
    ) throws -> LoadResult {
        let context = try ZMQContext(ioThreads: 1)
        defer { context.terminate() }
        let zipf = ZipfSampler(count: max(1, symbols), exponent: 1.1)
        let window = LoadWindow(warmUp: warmUp, duration: duration)
        let (measureFrom, end) = (window.measureFrom, window.end)
        return try window.run(clients: clients, threadName: "bench-client", probe: probe) { clientIndex in
            let socket = try clientSocket(context: context, receiveTimeoutMilliseconds: 10_000)
            defer { socket.close() }
            for endpoint in endpoints { try socket.connect(endpoint) }
            var random = BenchRandom(seed: UInt64(clientIndex + 1))
            var result = LoadResult()
            // Send times by query id: the reply's id says which query it answers.
            var sentAt: [Int64: UInt64] = [:]
            sentAt.reserveCapacity(2 * inFlight)
            var nextId: Int64 = 0
            func sendOne() throws {
                nextId += 1
                let query = workload.nextQuery(&random, zipf: zipf)
                let message = QIPC.encode(.list([.atom(.long(nextId)), .string(query)]))
                sentAt[nextId] = monotonicNanoseconds()
                try socket.send(message)
            }
            for _ in 0..<inFlight { try sendOne() }
            while !sentAt.isEmpty {
                guard let frames = try socket.receiveMultipartBytes() else {
                    throw BenchError(.setup, "no reply within 10 s (\(sentAt.count) outstanding)")
                }
                let received = monotonicNanoseconds()
                guard frames.count == 1, let reply = try? SlicedReply(bytes: frames[0]),
                    let id = reply.longID, let sent = sentAt.removeValue(forKey: id)
                else {
                    // Not an answer to a query in flight: the run cannot go on with a query lost.
                    throw BenchError(.setup, "a reply that answers no query in flight (\(frames.count) frame(s))")
                }
                if sent >= measureFrom && received <= end {
                    result.recordReply(reply, nanoseconds: received - sent)
                }
                if received < end { try sendOne() }
            }
            return result
        }
    }
}

extension LoadResult {
    /// One reply in this many has its info dictionary decoded for the queue and execution
    /// means. The load clients share the machine with the broker: decoding all of them
    /// (seven symbols and their values each) would spend more of it than a sample needs, and
    /// only in the broker's runs, since the baselines' replies carry no info.
    static let infoSampleInterval = 16

    /// Records a reply `(id; result)` or `(id; result; info)` that took `nanoseconds`: the
    /// reply is sliced, not decoded, and a failure (docs/PROTOCOL.md) counts as an error.
    mutating func recordReply(_ reply: SlicedReply, nanoseconds: UInt64) {
        if reply.reportsFailure {
            errors += 1
            return
        }
        record(nanoseconds: nanoseconds)
        if completed % Self.infoSampleInterval == 1, let info = reply.decodeInfo() { recordInfo(info) }
    }

    /// Records the items of a decoded reply `(id; result)` or `(id; result; info)`.
    mutating func recordReply(items: [QValue], nanoseconds: UInt64) {
        if ReplyAssembly.failure(result: items[1], info: items.count >= 3 ? items[2] : nil) != nil {
            errors += 1
            return
        }
        record(nanoseconds: nanoseconds)
        if items.count >= 3 { recordInfo(items[2]) }
    }

    /// Adds an info dictionary's `queued` and `execution` times to the means.
    mutating func recordInfo(_ info: QValue) {
        if case .dictionary(let keys, let values, _) = info,
            case .vector(.symbol(let names), _) = keys, case .list(let entries, _) = values,
            let queuedIndex = names.firstIndex(of: "queued"), let executionIndex = names.firstIndex(of: "execution"),
            case .atom(.timespan(let queued)) = entries[queuedIndex],
            case .atom(.timespan(let execution)) = entries[executionIndex]
        {
            queuedNanoseconds += Double(queued)
            executionNanoseconds += Double(execution)
            infoCount += 1
        }
    }
}

extension SlicedReply {
    /// The id when it is a long atom (type -7, as the load clients send it), read in place: its
    /// 8 bytes are little-endian, since a sliced reply always is.
    var longID: Int64? {
        guard !id.isEmpty, bytes[id.lowerBound] == 0xF9,
            let value = WireInteger.decode(bytes[(id.lowerBound + 1)..<id.upperBound])
        else { return nil }
        return Int64(bitPattern: value)
    }
}
