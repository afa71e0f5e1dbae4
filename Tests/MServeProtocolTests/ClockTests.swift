import MServeProtocol
import Testing

struct ClockTests {
    @Test func aDurationInNanosecondsIsExactForOrdinaryLengths() {
        #expect(Duration.seconds(60).nanoseconds == 60_000_000_000)
        #expect(Duration.milliseconds(400).nanoseconds == 400_000_000)
        #expect(Duration.nanoseconds(7).nanoseconds == 7)
        #expect(Duration.zero.nanoseconds == 0)
    }

    @Test func negativeDurationsAreZeroAndAbsurdOnesStayAddableToTheClock() {
        #expect(Duration.seconds(-5).nanoseconds == 0)
        let limit = UInt64(Int64.max)
        #expect(Duration.seconds(Int64.max).nanoseconds == limit)
        #expect(Duration.seconds(Int64(Int64.max / 1_000_000_000)).nanoseconds <= limit)
        // What the broker, servant and client do with a configured duration must not trap.
        let later = QueryClock.monotonicNanoseconds() + Duration.seconds(Int64.max).nanoseconds
        #expect(later > limit)
    }
}
