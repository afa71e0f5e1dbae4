// The dispatch algorithms as they were in ABI version 2 (a pass over every servant's view per
// call), kept as the reference the version 3 plugins are compared with on random sequences
// (IndexedDispatchEquivalenceTests).
import MServePlugin

// plugins/orig/Plugin.swift, ABI version 2.
/// The first free servant from the top of the list (the original mserve dispatcher).
final class ReferenceV2OrigAlgorithm: SwiftDispatchAlgorithm {
    /// Takes no configuration: nil (the launch stops) for any text, `orig:xyz` say.
    init?(config: String) {
        guard config.isEmpty else { return nil }  // it takes no configuration
    }

    /// The first free servant, or nil when all are busy.
    func choose(routing: String, servants: [ServantView]) -> Int? {
        servants.firstIndex(where: \.isFree)
    }
}

// plugins/even/Plugin.swift, ABI version 2.
/// The next free servant further down the list from the last dispatch, wrapping around, so no
/// servant stays unused.
final class ReferenceV2EvenAlgorithm: SwiftDispatchAlgorithm {
    /// The servant chosen last, by id, and the position it had then.
    private var last: (id: UInt64, index: Int)?

    /// Takes no configuration: nil (the launch stops) for any text, `even:xyz` say.
    init?(config: String) {
        guard config.isEmpty else { return nil }  // it takes no configuration
    }

    /// The first free servant after the one chosen last, wrapping; nil when all are busy.
    func choose(routing: String, servants: [ServantView]) -> Int? {
        guard !servants.isEmpty else { return nil }
        let start: Int
        if let last {
            if let position = servants.firstIndex(where: { $0.id == last.id }) {
                start = position + 1
            } else {
                // The last servant left: its successor moved into its position.
                start = last.index
            }
        } else {
            start = 0
        }
        for step in 0..<servants.count {
            let index = (start + step) % servants.count
            if servants[index].isFree {
                last = (servants[index].id, index)
                return index
            }
        }
        return nil
    }
}

// plugins/match/Plugin.swift, ABI version 2.
/// The free servant whose previous query had the same routing string. When that servant is
/// busy, the query waits for it — at most as long as a cold run costs more than a warm one,
/// as learnt from the execution times reported so far — and then runs elsewhere. (The broker
/// offers the queries behind a waiting one meanwhile: its look-ahead.)
/// Else the free servant whose data is least wanted: a servant never used, else the one whose
/// routing string was asked for least often among the last `window` queries, per servant
/// holding it; ties go to the servant chosen least recently. When that is the only free servant
/// and its data is wanted more than the query's routing string, the query waits (as long as
/// for a busy servant): a query wanting that data is likely waiting behind it. And a servant
/// that frees up first takes a waiting query of its own data, if the look-ahead holds one
/// (`take`), so that under load each servant works through the queries of its data.
///
/// The fallback matters as much as the match: taking the first free servant from the top (as
/// `orig` does) keeps overwriting the data the top servant holds while the others keep stale
/// data. Giving way with the servant that holds the coldest routing string keeps the popular
/// routing strings warm on their servants.
///
/// Configuration: `match:N` sets the window (default 256 queries); `match:N:nowait` (or
/// `match:nowait`) never waits for a busy servant, as in the original mserve.
final class ReferenceV2MatchAlgorithm: SwiftQueryTaking {
    /// The last `window` routing strings asked for, oldest first, and how often each occurs.
    private var recent = RecentRoutingCounts(window: 256)
    /// Whether a query may wait for its busy servant.
    private var mayWait = true
    /// When each servant (by id) was chosen last, in dispatches counted by this algorithm.
    private var lastChosen: [UInt64: UInt64] = [:]
    private var dispatches: UInt64 = 0
    /// Queries dispatched and not completed, per servant: routing string, and whether the
    /// servant ran that routing string last (a warm run). Each servant's list is an object,
    /// changed in place after one lookup: changing a dictionary's value through its subscript
    /// costs allocations on every query.
    private var running: [UInt64: RunningQueries] = [:]
    /// Since when queries of a routing string have waited for its busy servant, and how many
    /// times they were made to wait since.
    private var waitingSince: [String: ContinuousClock.Instant] = [:]
    private var waitAsks: [String: Int] = [:]
    /// The routing string at the front of the line when `take` last passed over it, and how many
    /// times in a row it was passed over (see `take`).
    private var passedOverFront = ""
    private var frontPassedOver = 0
    /// Execution times of warm and cold runs.
    private var warmRuns = RunningMean()
    private var coldRuns = RunningMean()

    /// `config` is empty, or `N`, `nowait` or `N:nowait` (N a positive integer: the window).
    init?(config: String) {
        for part in config.split(separator: ":", omittingEmptySubsequences: true) {
            if part == "nowait" {
                mayWait = false
            } else if let window = Int(part), window > 0 {
                recent = RecentRoutingCounts(window: window)
            } else {
                return nil
            }
        }
    }

    /// A free servant whose last routing string is `routing`; nil (wait) while that servant is
    /// busy and waiting still pays; else the free servant holding the least wanted routing
    /// string; nil when all are busy.
    func choose(routing: String, servants: [ServantView]) -> Int? {
        let chosen: Int
        if let match = servants.firstIndex(where: { $0.isFree && $0.lastRouting == routing }) {
            chosen = match
        } else if mayWait, servants.contains(where: { $0.lastRouting == routing }),
            keepsWaiting(routing, servants: servants.count)
        {
            return nil
        } else if let fallback = leastWanted(among: servants) {
            if mayWait, evictionWaits(routing, for: fallback, among: servants) { return nil }
            chosen = fallback
        } else {
            return nil
        }
        noteDispatch(of: routing, to: servants[chosen])
        if lastChosen.count > 2 * servants.count + 16 {
            // Servants that left: forget them.
            let present = Set(servants.map(\.id))
            lastChosen = lastChosen.filter { present.contains($0.key) }
            running = running.filter { present.contains($0.key) }
        }
        return chosen
    }

    /// A free servant holding data takes the first waiting query that wants it (a warm run),
    /// before the queries are offered one by one in arrival order: under load the line holds
    /// several queries of the popular routing strings, and each servant works through those
    /// of its own data rather than take whatever is at the front and run it cold. Nil (the
    /// queries go to `choose`) when none in the look-ahead wants its data, and once the query
    /// at the front has been passed over as many times as the look-ahead holds queries: it
    /// then gets its turn with `choose`, which may make it wait a cold run's worth at most.
    func take(servant: ServantView, routings: [String]) -> Int? {
        guard servant.isFree, !servant.lastRouting.isEmpty, let front = routings.first,
            let index = routings.firstIndex(of: servant.lastRouting)
        else { return nil }
        if index > 0 {
            frontPassedOver = front == passedOverFront ? frontPassedOver + 1 : 1
            passedOverFront = front
            if frontPassedOver > routings.count { return nil }
        } else {
            frontPassedOver = 0
        }
        noteDispatch(of: routings[index], to: servant)
        return index
    }

    /// Records that a query of `routing` goes to `servant`.
    private func noteDispatch(of routing: String, to servant: ServantView) {
        recent.record(routing)
        // Both are empty unless queries waited: then no routing string needs hashing.
        if !waitingSince.isEmpty { waitingSince[routing] = nil }
        if !waitAsks.isEmpty { waitAsks[routing] = nil }
        dispatches += 1
        lastChosen[servant.id] = dispatches
        if let queries = running[servant.id] {
            queries.append(routing: routing, warm: servant.lastRouting == routing)
        } else {
            let queries = RunningQueries()
            queries.append(routing: routing, warm: servant.lastRouting == routing)
            running[servant.id] = queries
        }
    }

    /// Learns warm and cold execution times.
    func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {
        guard let warm = running[servant.id]?.remove(routing: routing) else { return }
        if warm {
            warmRuns.add(executionNanoseconds)
        } else {
            coldRuns.add(executionNanoseconds)
        }
    }

    /// The free servant holding the least wanted data (the first of the least in demand, then
    /// the one chosen longest ago), or nil when all are busy. Computes each servant's demand
    /// once, with the order `min(by:)` would give.
    private func leastWanted(among servants: [ServantView]) -> Int? {
        var best: (index: Int, demand: Double, lastChosen: UInt64)?
        for index in servants.indices where servants[index].isFree {
            let candidate = (
                index: index, demand: demand(servants[index], among: servants),
                lastChosen: lastChosen[servants[index].id, default: 0]
            )
            guard let current = best else {
                best = candidate
                continue
            }
            // As min(by:): a later servant replaces the best only when strictly less.
            if candidate.demand != current.demand {
                if candidate.demand < current.demand { best = candidate }
            } else if candidate.lastChosen < current.lastChosen {
                best = candidate
            }
        }
        return best?.index
    }

    /// Whether a query of `routing` should wait rather than evict the data of `servant`, the
    /// only free one: while that data is wanted more than `routing` is, a query of its own
    /// routing string is likely among those waiting in the broker (which offers them next,
    /// its look-ahead) or about to come, and a cold run for a less wanted routing string would
    /// cost that one a cold run too. As for a busy servant, the wait lasts at most what a cold
    /// run costs over a warm one; with a second servant free there is no line, and it runs; with
    /// no other servant (none busy) it runs too. (Version 3 learns the costs per function.)
    private func evictionWaits(_ routing: String, for servant: Int, among servants: [ServantView]) -> Bool {
        guard servants.count(where: \.isFree) == 1, servants.count > 1, waitingPays,
            demand(servants[servant], among: servants) > Double(recent.count(of: routing))
        else { return false }
        return keepsWaiting(routing, servants: servants.count, countingAsks: false)
    }

    /// Whether warm and cold runs have been measured and a cold run costs more than two warm ones.
    private var waitingPays: Bool {
        warmRuns.count >= 16 && coldRuns.count >= 16 && coldRuns.mean > 2 * warmRuns.mean
    }

    /// Whether a query of `routing`, whose servant is busy, should wait for it: once warm and
    /// cold runs have been measured and a cold run costs more than two warm ones, queries of a
    /// routing string wait for its servant for at most what a cold run costs over a warm one,
    /// counted from when the first of them started waiting; then they run elsewhere (which
    /// spreads a routing string in high demand over more servants). Waiting that long at most
    /// costs no more than twice the best choice made knowing the future.
    /// `countingAsks: false` leaves out the count of asks (a query waiting for a servant to
    /// free up is asked again whenever any servant does).
    private func keepsWaiting(_ routing: String, servants: Int, countingAsks: Bool = true) -> Bool {
        guard waitingPays else { return false }
        let patience = Duration.nanoseconds(Int64(coldRuns.mean - warmRuns.mean))
        let now = ContinuousClock.now
        guard let since = waitingSince[routing] else {
            if waitingSince.count > 4_096 {
                // Routing strings whose queries left the queue without a dispatch (deadlines).
                waitingSince = waitingSince.filter { now - $0.value < patience }
                waitAsks = waitAsks.filter { waitingSince[$0.key] != nil }
            }
            waitingSince[routing] = now
            waitAsks[routing] = 1
            return true
        }
        // Many queries of this routing string waiting (the broker offers each again whenever
        // a servant frees up) means a long line for its servants while others idle: spread it.
        let asks = waitAsks[routing, default: 0] + (countingAsks ? 1 : 0)
        waitAsks[routing] = asks
        if now - since < patience && asks <= 2 * servants { return true }
        waitingSince[routing] = nil
        waitAsks[routing] = nil
        return false
    }

    /// How much the data a servant holds is wanted: -1 for none (never used), else how often
    /// its routing string was asked for recently, shared among the servants holding it (a
    /// routing string in high demand keeps several servants; a second copy of a modest one
    /// gives way first).
    private func demand(_ servant: ServantView, among servants: [ServantView]) -> Double {
        if servant.lastRouting.isEmpty { return -1 }
        let holders = servants.count(where: { $0.lastRouting == servant.lastRouting })
        return Double(recent.count(of: servant.lastRouting)) / Double(max(1, holders))
    }
}

/// A mean that follows recent values: cumulative for the first 64, then exponentially weighted.
struct RunningMean {
    private(set) var count = 0
    private(set) var mean = 0.0

    mutating func add(_ value: UInt64) {
        count += 1
        mean += (Double(value) - mean) / Double(min(count, 64))
    }
}

/// Counts of the routing strings among the last `window` queries, kept in O(1) per query.
struct RecentRoutingCounts {
    private var ring: [String]
    private var next = 0
    private var filled = false
    private var counts: [String: Int] = [:]

    init(window: Int) { ring = Array(repeating: "", count: max(1, window)) }

    mutating func record(_ routing: String) {
        if filled {
            let leaving = ring[next]
            if leaving == routing {
                // The same routing string leaves and enters: the counts stay as they are.
                advance()
                return
            }
            // One lookup, then the count is changed or removed in place.
            if let index = counts.index(forKey: leaving) {
                if counts.values[index] > 1 {
                    counts.values[index] -= 1
                } else {
                    counts.remove(at: index)
                }
            }
        }
        ring[next] = routing
        counts[routing, default: 0] += 1
        advance()
    }

    /// Moves to the next slot of the ring.
    private mutating func advance() {
        next += 1
        if next == ring.count {
            next = 0
            filled = true
        }
    }

    func count(of routing: String) -> Int { counts[routing] ?? 0 }
}



/// The queries dispatched to one servant and not completed yet, oldest first: each one's
/// routing string, and whether the servant ran that routing string last (a warm run).
final class RunningQueries {
    private var queries: [(routing: String, warm: Bool)] = []

    /// Notes a query dispatched to the servant.
    func append(routing: String, warm: Bool) { queries.append((routing, warm)) }

    /// Removes the query of `routing` that completed (the oldest of that routing string, else
    /// the oldest of all) and says whether it was a warm run; nil when none runs. The storage
    /// is kept for the servant's next query.
    func remove(routing: String) -> Bool? {
        guard !queries.isEmpty else { return nil }
        let index = queries.firstIndex { $0.routing == routing } ?? 0
        return queries.remove(at: index).warm
    }
}

// plugins/least-loaded/least_loaded.c, ABI version 2, in Swift.
/// The free servant with the lowest in_flight / capacity; ties to the lower mean execution
/// time, then to the one higher in the list.
final class ReferenceV2LeastLoadedAlgorithm: SwiftDispatchAlgorithm {
    init?(config: String) {}

    func choose(routing: String, servants: [ServantView]) -> Int? {
        var best: Int?
        for index in servants.indices where servants[index].isFree {
            guard let current = best else {
                best = index
                continue
            }
            let left = servants[index].inFlight * servants[current].capacity
            let right = servants[current].inFlight * servants[index].capacity
            if left != right ? left < right
                : servants[index].meanExecutionNanoseconds < servants[current].meanExecutionNanoseconds
            {
                best = index
            }
        }
        return best
    }
}

// plugins/chbl/Plugin.swift, ABI version 2.
/// Consistent hashing with bounded loads.
///
/// Servant names sit on a hash ring, each at `virtualNodesPerServant` points. A routing string
/// hashes to a point and goes to the first servant clockwise that is free and whose load after
/// taking it (`inFlight + 1`) stays within `ceil(c × average load)`, the average counting the new
/// query. A routing string therefore keeps its servant while that servant is not overloaded, and
/// spills to the next servants on the ring (the same ones every time) when it is. When every
/// servant within the bound is busy, the first free servant clockwise takes the query, so a free
/// servant never idles while queries wait.
///
/// Configuration: `c`, a number ≥ 1 (`MSERVE_ALGO=chbl:1.5`); default 1.25.
final class ReferenceV2ChblAlgorithm: SwiftDispatchAlgorithm {
    /// The load factor used when the configuration is empty.
    static let defaultLoadFactor = 1.25
    /// Points on the ring per servant; more points spread arcs more evenly.
    static let virtualNodesPerServant = 64

    /// The load factor `c`: no servant takes more than `ceil(c × average)` queries at once.
    let loadFactor: Double

    /// The servant names the ring was built for, in the broker's order.
    private var ringNames: [String] = []
    /// Ring points sorted by hash; `servant` indexes `ringNames`.
    private var ring: [(hash: UInt64, servant: Int)] = []

    /// Reads `c` from `config` ("" for the default); nil when it is not a number ≥ 1.
    init?(config: String) {
        if config.isEmpty {
            loadFactor = Self.defaultLoadFactor
        } else if let value = Double(config), value >= 1, value.isFinite {
            loadFactor = value
        } else {
            return nil
        }
    }

    /// The first servant clockwise from the routing string's point that is free and within the bound.
    func choose(routing: String, servants: [ServantView]) -> Int? {
        guard servants.contains(where: \.isFree) else { return nil }
        rebuildRingIfNeeded(servants)

        let totalLoad = servants.reduce(0) { $0 + $1.inFlight } + 1
        let bound = Int((loadFactor * Double(totalLoad) / Double(servants.count)).rounded(.up))

        var visited = [Bool](repeating: false, count: servants.count)
        var firstFree: Int?
        var position = firstRingPosition(atOrAfter: Self.hash(routing))
        for _ in 0..<ring.count {
            let servant = ring[position].servant
            position = (position + 1) % ring.count
            if visited[servant] { continue }
            visited[servant] = true
            guard servants[servant].isFree else { continue }
            if servants[servant].inFlight + 1 <= bound { return servant }
            if firstFree == nil { firstFree = servant }
        }
        return firstFree
    }

    // MARK: The ring

    private func rebuildRingIfNeeded(_ servants: [ServantView]) {
        guard servants.count != ringNames.count || !zip(servants, ringNames).allSatisfy({ $0.name == $1 }) else {
            return
        }
        ringNames = servants.map(\.name)
        ring.removeAll(keepingCapacity: true)
        for (servant, name) in ringNames.enumerated() {
            for replica in 0..<Self.virtualNodesPerServant {
                ring.append((Self.hash("\(name)#\(replica)"), servant))
            }
        }
        ring.sort { ($0.hash, $0.servant) < ($1.hash, $1.servant) }
    }

    /// The index of the first ring point with a hash ≥ `hash`, wrapping to 0.
    private func firstRingPosition(atOrAfter hash: UInt64) -> Int {
        var low = 0
        var high = ring.count
        while low < high {
            let middle = (low + high) / 2
            if ring[middle].hash < hash { low = middle + 1 } else { high = middle }
        }
        return low == ring.count ? 0 : low
    }

    /// 64-bit FNV-1a of the UTF-8 bytes, then the SplitMix64 finalizer so that strings differing in
    /// their last characters ("host:5001", "host:5002") still land far apart. Stable across runs.
    static func hash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        return hash ^ (hash >> 31)
    }
}
