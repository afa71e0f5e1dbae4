import MServeBroker
import MServeMonitoring
import Testing

struct LatencyWindowTests {
    @Test func percentilesOfTheTimesBetweenTwoReadings() {
        var histogram = TimeHistogram()
        for _ in 0..<50 { histogram.record(nanoseconds: 3_000_000) }  // 3 ms: the 5 ms bucket
        let earlier = histogram.bucketCounts
        for _ in 0..<90 { histogram.record(nanoseconds: 150_000) }  // 150 µs: the 250 µs bucket
        for _ in 0..<10 { histogram.record(nanoseconds: 40_000_000) }  // 40 ms: the 50 ms bucket
        let later = histogram.bucketCounts
        #expect(LatencyWindow.percentile(0.5, from: earlier, to: later) == 0.000_25)
        #expect(LatencyWindow.percentile(0.9, from: earlier, to: later) == 0.000_25)
        #expect(LatencyWindow.percentile(0.99, from: earlier, to: later) == 0.05)
        #expect(LatencyWindow.percentile(0.5, from: later, to: later) == nil)
    }

    @Test func timesPastTheLastBoundReadAsTwiceIt() {
        var histogram = TimeHistogram()
        histogram.record(nanoseconds: 500_000_000_000)
        #expect(LatencyWindow.percentile(0.5, from: TimeHistogram().bucketCounts, to: histogram.bucketCounts) == 120)
    }
}
