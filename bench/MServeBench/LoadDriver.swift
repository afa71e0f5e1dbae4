import Foundation
import Histogram
import MServeClient
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

/// Monotonic nanoseconds.
@inline(__always)
func monotonicNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Drives a broker with `QueryClient`s: `clients` connections, `inFlight` queries
/// outstanding on each, for `duration` seconds after a short warm-up that is not recorded.
enum BrokerLoad {
    static func run(
        endpoint: String, workload: Workload, clients: Int, inFlight: Int, duration: Double, warmUp: Double = 0.5
    ) async throws -> LoadResult {
        var configuration = ClientConfiguration()
        configuration.deadline = .seconds(10)
        let connections = try (0..<clients).map { _ in try QueryClient(endpoint: endpoint, configuration: configuration) }
        defer { connections.forEach { $0.close() } }
        let zipf = ZipfSampler(count: Workload.symbolCount, exponent: 1.1)
        let start = monotonicNanoseconds()
        let measureFrom = start + UInt64(warmUp * 1e9)
        let end = measureFrom + UInt64(duration * 1e9)
        var total = LoadResult()
        total.seconds = duration
        try await withThrowingTaskGroup(of: LoadResult.self) { group in
            for (clientIndex, client) in connections.enumerated() {
                for slot in 0..<inFlight {
                    group.addTask {
                        var random = BenchRandom(seed: UInt64(clientIndex * 1_000 + slot + 1))
                        var result = LoadResult()
                        while true {
                            let sent = monotonicNanoseconds()
                            if sent >= end { break }
                            let query = workload.nextQuery(&random, zipf: zipf)
                            do {
                                let reply = try await client.send(query)
                                let received = monotonicNanoseconds()
                                guard sent >= measureFrom, received <= end else { continue }
                                result.record(nanoseconds: received - sent)
                                if case .atom(.timespan(let queued)) = reply.info("queued"),
                                    case .atom(.timespan(let execution)) = reply.info("execution")
                                {
                                    result.queuedNanoseconds += Double(queued)
                                    result.executionNanoseconds += Double(execution)
                                    result.infoCount += 1
                                }
                            } catch {
                                if sent >= measureFrom { result.errors += 1 }
                            }
                        }
                        return result
                    }
                }
            }
            for try await result in group { total.merge(result) }
        }
        return total
    }
}
