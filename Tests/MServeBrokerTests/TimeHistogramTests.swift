import MServeBroker
import Testing

/// The loop's histograms put each time in the bucket Prometheus's `le` says: the first whose
/// bound it does not exceed.
struct TimeHistogramTests {
    @Test func everyBoundIsTheLastTimeOfItsBucket() {
        let bounds = TimeHistogram.boundsNanoseconds
        #expect(bounds.count + 1 == TimeHistogram.bucketCount)
        #expect(bounds == bounds.sorted())
        for (index, bound) in bounds.enumerated() {
            #expect(TimeHistogram.bucket(nanoseconds: bound) == index, "bound \(bound)")
            #expect(TimeHistogram.bucket(nanoseconds: bound + 1) == index + 1, "just past \(bound)")
            #expect(TimeHistogram.bucket(nanoseconds: bound - 1) == index, "just under \(bound)")
        }
        #expect(TimeHistogram.bucket(nanoseconds: 0) == 0)
        #expect(TimeHistogram.bucket(nanoseconds: .max) == bounds.count)
    }

    @Test func recordingCountsAndSums() {
        var histogram = TimeHistogram()
        histogram.record(nanoseconds: 40_000)
        histogram.record(nanoseconds: 40_000)
        histogram.record(nanoseconds: 3_000_000)
        histogram.record(nanoseconds: 100_000_000_000)
        #expect(histogram.count == 4)
        #expect(histogram.sumNanoseconds == 100_003_080_000)
        var expected = [UInt64](repeating: 0, count: TimeHistogram.bucketCount)
        expected[0] = 2
        expected[6] = 1
        expected[TimeHistogram.bucketCount - 1] = 1
        #expect(histogram.bucketCounts == expected)
    }
}
