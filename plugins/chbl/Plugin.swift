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
public final class ConsistentHashingBoundedLoadsAlgorithm: SwiftDispatchAlgorithm {
    /// The load factor used when the configuration is empty.
    public static let defaultLoadFactor = 1.25
    /// Points on the ring per servant; more points spread arcs more evenly.
    public static let virtualNodesPerServant = 64

    /// The load factor `c`: no servant takes more than `ceil(c × average)` queries at once.
    public let loadFactor: Double

    /// The servant names the ring was built for, in the broker's order.
    private var ringNames: [String] = []
    /// Ring points sorted by hash; `servant` indexes `ringNames`.
    private var ring: [(hash: UInt64, servant: Int)] = []

    /// Reads `c` from `config` ("" for the default); nil when it is not a number ≥ 1.
    public init?(config: String) {
        if config.isEmpty {
            loadFactor = Self.defaultLoadFactor
        } else if let value = Double(config), value >= 1, value.isFinite {
            loadFactor = value
        } else {
            return nil
        }
    }

    /// The first servant clockwise from the routing string's point that is free and within the bound.
    public func choose(routing: String, servants: [ServantView]) -> Int? {
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

private let exported = DispatchPluginExport<ConsistentHashingBoundedLoadsAlgorithm>.table(
    name: "chbl",
    description: "consistent hashing with bounded loads: a routing string keeps its servant while its load stays within c × average (chbl:C, default 1.25)",
    create: { DispatchPluginExport<ConsistentHashingBoundedLoadsAlgorithm>.create(config: $0) }
)

/// The plugin's entry symbol: the `mserve_dispatch_plugin` table.
@_cdecl("mserve_dispatch_plugin_entry")
public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
