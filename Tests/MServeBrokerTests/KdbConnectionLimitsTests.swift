import MServeBroker
import Testing

/// Who may open one more connection at the kdb+ door.
struct KdbConnectionLimitsTests {
    @Test func theDefaultsForACap() {
        let limits = KdbConnectionLimits(maxConnections: 512)
        #expect(limits.maxPerAddress == 128)
        #expect(limits.reserved == 128)
        // A small cap still lets an address hold a few, and keeps nothing back when it cannot.
        #expect(KdbConnectionLimits(maxConnections: 8).maxPerAddress == 4)
        #expect(KdbConnectionLimits(maxConnections: 3).maxPerAddress == 3)
        #expect(KdbConnectionLimits(maxConnections: 3).reserved == 0)
        #expect(KdbConnectionLimits(maxConnections: 8, maxPerAddress: 100).maxPerAddress == 8)
    }

    @Test func theCapHoldsForEveryone() {
        let limits = KdbConnectionLimits(maxConnections: 8)
        #expect(limits.refusal(open: 8, fromAddress: 0) != nil)
        #expect(limits.refusal(open: 7, fromAddress: 0) == nil)
    }

    @Test func oneAddressHoldsAtMostItsShare() {
        let limits = KdbConnectionLimits(maxConnections: 8)
        #expect(limits.refusal(open: 4, fromAddress: 3) == nil)
        #expect(limits.refusal(open: 4, fromAddress: 4)?.contains("--kdb-max-per-address") == true)
    }

    /// Addresses holding many connections cannot take the last quarter; one holding few can.
    @Test func theLastQuarterIsKeptForAddressesHoldingFew() {
        let limits = KdbConnectionLimits(maxConnections: 8, maxPerAddress: 8)
        #expect(limits.refusal(open: 5, fromAddress: 5) == nil)
        #expect(limits.refusal(open: 6, fromAddress: 4) != nil)
        #expect(limits.refusal(open: 6, fromAddress: KdbConnectionLimits.fewConnections - 2) == nil)
        // Its 4th connection would make an address one holding 4.
        #expect(limits.refusal(open: 6, fromAddress: KdbConnectionLimits.fewConnections - 1) != nil)
        #expect(limits.refusal(open: 7, fromAddress: 0) == nil)
    }

    /// Addresses that each open 4 connections, one address after the other, as many as reach
    /// into the reserve, leave room for a client holding none: an address's 4th connection is
    /// never a reserved one.
    @Test(arguments: [8, 16, 512])
    func addressesOpeningFourEachLeaveRoomForAnother(cap: Int) {
        let limits = KdbConnectionLimits(maxConnections: cap, maxPerAddress: KdbConnectionLimits.fewConnections)
        let addresses = (cap - limits.reserved) / KdbConnectionLimits.fewConnections + 1
        var open = 0
        for _ in 0..<addresses {
            var held = 0
            for _ in 0..<KdbConnectionLimits.fewConnections where limits.refusal(open: open, fromAddress: held) == nil {
                held += 1
                open += 1
            }
        }
        #expect(limits.refusal(open: open, fromAddress: 0) == nil, "open \(open) of \(cap)")
    }
}
