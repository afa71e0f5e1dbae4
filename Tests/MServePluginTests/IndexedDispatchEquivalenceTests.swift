import MServePlugin
import Testing
import MServeTestScheduling

/// The shipped plugins of ABI version 3, told the changes as the broker tells them, make the
/// same choices as the algorithms they were in version 2 (ReferenceAlgorithms.swift), handed
/// every servant's view, on random sequences of dispatches, completions, `take`s, servants
/// leaving and coming back.
@Suite(.enabled(if: BuiltPlugins.available, BuiltPlugins.skipReason))
struct IndexedDispatchEquivalenceTests {
    @Test(arguments: [1, 2, 3, 4])
    func origChoosesAsVersionTwoDid(seed: UInt64) throws {
        var pair = try PairedDispatch(plugin: "orig", reference: ReferenceV2OrigAlgorithm(config: "")!, seed: seed)
        pair.run(steps: 3_000)
        #expect(pair.dispatched > 500)
    }

    /// Servants stay: when the one chosen last leaves, version 2 restarted from its index in a
    /// list that other departures may have shifted; version 3 from its place in the list.
    @Test(arguments: [1, 2, 3, 4])
    func evenChoosesAsVersionTwoDid(seed: UInt64) throws {
        var pair = try PairedDispatch(
            plugin: "even", reference: ReferenceV2EvenAlgorithm(config: "")!, seed: seed, servantsComeAndGo: false)
        pair.run(steps: 3_000)
        #expect(pair.dispatched > 500)
    }

    @Test(.heavyComputation, arguments: [1, 2, 3, 4, 5, 6])
    func matchChoosesAndTakesAsVersionTwoDid(seed: UInt64) throws {
        var pair = try PairedDispatch(plugin: "match", reference: ReferenceV2MatchAlgorithm(config: "")!, seed: seed)
        pair.run(steps: 4_000)
        #expect(pair.dispatched > 500)
        #expect(pair.waited > 0, "the sequence never made a query wait: the waiting rules were not compared")
    }

    @Test(arguments: [1, 2])
    func matchNoWaitChoosesAsVersionTwoDid(seed: UInt64) throws {
        var pair = try PairedDispatch(
            plugin: "match:4:nowait", reference: ReferenceV2MatchAlgorithm(config: "4:nowait")!, seed: seed)
        pair.run(steps: 3_000)
        #expect(pair.dispatched > 500)
    }

    @Test(.heavyComputation, arguments: [1, 2, 3])
    func chblChoosesAsVersionTwoDid(seed: UInt64) throws {
        var pair = try PairedDispatch(plugin: "chbl", reference: ReferenceV2ChblAlgorithm(config: "")!, seed: seed)
        pair.run(steps: 3_000)
        #expect(pair.dispatched > 500)
    }

    @Test(arguments: [1, 2, 3])
    func leastLoadedChoosesAsVersionTwoDid(seed: UInt64) throws {
        var pair = try PairedDispatch(
            plugin: "least-loaded", reference: ReferenceV2LeastLoadedAlgorithm(config: "")!, seed: seed)
        pair.run(steps: 3_000)
        #expect(pair.dispatched > 500)
    }
}

/// A version 3 plugin and its version 2 reference driven side by side as the broker drives
/// them: the plugin by events and `choose_in` (group 0), the reference by the views.
struct PairedDispatch {
    let indexed: any DispatchAlgorithm
    let reference: any SwiftDispatchAlgorithm
    let servantsComeAndGo: Bool
    /// The ready servants, in list order (by id), and those that left.
    var ready: [ServantView] = []
    var away: [ServantView] = []
    /// Queries running: servant id, routing string, whether the servant held its data.
    var running: [(id: UInt64, routing: String, warm: Bool)] = []
    var random: SplitMix64
    /// Execution time answered per servant.
    var totalExecution: [UInt64: UInt64] = [:]
    private(set) var dispatched = 0
    private(set) var waited = 0
    static let routings = ["IBM", "MSFT", "AAPL", "GOOG", "ORCL", "INTC"]

    init(plugin: String, reference: any SwiftDispatchAlgorithm, seed: UInt64, servantsComeAndGo: Bool = true) throws {
        indexed = try BuiltPlugins.algorithm(plugin)
        precondition(indexed.followsEvents, "\(plugin) is not a version 3 plugin")
        self.reference = reference
        self.servantsComeAndGo = servantsComeAndGo
        random = SplitMix64(seed: seed)
        let count = 2 + Int(random.next() % 7)
        for id in 1...UInt64(count) {
            let servant = ServantView(
                id: id, name: "s\(id):5001", host: "s\(id)", capacity: 1 + Int(random.next() % 3))
            ready.append(servant)
            indexed.observe(.ready(servant))
        }
    }

    mutating func run(steps: Int) {
        for _ in 0..<steps {
            let roll = random.next() % 100
            switch roll {
            case 0..<50: choose()
            case 50..<60: take()
            case 60..<92: complete()
            case 92..<96 where servantsComeAndGo: leave()
            case 96..<100 where servantsComeAndGo: comeBack()
            default: complete()
            }
        }
    }

    mutating func choose() {
        let routing = Self.routings[Int(random.next() % UInt64(Self.routings.count))]
        let expected = reference.choose(routing: routing, servants: ready).map { ready[$0].id }
        let chosen = indexed.choose(routing: routing, function: "f", group: 0)
        #expect(chosen == expected, "choose \(routing) among \(ready.map { ($0.id, $0.inFlight, $0.lastRouting) })")
        guard let id = expected, chosen == expected else {
            waited += 1
            return
        }
        dispatch(routing, to: id)
    }

    mutating func take() {
        let free = ready.filter(\.isFree)
        guard !free.isEmpty, let taker = reference as? any SwiftQueryTaking, indexed.takesQueries else { return choose() }
        let servant = free[Int(random.next() % UInt64(free.count))]
        let routings = (0..<(1 + random.next() % 4)).map { _ in
            Self.routings[Int(random.next() % UInt64(Self.routings.count))]
        }
        let expected = taker.take(servant: servant, routings: routings)
        let taken = indexed.take(servant: servant, routings: routings)
        #expect(taken == expected, "take by \(servant.id) holding \(servant.lastRouting) of \(routings)")
        guard let index = expected, taken == expected else { return }
        dispatch(routings[index], to: servant.id)
    }

    mutating func dispatch(_ routing: String, to id: UInt64) {
        let index = ready.firstIndex { $0.id == id }!
        running.append((id, routing, ready[index].lastRouting == routing))
        ready[index].inFlight += 1
        ready[index].lastRouting = routing
        dispatched += 1
        indexed.observe(.dispatched(servant: id, routing: routing, inFlight: ready[index].inFlight))
    }

    mutating func complete() {
        guard !running.isEmpty else { return choose() }
        let query = running.remove(at: Int(random.next() % UInt64(running.count)))
        let index = ready.firstIndex { $0.id == query.id }!
        // A cold run costs far more than a warm one, and more than any test lasts: match's
        // waiting is decided by its counts of asks, not by the clock.
        let execution: UInt64 = query.warm ? 1_000 + random.next() % 1_000 : 10_000_000_000
        ready[index].inFlight -= 1
        // As the broker: the mean is the total over the count.
        totalExecution[query.id, default: 0] += execution
        ready[index].queriesServed += 1
        ready[index].meanExecutionNanoseconds = totalExecution[query.id]! / ready[index].queriesServed
        reference.completed(servant: ready[index], routing: query.routing, executionNanoseconds: execution)
        indexed.observe(
            .completed(
                servant: query.id, routing: query.routing, executionNanoseconds: execution,
                inFlight: ready[index].inFlight))
    }

    /// A servant with nothing running leaves (a drained departure), keeping at least one.
    mutating func leave() {
        let idle = ready.indices.filter { ready[$0].inFlight == 0 }
        guard ready.count > 1, !idle.isEmpty else { return complete() }
        let servant = ready.remove(at: idle[Int(random.next() % UInt64(idle.count))])
        away.append(servant)
        indexed.observe(.unready(servant: servant.id))
    }

    /// A servant that left is ready again, in its place in the list, as the broker keeps it.
    mutating func comeBack() {
        guard !away.isEmpty else { return choose() }
        let servant = away.remove(at: Int(random.next() % UInt64(away.count)))
        ready.insert(servant, at: ready.firstIndex { $0.id > servant.id } ?? ready.count)
        indexed.observe(.ready(servant))
    }
}

/// A small seeded generator (SplitMix64): the same sequence for a seed on every run.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
