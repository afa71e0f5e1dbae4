import Testing

@testable import MServeBroker

/// The broker's heartbeats to many servants are spread over the interval (`HeartbeatSlots`).
struct HeartbeatSlotsTests {
    @Test func eachServantIsVisitedOnceAnIntervalAndATurnVisitsAnEighthOfThem() {
        // Servants as the broker numbers them: one after another, from 1.
        let ids: [UInt64] = Array(1...1_000)
        var visits: [UInt64: Int] = [:]
        var largestTurn = 0
        // One interval: a turn per slot.
        for slot in 0..<HeartbeatSlots.count {
            let turn = ids.filter { HeartbeatSlots.slot(of: $0) == slot }
            largestTurn = max(largestTurn, turn.count)
            for id in turn { visits[id, default: 0] += 1 }
        }
        #expect(visits.count == ids.count && visits.values.allSatisfy { $0 == 1 })
        // No turn sends more than an eighth of the PINGs.
        #expect(largestTurn <= ids.count / 8, "a turn visits \(largestTurn) of \(ids.count) servants")
    }
}
