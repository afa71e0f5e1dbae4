import MServeProtocol
import Testing

struct StatusScheduleTests {
    @Test func aLineIsDueEachPeriodWithTheCountsGrowthAndRate() {
        var schedule = StatusSchedule(every: .seconds(2), now: 1_000)
        #expect(schedule.due(now: 1_000 + 1_999_999_999, count: 10) == nil)
        #expect(schedule.nextDue == 1_000 + 2_000_000_000)
        let first = schedule.due(now: 1_000 + 2_000_000_000, count: 10)
        #expect(first?.growth == 10 && first?.perSecond == 5)
        // The next one a period later, counting from the last line.
        #expect(schedule.due(now: 1_000 + 3_000_000_000, count: 16) == nil)
        let second = schedule.due(now: 1_000 + 4_000_000_000, count: 16)
        #expect(second?.growth == 6 && second?.perSecond == 3)
        #expect(schedule.nextDue == 1_000 + 6_000_000_000, "a period after the last line")
    }

    @Test func withoutAnIntervalNoLineIsEverDue() {
        var schedule = StatusSchedule(every: nil, now: 0)
        #expect(schedule.due(now: .max / 2, count: 5) == nil)
        #expect(schedule.nextDue == nil)
    }
}
