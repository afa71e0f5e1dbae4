// The match dispatch algorithm plugin (the default): keep a routing string on the servant that
// ran it last, so its data stays warm; else the free servant whose data is least wanted.
public import MServePlugin

/// The free servant whose previous query had the same routing string. When that servant is
/// busy, the query waits for it — at most as long as a cold run of its function costs more
/// than a warm one, as learnt from the execution times of that function reported so far — and
/// then runs elsewhere. (The broker offers the queries behind a waiting one meanwhile: its
/// look-ahead.)
/// Else the free servant whose data is least wanted: a servant never used, else the one whose
/// routing string was asked for least often among the last `window` queries, per servant
/// holding it; ties go to the servant chosen least recently. When that is the only free servant,
/// another one that could run the query is busy, and the free one's data is wanted more than
/// the query's routing string, the query waits (as long as for a busy servant): a query wanting
/// that data is likely waiting behind it. And a servant that frees up first takes a waiting
/// query of its own data, if the look-ahead holds one (`take`), so that under load each servant
/// works through the queries of its data.
///
/// The fallback matters as much as the match: taking the first free servant from the top (as
/// `orig` does) keeps overwriting the data the top servant holds while the others keep stale
/// data. Giving way with the servant that holds the coldest routing string keeps the popular
/// routing strings warm on their servants.
///
/// Configuration: `match:N` sets the window (default 256 queries); `match:N:nowait` (or
/// `match:nowait`) never waits for a busy servant, as in the original mserve.
///
/// Its state is marked `@exclusivity(unchecked)`: the broker calls a plugin from one thread,
/// one call at a time, and no access overlaps another, so the runtime's checks (a thread-local
/// lookup per access, a dozen per query) are left out.
public final class MatchAlgorithm: SwiftIndexedDispatchAlgorithm {
    /// The ready servants, the free ones per candidate group, and which hold each routing
    /// string (ABI version 3): a query whose servant is free is matched without a pass over the
    /// servants.
    @exclusivity(unchecked) private var ready = ReadyServants()
    /// The last `window` routing strings asked for, oldest first, and how often each occurs.
    @exclusivity(unchecked) private var recent = RecentRoutingCounts(window: 256)
    /// Whether a query may wait for its busy servant.
    @exclusivity(unchecked) private var mayWait = true
    /// When each servant was chosen last, in dispatches counted by this algorithm (0: never),
    /// indexed by id (the broker's ids count from 1: an array, not a hash, per query).
    @exclusivity(unchecked) private var lastChosen: [UInt64] = []
    @exclusivity(unchecked) private var dispatches: UInt64 = 0
    /// Queries dispatched and not completed, per servant: routing string, function (its place in
    /// `costs`), and whether the servant ran that routing string last (a warm run). Each servant's list is an object,
    /// changed in place after one lookup: changing a dictionary's value through its subscript
    /// costs allocations on every query. Indexed by id, as `lastChosen`.
    @exclusivity(unchecked) private var running: [RunningQueries?] = []
    /// Since when queries of a routing string have waited for its busy servant, and how many
    /// times they were made to wait since.
    @exclusivity(unchecked) private var waitingSince: [String: ContinuousClock.Instant] = [:]
    @exclusivity(unchecked) private var waitAsks: [String: Int] = [:]
    /// The routing string at the front of the line when `take` last passed over it, and how many
    /// times in a row it was passed over (see `take`).
    @exclusivity(unchecked) private var passedOverFront = ""
    @exclusivity(unchecked) private var frontPassedOver = 0
    /// The function of the query each servant was last chosen for (its place in `costs`, -1:
    /// none), indexed by id as `lastChosen`: a query a free servant takes (`take` sees routing
    /// strings only) wants the data that query left, and counts as a run of its function.
    @exclusivity(unchecked) private var lastFunction: [Int] = []
    /// Execution times of warm and cold runs per function, in the order the functions were
    /// first named: what one function's cold run costs over its warm one says nothing of
    /// another's (a cold `sleep` of seconds and an `echo` routed alike).
    @exclusivity(unchecked) private var costs: [ExecutionCosts] = []
    /// Each function's place in `costs`, and the function named last with its place: while the
    /// queries call one function, finding it is a comparison, not a hash.
    @exclusivity(unchecked) private var costSlots: [String: Int] = [:]
    @exclusivity(unchecked) private var lastNamedFunction: String?
    @exclusivity(unchecked) private var lastNamedSlot = -1
    /// The most functions whose costs are learnt; the queries of others never wait.
    private static let learntFunctionsLimit = 1_024

    /// The plugin exports `take`.
    public static var takesQueries: Bool { true }

    /// It reads function names: the costs of warm and cold runs are learnt per function (its
    /// candidate group says who can run the query).
    public static var readsFunctions: Bool { true }

    /// `config` is empty, or `N`, `nowait` or `N:nowait` (N a positive integer: the window).
    public init?(config: String) {
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

    /// Keeps the index up to date, learns each function's warm and cold execution times from
    /// completions, and forgets servants that left.
    public func observe(_ event: DispatchEvent) {
        ready.apply(event)
        switch event {
        case .completed(let id, let routing, let executionNanoseconds, _):
            guard id < UInt64(running.count), let run = running[Int(id)]?.remove(routing: routing) else { return }
            if run.costSlot >= 0 { costs[run.costSlot].add(executionNanoseconds, warm: run.warm) }
        case .ready(let view):
            // Ready again (a restart): nothing runs there, and it holds no data of ours.
            if view.id < UInt64(running.count) {
                running[Int(view.id)] = nil
                lastFunction[Int(view.id)] = -1
            }
        case .removed(let id):
            if id < UInt64(running.count) {
                lastChosen[Int(id)] = 0
                running[Int(id)] = nil
                lastFunction[Int(id)] = -1
            }
        default:
            break
        }
    }

    /// A free member of `group` whose last routing string is `routing`; nil (wait) while such a
    /// member is busy and waiting still pays for `function`; else the free member holding the
    /// least wanted routing string; nil when all are busy. Only the members of `group` (the
    /// servants that can run the query) count, holders of `routing` included.
    public func choose(routing: String, function: String, group: UInt32) -> UInt64? {
        let slot = costSlot(of: function)
        let chosen: UInt64
        // Loops, not closures: a closure capturing `self` copied the whole index out to read it.
        var match: UInt64?
        var heldInGroup = false
        for id in ready.holders(of: routing) where ready.isMember(id, of: group) {
            heldInGroup = true
            if ready.isFree(id) {
                match = id
                break
            }
        }
        if let match {
            chosen = match
        } else if mayWait, heldInGroup, keepsWaiting(routing, costSlot: slot, servants: ready.memberCount(of: group)) {
            return nil
        } else if let fallback = leastWanted(in: group) {
            if mayWait, evictionWaits(routing, costSlot: slot, for: fallback, in: group) { return nil }
            chosen = fallback
        } else {
            return nil
        }
        noteDispatch(of: routing, costSlot: slot, to: chosen, holding: ready.lastRouting(of: chosen))
        return chosen
    }

    /// A free servant holding data takes the first waiting query that wants it (a warm run),
    /// before the queries are offered one by one in arrival order: under load the line holds
    /// several queries of the popular routing strings, and each servant works through those
    /// of its own data rather than take whatever is at the front and run it cold. Nil (the
    /// queries go to `choose`) when none in the look-ahead wants its data, and once the query
    /// at the front has been passed over as many times as the look-ahead holds queries: it
    /// then gets its turn with `choose`, which may make it wait a cold run's worth at most.
    public func take(servant: ServantView, routings: [String]) -> Int? {
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
        noteDispatch(of: routings[index], costSlot: lastFunction(servant.id), to: servant.id, holding: servant.lastRouting)
        return index
    }

    /// Records that a query of `routing` calling the function at `costSlot` goes to servant
    /// `id`, whose last routing string is `held`.
    private func noteDispatch(of routing: String, costSlot: Int, to id: UInt64, holding held: String) {
        recent.record(routing)
        // Both are empty unless queries waited: then no routing string needs hashing.
        if !waitingSince.isEmpty { waitingSince[routing] = nil }
        if !waitAsks.isEmpty { waitAsks[routing] = nil }
        dispatches += 1
        if id >= UInt64(running.count) {
            let added = Int(id) + 1 - running.count
            lastChosen += repeatElement(0, count: added)
            running += repeatElement(nil, count: added)
            lastFunction += repeatElement(-1, count: added)
        }
        lastChosen[Int(id)] = dispatches
        lastFunction[Int(id)] = costSlot
        if let queries = running[Int(id)] {
            queries.append(routing: routing, costSlot: costSlot, warm: held == routing)
        } else {
            let queries = RunningQueries()
            queries.append(routing: routing, costSlot: costSlot, warm: held == routing)
            running[Int(id)] = queries
        }
    }

    /// When servant `id` was chosen last (0: never).
    private func lastChosen(_ id: UInt64) -> UInt64 { id < UInt64(lastChosen.count) ? lastChosen[Int(id)] : 0 }

    /// The function of the query servant `id` was last chosen for: its place in `costs`, -1
    /// before the first.
    private func lastFunction(_ id: UInt64) -> Int { id < UInt64(lastFunction.count) ? lastFunction[Int(id)] : -1 }

    /// The place of `function` in `costs`, made when it is named first; -1 for a function past
    /// ``learntFunctionsLimit`` (not learnt: its queries never wait).
    private func costSlot(of function: String) -> Int {
        if function == lastNamedFunction { return lastNamedSlot }
        let slot: Int
        if let known = costSlots[function] {
            slot = known
        } else if costs.count < Self.learntFunctionsLimit {
            slot = costs.count
            costs.append(ExecutionCosts())
            costSlots[function] = slot
        } else {
            slot = -1
        }
        lastNamedFunction = function
        lastNamedSlot = slot
        return slot
    }

    /// The free member of `group` holding the least wanted data (the least in demand, then the
    /// one chosen longest ago, then the first in the list), or nil when all are busy.
    ///
    /// A free servant that ran no query yet is wanted least (-1), and the first of them chosen
    /// never before is the answer at once; else each routing string held by a free member is
    /// weighed once (its demand is the same for all its holders): the cost grows with the
    /// servants holding data, not with the free ones that hold none.
    private func leastWanted(in group: UInt32) -> UInt64? {
        var best: (demand: Double, lastChosen: UInt64, id: UInt64)?
        func consider(_ id: UInt64, demand: Double) {
            let candidate = (demand: demand, lastChosen: lastChosen(id), id: id)
            if let current = best, (current.demand, current.lastChosen, current.id) <= (demand, candidate.lastChosen, id) {
                return
            }
            best = candidate
        }
        for id in ready.holders(of: "") where ready.isFree(id) && ready.isMember(id, of: group) {
            if lastChosen(id) == 0 { return id }
            consider(id, demand: -1)
        }
        if let best { return best.id }
        for routing in ready.heldRoutings where !routing.isEmpty {
            var demand: Double?
            for id in ready.holders(of: routing) where ready.isFree(id) && ready.isMember(id, of: group) {
                let value = demand ?? self.demand(of: routing, in: group)
                demand = value
                consider(id, demand: value)
            }
        }
        return best?.id
    }

    /// Whether a query of `routing` calling the function at `costSlot` should wait rather than
    /// evict the data of servant `id`, the only free member of `group`, while another member is busy: while that
    /// data is wanted more than `routing` is, a query of its own routing string is likely among
    /// those waiting in the broker (which offers them next, its look-ahead) or about to come,
    /// and a cold run for a less wanted routing string would cost that one a cold run too, when
    /// the busy servant may free up and take this query instead. As for a busy servant, the wait
    /// lasts at most what a cold run of that function costs over a warm one. With a second servant
    /// free there is no line, and it runs; with no member busy it runs too: no servant can free
    /// up for it, and the free one was offered the waiting queries of its data first (`take`).
    private func evictionWaits(_ routing: String, costSlot: Int, for id: UInt64, in group: UInt32) -> Bool {
        guard ready.freeCount(of: group) == 1, ready.memberCount(of: group) > 1, waitingPays(costSlot: costSlot) else {
            return false
        }
        let held = ready.lastRouting(of: id)
        let heldDemand = held.isEmpty ? -1 : demand(of: held, in: group)
        guard heldDemand > Double(recent.count(of: routing)) else { return false }
        return keepsWaiting(routing, costSlot: costSlot, servants: ready.memberCount(of: group), countingAsks: false)
    }

    /// Whether warm and cold runs of the function at `costSlot` have been measured and its cold
    /// run costs more than two warm ones.
    private func waitingPays(costSlot: Int) -> Bool { costSlot >= 0 && costs[costSlot].waitingPays }

    /// Whether a query of `routing` calling the function at `costSlot`, whose servant is busy,
    /// should wait for it: once warm and cold runs of that function have been measured and its
    /// cold run costs more than two warm ones, queries of a routing string wait for its servant
    /// for at most what a cold run of that function costs over a warm one, counted from when the first of them started
    /// waiting; then they run elsewhere (which spreads a routing string in high demand over more
    /// servants). Waiting that long at most costs no more than twice the best choice made
    /// knowing the future. `countingAsks: false` leaves out the count of asks (a query waiting
    /// for a servant to free up is asked again whenever any servant does).
    private func keepsWaiting(_ routing: String, costSlot: Int, servants: Int, countingAsks: Bool = true) -> Bool {
        guard waitingPays(costSlot: costSlot) else { return false }
        let learnt = costs[costSlot]
        let patience = Duration.nanoseconds(Int64(learnt.cold.mean - learnt.warm.mean))
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

    /// How much the data of `routing` is wanted: how often it was asked for recently, shared
    /// among the members of `group` holding it (a routing string in high demand keeps several
    /// servants; a second copy of a modest one gives way first).
    private func demand(of routing: String, in group: UInt32) -> Double {
        var holders = 0
        for id in ready.holders(of: routing) where ready.isMember(id, of: group) { holders += 1 }
        return Double(recent.count(of: routing)) / Double(max(1, holders))
    }
}

/// What warm and cold runs of one function take.
struct ExecutionCosts {
    private(set) var warm = RunningMean()
    private(set) var cold = RunningMean()

    mutating func add(_ nanoseconds: UInt64, warm isWarm: Bool) {
        if isWarm {
            warm.add(nanoseconds)
        } else {
            cold.add(nanoseconds)
        }
    }

    /// Whether 16 warm and 16 cold runs were measured and a cold run costs more than two warm ones.
    var waitingPays: Bool { warm.count >= 16 && cold.count >= 16 && cold.mean > 2 * warm.mean }
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

private let exported = IndexedDispatchPluginExport<MatchAlgorithm>.table(
    name: "match",
    description: "the free servant whose previous query had the same routing string, else the free one holding the least wanted data; configuration N[:nowait] or nowait (match:512:nowait): N ≥ 1 recent queries counted for demand (default 256), nowait never waits for a busy servant",
    create: { IndexedDispatchPluginExport<MatchAlgorithm>.create(config: $0) }
)

/// The plugin's entry symbol: the `mserve_dispatch_plugin` table.
@_cdecl("mserve_dispatch_plugin_entry")
public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }

/// The queries dispatched to one servant and not completed yet, oldest first: each one's
/// routing string, function (its place in the plugin's costs, -1: not learnt), and whether the
/// servant ran that routing string last (a warm run).
final class RunningQueries {
    private var queries: [(routing: String, costSlot: Int, warm: Bool)] = []

    /// Notes a query dispatched to the servant.
    func append(routing: String, costSlot: Int, warm: Bool) { queries.append((routing, costSlot, warm)) }

    /// Removes the query of `routing` that completed (the oldest of that routing string, else
    /// the oldest of all) and gives its function's place and whether it was a warm run; nil
    /// when none runs. The storage is kept for the servant's next query.
    func remove(routing: String) -> (costSlot: Int, warm: Bool)? {
        guard !queries.isEmpty else { return nil }
        let index = queries.firstIndex { $0.routing == routing } ?? 0
        let query = queries.remove(at: index)
        return (query.costSlot, query.warm)
    }
}
