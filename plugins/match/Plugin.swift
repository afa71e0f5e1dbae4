// The match dispatch algorithm plugin (the default): keep a routing string on the servant that
// ran it last, so its data stays warm; else the free servant whose data is least wanted.
import MServePlugin

/// The free servant whose previous query had the same routing string. When that servant is
/// busy and the load is light (at least half the servants free), the query waits for it if
/// waiting is cheaper than running cold elsewhere, as learnt from the execution times
/// reported so far (a warm run plus the busy servant's mean run under a cold run's mean). Else the free servant whose data is least wanted: the one whose
/// last routing string was asked for least often among the last `window` queries (a servant
/// never used first; ties go to the servant chosen least recently).
///
/// The fallback matters as much as the match: taking the first free servant from the top (as
/// `orig` does) keeps overwriting the data the top servant holds while the others keep stale
/// data. Giving way with the servant that holds the coldest routing string keeps the popular
/// routing strings warm on their servants.
///
/// Configuration: `match:N` sets the window (default 256 queries); `match:N:nowait` (or
/// `match:nowait`) never waits for a busy servant, as in the original mserve.
public final class MatchAlgorithm: SwiftDispatchAlgorithm {
    /// The last `window` routing strings asked for, oldest first, and how often each occurs.
    private var recent = RecentRoutingCounts(window: 256)
    /// Whether a query may wait for its busy servant.
    private var mayWait = true
    /// When each servant (by id) was chosen last, in dispatches counted by this algorithm.
    private var lastChosen: [UInt64: UInt64] = [:]
    private var dispatches: UInt64 = 0
    /// Queries dispatched and not completed, per servant: routing string, and whether the
    /// servant ran that routing string last (a warm run).
    private var running: [UInt64: [(routing: String, warm: Bool)]] = [:]
    /// Execution times of warm and cold runs.
    private var warmRuns = RunningMean()
    private var coldRuns = RunningMean()

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

    /// A free servant whose last routing string is `routing`; nil (wait) when that servant is
    /// busy and waiting pays; else the free servant holding the least wanted routing string;
    /// nil when all are busy.
    public func choose(routing: String, servants: [ServantView]) -> Int? {
        recent.record(routing)
        let chosen: Int
        if let match = servants.firstIndex(where: { $0.isFree && $0.lastRouting == routing }) {
            chosen = match
        } else if mayWait, let busy = servants.first(where: { $0.lastRouting == routing }),
            waitingPays(for: busy, servants: servants)
        {
            return nil
        } else if let fallback = servants.indices.filter({ servants[$0].isFree }).min(by: { left, right in
            let leftDemand = demand(servants[left]), rightDemand = demand(servants[right])
            if leftDemand != rightDemand { return leftDemand < rightDemand }
            return lastChosen[servants[left].id, default: 0] < lastChosen[servants[right].id, default: 0]
        }) {
            chosen = fallback
        } else {
            return nil
        }
        let servant = servants[chosen]
        dispatches += 1
        lastChosen[servant.id] = dispatches
        running[servant.id, default: []].append((routing, servant.lastRouting == routing))
        if lastChosen.count > 2 * servants.count + 16 {
            // Servants that left: forget them.
            let present = Set(servants.map(\.id))
            lastChosen = lastChosen.filter { present.contains($0.key) }
            running = running.filter { present.contains($0.key) }
        }
        return chosen
    }

    /// Learns warm and cold execution times.
    public func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {
        guard var queries = running[servant.id], !queries.isEmpty else { return }
        let index = queries.firstIndex { $0.routing == routing } ?? 0
        if queries[index].warm {
            warmRuns.add(executionNanoseconds)
        } else {
            coldRuns.add(executionNanoseconds)
        }
        queries.remove(at: index)
        running[servant.id] = queries
    }

    /// Whether waiting for `busy` (about its mean execution, then a warm run) beats a cold run.
    /// Only under light load — at least half the servants free — since a waiting query holds
    /// up the queries behind it: under heavy load the idle servants would cost more than the
    /// cold run saves.
    private func waitingPays(for busy: ServantView, servants: [ServantView]) -> Bool {
        guard warmRuns.count >= 16, coldRuns.count >= 16, busy.meanExecutionNanoseconds > 0 else { return false }
        guard 2 * servants.count(where: \.isFree) >= servants.count else { return false }
        return Double(busy.meanExecutionNanoseconds) + warmRuns.mean < coldRuns.mean
    }

    /// How much the data a servant holds is wanted: -1 for none (never used).
    private func demand(_ servant: ServantView) -> Int {
        servant.lastRouting.isEmpty ? -1 : recent.count(of: servant.lastRouting)
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
            if let count = counts[leaving] { counts[leaving] = count > 1 ? count - 1 : nil }
        }
        ring[next] = routing
        counts[routing, default: 0] += 1
        next += 1
        if next == ring.count {
            next = 0
            filled = true
        }
    }

    func count(of routing: String) -> Int { counts[routing] ?? 0 }
}

private let exported = DispatchPluginExport<MatchAlgorithm>.table(
    name: "match",
    description: "the free servant whose previous query had the same routing string, else the free one holding the least wanted data",
    create: { DispatchPluginExport<MatchAlgorithm>.create(config: $0) }
)

/// The plugin's entry symbol: the `mserve_dispatch_plugin` table.
@_cdecl("mserve_dispatch_plugin_entry")
public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
