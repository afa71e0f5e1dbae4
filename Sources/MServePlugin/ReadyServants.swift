// ReadyServants: the index of the ready servants an algorithm keeps from the broker's events
// (ABI version 3), so that a dispatch looks only at what it needs.

/// A set of servant ids, ordered by id (the broker's list order), with the first member at or
/// after an id found in O(log₆₄ of the largest id): a bitset over ids with a summary bitset per
/// level above it (a bit per word of the level below that is not zero).
///
/// Ids index the bits, so the memory is one bit per id up to the largest one seen (ids grow
/// with every servant the broker adds: 125 kB after a million).
public struct ServantIDSet: Sendable, Hashable {
    /// `levels[0]` holds a bit per id; `levels[k]` a bit per word of `levels[k - 1]`. The top
    /// level is one word.
    private var levels: [[UInt64]] = [[0]]
    /// How many ids are in the set.
    public private(set) var count = 0

    /// An empty set.
    public init() {}

    /// Whether the set holds no id.
    public var isEmpty: Bool { count == 0 }

    /// Whether `id` is in the set.
    public func contains(_ id: UInt64) -> Bool {
        let word = Int(id >> 6)
        return word < levels[0].count && levels[0][word] & (1 << (id & 63)) != 0
    }

    /// Adds `id`; false when it was there already.
    @discardableResult
    public mutating func insert(_ id: UInt64) -> Bool {
        if Int(id >> 6) >= levels[0].count { grow(toHold: id) }
        var index = Int(id)
        for level in levels.indices {
            let word = index >> 6
            let wasZero = levels[level][word] == 0
            let bit: UInt64 = 1 << UInt64(index & 63)
            if level == 0 {
                if levels[0][word] & bit != 0 { return false }
                count += 1
            }
            levels[level][word] |= bit
            guard wasZero else { break }
            index = word
        }
        return true
    }

    /// Removes `id`; false when it was not there.
    @discardableResult
    public mutating func remove(_ id: UInt64) -> Bool {
        guard contains(id) else { return false }
        count -= 1
        var index = Int(id)
        for level in levels.indices {
            let word = index >> 6
            levels[level][word] &= ~(1 << UInt64(index & 63))
            guard levels[level][word] == 0 else { break }
            index = word
        }
        return true
    }

    /// The smallest id in the set, or nil when it is empty.
    public var first: UInt64? { first(atOrAfter: 0) }

    /// The smallest id in the set that is `id` or larger, or nil when there is none.
    public func first(atOrAfter id: UInt64) -> UInt64? {
        guard count > 0, id < UInt64(levels[0].count) << 6 else { return nil }
        return next(level: 0, from: Int(id)).map(UInt64.init)
    }

    /// The first member at or after `id` that is after `id` in the list wrapping around: the
    /// smallest larger than `id`, else the smallest.
    public func first(after id: UInt64) -> UInt64? {
        first(atOrAfter: id &+ 1) ?? first
    }

    /// The ids in the set, in order.
    public var members: [UInt64] {
        var result: [UInt64] = []
        result.reserveCapacity(count)
        var next = first
        while let id = next {
            result.append(id)
            next = first(atOrAfter: id + 1)
        }
        return result
    }

    /// The first set bit at `level` at or after bit `from`.
    private func next(level: Int, from: Int) -> Int? {
        let words = levels[level]
        let word = from >> 6
        guard word < words.count else { return nil }
        let masked = words[word] & (~0 << UInt64(from & 63))
        if masked != 0 { return word << 6 + masked.trailingZeroBitCount }
        guard level + 1 < levels.count, let nextWord = next(level: level + 1, from: word + 1) else { return nil }
        return nextWord << 6 + words[nextWord].trailingZeroBitCount
    }

    /// Makes room for `id`: the bits double until it fits, and the summaries are rebuilt.
    private mutating func grow(toHold id: UInt64) {
        var words = max(1, levels[0].count)
        while words <= Int(id >> 6) { words *= 2 }
        let leaves = levels[0] + [UInt64](repeating: 0, count: words - levels[0].count)
        levels = [leaves]
        while levels[levels.count - 1].count > 1 {
            let below = levels[levels.count - 1]
            var summary = [UInt64](repeating: 0, count: (below.count + 63) >> 6)
            for index in below.indices where below[index] != 0 { summary[index >> 6] |= 1 << UInt64(index & 63) }
            levels.append(summary)
        }
    }
}

/// The ready servants as the broker's events describe them (ABI version 3): each one's view, the
/// members and free members of each candidate group (group 0: every ready servant), and the
/// servants whose last routing string is a given one. Every event costs O(1) (a servant's
/// groups aside), and so do the questions a dispatch asks, whatever the number of servants.
///
/// An algorithm feeds it every event (``apply(_:)``) and asks, e.g., ``firstFree(in:)`` (`orig`)
/// or ``firstFree(in:after:)`` (`even`).
public struct ReadyServants: Sendable {
    /// One ready servant.
    public struct Servant: Sendable {
        /// Its view: name, host, capacity, in flight, queries served, mean execution time, and
        /// last routing string (kept only when ``ReadyServants/tracksRoutings``).
        public var view: ServantView
        /// The candidate groups it is a member of, besides group 0.
        public var groups: [UInt32] = []
    }

    /// The members and the free members of one candidate group.
    struct Group: Sendable {
        var members = ServantIDSet()
        var free = ServantIDSet()
    }

    /// Each ready servant's slot in the arrays below; slots of servants that left are reused.
    private var slotOf: [UInt64: Int] = [:]
    private var vacantSlots: [Int] = []
    /// By slot: the view (its `inFlight` is in `inFlight`), the groups, and the numbers a
    /// dispatch reads (apart, so that reading them copies and retains nothing).
    private var views: [ServantView] = []
    private var groupsOf: [[UInt32]] = []
    private var inFlight: [Int] = []
    private var capacity: [Int] = []
    /// Group 0 (every ready servant), and the others.
    private var everyServant = Group()
    private var groups: [UInt32: Group] = [:]
    /// The ready servants whose last routing string is the key, in id order (when `tracksRoutings`).
    private var holders: [String: [UInt64]] = [:]
    /// Whether ``holders(of:)`` and the views' last routing strings are kept (an algorithm that
    /// never asks saves their cost).
    public let tracksRoutings: Bool

    /// No servant yet; `tracksRoutings` keeps the servants holding each routing string
    /// (``holders(of:)``), which `match`-like algorithms need.
    public init(tracksRoutings: Bool = true) {
        self.tracksRoutings = tracksRoutings
    }

    /// How many servants are ready.
    public var count: Int { slotOf.count }

    /// The ready servant `id`, or nil.
    public func servant(_ id: UInt64) -> Servant? {
        guard let slot = slotOf[id] else { return nil }
        var view = views[slot]
        view.inFlight = inFlight[slot]
        return Servant(view: view, groups: groupsOf[slot])
    }

    /// The last routing string of ready servant `id` ("" when none, or when routings are not tracked).
    public func lastRouting(of id: UInt64) -> String {
        guard let slot = slotOf[id] else { return "" }
        return views[slot].lastRouting
    }

    /// The queries in flight at ready servant `id` (0 when it is not ready).
    public func inFlight(of id: UInt64) -> Int {
        guard let slot = slotOf[id] else { return 0 }
        return inFlight[slot]
    }

    /// The members of `group`, in list order.
    public func members(of group: UInt32) -> ServantIDSet {
        group == 0 ? everyServant.members : groups[group]?.members ?? ServantIDSet()
    }

    /// Whether ready servant `id` is free (`inFlight < capacity`).
    public func isFree(_ id: UInt64) -> Bool {
        guard let slot = slotOf[id] else { return false }
        return inFlight[slot] < capacity[slot]
    }

    /// Whether ready servant `id` is a member of `group`.
    public func isMember(_ id: UInt64, of group: UInt32) -> Bool {
        guard let slot = slotOf[id] else { return false }
        return group == 0 || groupsOf[slot].contains(group)
    }

    /// How many ready servants are members of `group`.
    public func memberCount(of group: UInt32) -> Int {
        group == 0 ? everyServant.members.count : groups[group]?.members.count ?? 0
    }

    /// How many members of `group` are free.
    public func freeCount(of group: UInt32) -> Int {
        group == 0 ? everyServant.free.count : groups[group]?.free.count ?? 0
    }

    /// The free members of `group`, in list order.
    public func freeMembers(of group: UInt32) -> ServantIDSet {
        group == 0 ? everyServant.free : groups[group]?.free ?? ServantIDSet()
    }

    /// The first free member of `group` in the list (smallest id), or nil.
    public func firstFree(in group: UInt32) -> UInt64? {
        group == 0 ? everyServant.free.first : groups[group]?.free.first
    }

    /// The first free member of `group` after servant `id` in the list, wrapping around, or nil.
    public func firstFree(in group: UInt32, after id: UInt64) -> UInt64? {
        group == 0 ? everyServant.free.first(after: id) : groups[group]?.free.first(after: id)
    }

    /// The ready servants whose last routing string is `routing`, in list order (all groups);
    /// `""` gives the servants that ran no query yet.
    public func holders(of routing: String) -> [UInt64] { holders[routing] ?? [] }

    /// Every routing string some ready servant ran last (`""` for those that ran none).
    public var heldRoutings: Dictionary<String, [UInt64]>.Keys { holders.keys }

    /// Brings the index up to date with one event.
    public mutating func apply(_ event: DispatchEvent) {
        switch event {
        case .ready(let view):
            leave(view.id)
            let slot: Int
            if let vacant = vacantSlots.popLast() {
                slot = vacant
                views[slot] = view
                groupsOf[slot] = []
                inFlight[slot] = view.inFlight
                capacity[slot] = view.capacity
            } else {
                slot = views.count
                views.append(view)
                groupsOf.append([])
                inFlight.append(view.inFlight)
                capacity.append(view.capacity)
            }
            if !tracksRoutings { views[slot].lastRouting = "" }
            slotOf[view.id] = slot
            everyServant.members.insert(view.id)
            if view.isFree { everyServant.free.insert(view.id) }
            if tracksRoutings { hold(view.lastRouting, view.id) }
        case .unready(let id), .removed(let id):
            leave(id)
        case .dispatched(let id, let routing, let count):
            guard let slot = slotOf[id] else { return }
            if tracksRoutings, views[slot].lastRouting != routing {
                release(views[slot].lastRouting, id)
                hold(routing, id)
                views[slot].lastRouting = routing
            }
            setInFlight(slot, id, count)
        case .completed(let id, _, let executionNanoseconds, let count):
            guard let slot = slotOf[id] else { return }
            let served = views[slot].queriesServed
            let mean = views[slot].meanExecutionNanoseconds
            views[slot].meanExecutionNanoseconds = (mean &* served &+ executionNanoseconds) / (served + 1)
            views[slot].queriesServed = served + 1
            setInFlight(slot, id, count)
        case .joined(let id, let group):
            guard group != 0, let slot = slotOf[id], !groupsOf[slot].contains(group) else { return }
            groupsOf[slot].append(group)
            groups[group, default: Group()].members.insert(id)
            if inFlight[slot] < capacity[slot] { groups[group, default: Group()].free.insert(id) }
        case .left(let id, let group):
            guard group != 0, let slot = slotOf[id], let index = groupsOf[slot].firstIndex(of: group) else { return }
            groupsOf[slot].remove(at: index)
            groups[group]?.members.remove(id)
            groups[group]?.free.remove(id)
        }
    }

    /// Takes servant `id` out of every group and its routing string's holders.
    private mutating func leave(_ id: UInt64) {
        guard let slot = slotOf.removeValue(forKey: id) else { return }
        everyServant.members.remove(id)
        everyServant.free.remove(id)
        for group in groupsOf[slot] {
            groups[group]?.members.remove(id)
            groups[group]?.free.remove(id)
        }
        if tracksRoutings { release(views[slot].lastRouting, id) }
        groupsOf[slot] = []
        vacantSlots.append(slot)
    }

    /// Sets the queries in flight of the servant in `slot`, moving it in or out of its groups'
    /// free members.
    private mutating func setInFlight(_ slot: Int, _ id: UInt64, _ count: Int) {
        let wasFree = inFlight[slot] < capacity[slot]
        inFlight[slot] = max(0, count)
        let isFree = inFlight[slot] < capacity[slot]
        guard wasFree != isFree else { return }
        if isFree { everyServant.free.insert(id) } else { everyServant.free.remove(id) }
        guard !groupsOf[slot].isEmpty else { return }
        for group in groupsOf[slot] {
            if isFree { groups[group]?.free.insert(id) } else { groups[group]?.free.remove(id) }
        }
    }

    private mutating func hold(_ routing: String, _ id: UInt64) {
        var ids = holders.removeValue(forKey: routing) ?? []
        ids.insert(id, at: ids.firstIndex { $0 > id } ?? ids.count)
        holders[routing] = ids
    }

    private mutating func release(_ routing: String, _ id: UInt64) {
        guard var ids = holders.removeValue(forKey: routing) else { return }
        ids.removeAll { $0 == id }
        if !ids.isEmpty { holders[routing] = ids }
    }
}
