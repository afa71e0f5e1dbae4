import MServeMonitoring
import Testing

struct LatencyWindowTests {
    @Test func percentilesOfTheTimesBetweenTwoCounts() {
        let window = LatencyWindow()
        for _ in 0..<50 { window.record(nanoseconds: 3_000_000) }  // 3 ms: the 5 ms bucket
        let earlier = window.counts()
        for _ in 0..<90 { window.record(nanoseconds: 150_000) }  // 150 µs: the 200 µs bucket
        for _ in 0..<10 { window.record(nanoseconds: 40_000_000) }  // 40 ms: the 50 ms bucket
        let later = window.counts()
        #expect(LatencyWindow.percentile(0.5, from: earlier, to: later) == 0.000_2)
        #expect(LatencyWindow.percentile(0.9, from: earlier, to: later) == 0.000_2)
        #expect(LatencyWindow.percentile(0.99, from: earlier, to: later) == 0.05)
        #expect(LatencyWindow.percentile(0.5, from: later, to: later) == nil)
    }

    @Test func extremesLandInTheEndBuckets() {
        let window = LatencyWindow()
        window.record(nanoseconds: -5)
        window.record(nanoseconds: 500_000_000_000)
        let counts = window.counts()
        #expect(counts.first == 1)
        #expect(counts.last == 1)
        #expect(counts.count == LatencyWindow.bounds.count + 1)
    }
}
