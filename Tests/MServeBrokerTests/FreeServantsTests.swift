import MServePlugin
import Testing

@testable import MServeBroker

/// The free servants apart by the list of functions they announced: each distinct list is
/// numbered once while a servant announces it, number 0 is every function, and a number is
/// used again once no servant announces its list.
struct FreeServantsTests {
    @Test func eachDistinctListIsNumberedOnceAndItsNumberReusedWhenNoneAnnouncesIt() {
        var free = FreeServants()
        #expect(free.announce(.every) == 0)
        let trades = free.announce(.only(["trades", "quotes"]))
        #expect(trades != 0)
        #expect(free.announce(.only(["quotes", "trades"])) == trades, "the same functions, another order")
        let risk = free.announce(.only(["risk"]))
        #expect(Set([0, trades, risk]).count == 3)
        #expect(free.listCount == 3)

        free.withdraw(trades)
        #expect(free.lists[trades]?.announcers == 1, "one servant still announces it")
        free.withdraw(trades)
        #expect(free.lists[trades] == nil)
        #expect(free.listCount == 2)
        #expect(free.announce(.only(["pnl"])) == trades, "its number is used again")
        #expect(free.announce(.only(["trades", "quotes"])) != trades)

        // Every function keeps number 0 with no servant announcing it.
        free.withdraw(0)
        #expect(free.lists[0] != nil)
        #expect(free.announce(.every) == 0)
    }

    @Test func freeServantsAreCountedTogetherAndKeptByList() {
        var free = FreeServants()
        let every = free.announce(.every)
        let trades = free.announce(.only(["trades"]))
        free.insert(3, list: every)
        free.insert(1, list: trades)
        free.insert(7, list: trades)
        #expect(free.count == 3)
        #expect(free.lists.compactMap { $0?.free.members }.joined().sorted() == [1, 3, 7])
        #expect(free.lists[trades]?.free.members == [1, 7])
        #expect(free.lists[every]?.free.members == [3])

        free.remove(1, list: trades)
        #expect(free.count == 2)
        // Counted once: a servant free already, or busy already, changes nothing.
        free.insert(7, list: trades)
        free.remove(1, list: trades)
        #expect(free.count == 2)
        #expect(free.lists[trades]?.free.members == [7])
        #expect(free.lists[trades]?.free.first(atOrAfter: 2) == 7)
    }
}
