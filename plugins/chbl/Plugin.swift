// The chbl dispatch algorithm plugin: consistent hashing with bounded loads (Mirrokni, Thorup,
// Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018).
public import MServePlugin

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
///
/// Its state is marked `@exclusivity(unchecked)`: the broker calls a plugin from one thread, one
/// call at a time, so the runtime's access checks would only cost time.
public final class ConsistentHashingBoundedLoadsAlgorithm: SwiftIndexedDispatchAlgorithm {
    /// The default balance parameter c: a servant may take up to 25 % more than the average load.
    public static let defaultLoadFactor = 1.25
    /// Points per servant on the ring (virtual nodes), for an even spread.
    public static let virtualNodesPerServant = 64

    /// The balance parameter c (at least 1).
    public let loadFactor: Double

    /// The ready servants (ABI version 3), and the queries in flight at all of them.
    @exclusivity(unchecked) private var ready = ReadyServants(tracksRoutings: false)
    @exclusivity(unchecked) private var totalLoad = 0
    /// The ready servants in list order (a ring point names one by its place here), whether the
    /// ring must be made again (a servant joined, left or was renamed), and the call each was
    /// last visited in by a walk round the ring.
    @exclusivity(unchecked) private var ringServants: [UInt64] = []
    @exclusivity(unchecked) private var ringNeedsRebuild = false
    @exclusivity(unchecked) private var visitedInWalk: [UInt64] = []
    @exclusivity(unchecked) private var walk: UInt64 = 0

    /// The ring: sorted (hash, servant) points, `virtualNodesPerServant` per ready servant.
    @exclusivity(unchecked) private var ring: [(hash: UInt64, servant: Int)] = []

    /// `config` is empty (c = 1.25) or a number ≥ 1.
    public init?(config: String) {
        if config.isEmpty {
            loadFactor = Self.defaultLoadFactor
        } else if let value = Double(config), value >= 1, value.isFinite {
            loadFactor = value
        } else {
            return nil
        }
    }

    /// Keeps the ready servants, their total load and the ring up to date.
    public func observe(_ event: DispatchEvent) {
        switch event {
        case .ready(let view):
            totalLoad -= ready.inFlight(of: view.id)
            ready.apply(event)
            totalLoad += view.inFlight
            ringNeedsRebuild = true
        case .unready(let id), .removed(let id):
            totalLoad -= ready.inFlight(of: id)
            ready.apply(event)
            ringNeedsRebuild = true
        case .dispatched(let id, _, _), .completed(let id, _, _, _):
            let before = ready.inFlight(of: id)
            ready.apply(event)
            totalLoad += ready.inFlight(of: id) - before
        case .joined, .left:
            ready.apply(event)
        }
    }

    /// It reads no function names (its candidate group says who can run the query).
    public static var readsFunctions: Bool { false }

    /// The first member of `group` clockwise from the routing string's point that is free and
    /// within the load bound; else the first free member met; nil when none is free.
    public func choose(routing: String, function: String, group: UInt32) -> UInt64? {
        guard ready.freeCount(of: group) > 0 else { return nil }
        if ringNeedsRebuild { rebuildRing() }

        // The load of the servants that can run the query: all of them for group 0.
        var load = totalLoad
        let members = ready.memberCount(of: group)
        if group != 0 { load = ready.members(of: group).members.reduce(0) { $0 + ready.inFlight(of: $1) } }
        let bound = Int((loadFactor * Double(load + 1) / Double(members)).rounded(.up))

        walk &+= 1
        var firstFree: UInt64?
        var position = firstRingPosition(atOrAfter: Self.hash(routing))
        for _ in 0..<ring.count {
            let slot = ring[position].servant
            position = (position + 1) % ring.count
            if visitedInWalk[slot] == walk { continue }
            visitedInWalk[slot] = walk
            let id = ringServants[slot]
            guard ready.isFree(id), group == 0 || ready.isMember(id, of: group) else { continue }
            if ready.inFlight(of: id) + 1 <= bound { return id }
            if firstFree == nil { firstFree = id }
        }
        return firstFree
    }

    /// Makes the ring again from the ready servants' names (a join, a departure, a rename).
    private func rebuildRing() {
        ringNeedsRebuild = false
        ringServants = ready.members(of: 0).members
        visitedInWalk = [UInt64](repeating: 0, count: ringServants.count)
        ring.removeAll(keepingCapacity: true)
        for (slot, id) in ringServants.enumerated() {
            let name = ready.servant(id)?.view.name ?? ""
            for replica in 0..<Self.virtualNodesPerServant {
                ring.append((Self.hash("\(name)#\(replica)"), slot))
            }
        }
        ring.sort { ($0.hash, $0.servant) < ($1.hash, $1.servant) }
    }

    // MARK: The ring

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

private let exported = IndexedDispatchPluginExport<ConsistentHashingBoundedLoadsAlgorithm>.table(
    name: "chbl",
    description: "consistent hashing with bounded loads: a routing string keeps its servant while its load stays within c × average; configuration c, a number ≥ 1 (chbl:1.5; default 1.25)",
    create: { IndexedDispatchPluginExport<ConsistentHashingBoundedLoadsAlgorithm>.create(config: $0) }
)

/// The plugin's entry symbol: the `mserve_dispatch_plugin` table.
@_cdecl("mserve_dispatch_plugin_entry")
public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
