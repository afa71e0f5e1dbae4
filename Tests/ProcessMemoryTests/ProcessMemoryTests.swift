import ProcessMemory
import Testing

struct ProcessMemoryTests {
    @Test func theStatusFileGivesResidentAndPeakInBytes() {
        let status = "Name:\tmserve\nVmPeak:\t  900000 kB\nVmHWM:\t  524288 kB\nVmRSS:\t  131072 kB\nThreads:\t4\n"
        #expect(ProcessMemory.parseStatus(status) == ProcessMemory.Usage(resident: 128 << 20, peak: 512 << 20))
        #expect(ProcessMemory.parseStatus("Name:\tmserve\nVmRSS:\t 1 kB\n") == nil, "no VmHWM")
    }

    @Test func thisProcessReportsItsMemory() throws {
        let usage = try #require(ProcessMemory.usage())
        #expect(usage.resident > 0)
        #expect(usage.peak >= usage.resident)
    }

    @Test func aReleaseIsDueOnlyAfterGrowthOverTheFloorAndAtMostOncePerInterval() {
        var schedule = MemoryReleaseSchedule(interval: 1_000, allowance: 100)
        var size = 1_000
        var reads = 0
        func due(at now: UInt64) -> Bool {
            schedule.isDue(now: now) {
                reads += 1
                return size
            }
        }
        // The first check sets the floor.
        #expect(!due(at: 0))
        #expect(schedule.floor == 1_000)
        // Growth within the allowance: nothing to do.
        size = 1_100
        #expect(!due(at: 1_000))
        // Growth beyond it, but checked again too soon: not even read.
        size = 1_500
        #expect(!due(at: 1_500))
        #expect(reads == 2)
        #expect(due(at: 2_000))
        // The release left 1,050: the floor stays at 1,000, so this is within the allowance.
        schedule.released(resident: 1_050)
        size = 1_050
        #expect(!due(at: 3_000))
        // Memory that stays high is released again, once per interval.
        size = 1_400
        #expect(due(at: 4_000))
        #expect(!due(at: 4_500))
        #expect(due(at: 5_000))
        // A lower size lowers the floor.
        size = 800
        #expect(!due(at: 6_000))
        #expect(schedule.floor == 800)
        size = 950
        #expect(due(at: 7_000))
    }

    @Test func noReadingMeansNoRelease() {
        var schedule = MemoryReleaseSchedule(interval: 10, allowance: 0)
        #expect(!schedule.isDue(now: 0) { nil })
        #expect(!schedule.isDue(now: 10) { nil })
        #expect(schedule.floor == nil)
    }

    @Test func releasingFreeMemoryKeepsLiveData() {
        ProcessMemory.returnLargeBlocksWhenFreed()
        var kept = [UInt8](repeating: 3, count: 4 << 20)
        do {
            let dropped = [UInt8](repeating: 9, count: 8 << 20)
            #expect(dropped.count == 8 << 20)
        }
        ProcessMemory.releaseFreeMemory()
        kept[0] = 4
        #expect(kept.dropFirst().allSatisfy { $0 == 3 } && kept[0] == 4)
    }
}
