import MServeProtocol
import QData
import Testing

@testable import MServeBroker

/// The in-flight table holds what a dictionary by tag would hold, through growth, shrinking
/// and removals anywhere in a probe's run, in-order tags or scattered ones.
struct InFlightTableTests {
    func flight(_ tag: UInt64, servant: UInt64 = 1) -> InFlightQuery {
        let query = HeldQuery(
            tag: tag, route: .zmq(envelope: []), message: .bytes([]), id: .atom(.long(Int64(tag))), routing: "",
            receivedTimestamp: 0, receivedAt: 0, deadline: 0)
        return InFlightQuery(query: query, servantID: servant, dispatchedAt: tag)
    }

    func expectSame(_ table: InFlightTable, _ model: [UInt64: UInt64], _ step: Int) {
        #expect(table.count == model.count, "step \(step)")
        #expect(table.isEmpty == model.isEmpty, "step \(step)")
        var seen: [UInt64: UInt64] = [:]
        for (tag, flight) in table { seen[tag] = flight.dispatchedAt }
        #expect(seen == model, "step \(step)")
        #expect(table.values.count == model.count, "step \(step)")
    }

    @Test(arguments: [false, true])
    func itHoldsWhatADictionaryWouldHold(scattered: Bool) {
        var table = InFlightTable()
        var model: [UInt64: UInt64] = [:]
        var state: UInt64 = scattered ? 0x5EED : 0x1234
        func random() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        var nextTag: UInt64 = 1
        for step in 0..<20_000 {
            // Bursts in and out, so that the table grows past its first size and shrinks back.
            let inserting = (step / 2_000) % 2 == 0 ? random() % 4 != 0 : random() % 4 == 0
            if inserting || model.isEmpty {
                let tag = scattered ? 1 + random() % 1_000_000_000 : nextTag
                nextTag += 1
                table[tag] = flight(tag)
                model[tag] = tag
            } else {
                // Any entry: the oldest, the newest, or one in between.
                let tags = Array(model.keys)
                let tag = tags[Int(random() % UInt64(tags.count))]
                let removed = random() % 2 == 0 ? table.removeValue(forKey: tag) : { () -> InFlightQuery? in
                    let found = table[tag]
                    table[tag] = nil
                    return found
                }()
                #expect(removed?.dispatchedAt == tag, "step \(step)")
                model[tag] = nil
                #expect(table[tag] == nil, "step \(step)")
                #expect(table.removeValue(forKey: tag) == nil, "step \(step)")
            }
            if step % 997 == 0 { expectSame(table, model, step) }
        }
        expectSame(table, model, -1)
        for tag in Array(model.keys) {
            #expect(table[tag]?.dispatchedAt == tag)
            table.removeValue(forKey: tag)
        }
        #expect(table.isEmpty)
    }

    @Test func anEntryIsChangedInPlaceAndACopyIsNotChanged() {
        var table = InFlightTable()
        table[7] = flight(7, servant: 1)
        let copy = table
        table[7]?.abandoned = true
        table[7] = flight(7, servant: 2)
        #expect(table[7]?.servantID == 2)
        #expect(table.count == 1)
        #expect(copy[7]?.servantID == 1)
        #expect(copy[7]?.abandoned == false)
    }

    /// A servant's reply takes its query out only while the query is in flight at that servant.
    @Test func aQueryIsRemovedOnlyForTheServantItIsAt() {
        var table = InFlightTable()
        table[5] = flight(5, servant: 1)
        #expect(table.removeValue(forKey: 5, ifAt: 2) == nil)
        #expect(table[5]?.servantID == 1)
        #expect(table.removeValue(forKey: 6, ifAt: 1) == nil)
        #expect(table.removeValue(forKey: 5, ifAt: 1)?.dispatchedAt == 5)
        #expect(table.isEmpty)
        #expect(table.removeValue(forKey: 5, ifAt: 1) == nil)
    }
}
