import Foundation
import QData

/// kdb+ IPC codec throughput: a 1M-element long vector (GB/s) and the small mserve message
/// `(1234; "proc1 `IBM")` (round trips/s). Targets: ≥ 1 GB/s; ≥ 2 million round trips/s.
enum CodecBenchmark {
    /// Prints each figure as soon as it is measured (``BenchChildren/printNow(_:)``).
    static func run() {
        let vector = QValue.vector(.long((0..<1_000_000).map { Int64($0) &* 2_654_435_761 }))
        let vectorBytes = QIPC.encode(vector)
        let megabytes = Double(vectorBytes.count)
        BenchChildren.printNow("codec: 1M long vector (\(vectorBytes.count) bytes)")
        let encode = Measure.bestSecondsPerIteration(iterations: 20) { Measure.consume(QIPC.encode(vector)) }
        BenchChildren.printNow("  encode                \(Measure.rate(megabytes / encode, unit: "B"))   target ≥ 1 GB/s: \(Measure.verdict(megabytes / encode >= 1e9))")
        let decode = Measure.bestSecondsPerIteration(iterations: 20) {
            Measure.consume(try? QIPC.decode(vectorBytes))
        }
        BenchChildren.printNow("  decode                \(Measure.rate(megabytes / decode, unit: "B"))   target ≥ 1 GB/s: \(Measure.verdict(megabytes / decode >= 1e9))")
        let small = QValue.list([.atom(.long(1234)), .string("proc1 `IBM")])
        let smallBytes = QIPC.encode(small)
        BenchChildren.printNow("codec: (1234; \"proc1 `IBM\") (\(smallBytes.count) bytes)")
        let roundTrip = Measure.bestSecondsPerIteration(iterations: 200_000) {
            Measure.consume(try? QIPC.decode(QIPC.encode(small)))
        }
        BenchChildren.printNow("  encode+decode         \(Measure.rate(1 / roundTrip, unit: " msg"))   target ≥ 2 M msg/s: \(Measure.verdict(1 / roundTrip >= 2e6))")
        let slice = Measure.bestSecondsPerIteration(iterations: 200_000) {
            Measure.consume(try? QIPC.sliceList(smallBytes))
        }
        BenchChildren.printNow("  slice (no decode)     \(Measure.rate(1 / slice, unit: " msg"))")
    }
}
