import MServePlugin
import Testing
import MServeTestScheduling

/// `ServantIDSet` (the free and member sets of `ReadyServants`) against a sorted array, over ids
/// spread far enough to need three levels of summaries and to make the set grow mid-run.
struct ServantIDSetTests {
    @Test(.heavyComputation, arguments: [1, 2, 3])
    func findsTheFirstMemberAtOrAfterAnIdAsASortedListWould(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var set = ServantIDSet()
        var sorted: [UInt64] = []
        for step in 0..<4_000 {
            // Mostly near ids (the broker's are dense), sometimes far ones (the set grows).
            let id = step % 97 == 0 ? UInt64.random(in: 0...300_000, using: &random) : UInt64.random(in: 0...3_000, using: &random)
            let position = sorted.firstIndex { $0 >= id } ?? sorted.count
            let present = position < sorted.count && sorted[position] == id
            if Bool.random(using: &random) {
                #expect(set.insert(id) == !present)
                if !present { sorted.insert(id, at: position) }
            } else {
                #expect(set.remove(id) == present)
                if present { sorted.remove(at: position) }
            }
            let probe = UInt64.random(in: 0...(Bool.random(using: &random) ? 3_100 : 310_000), using: &random)
            #expect(set.first(atOrAfter: probe) == sorted.first { $0 >= probe })
            #expect(set.first(after: probe) == (sorted.first { $0 > probe } ?? sorted.first))
            #expect(set.contains(probe) == sorted.contains(probe))
            #expect(set.count == sorted.count)
            if step % 500 == 0 { #expect(set.members == sorted) }
        }
    }
}
