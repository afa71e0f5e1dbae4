// ReadyServants: the index of the ready servants an algorithm keeps from the broker's events
// (ABI version 3), so that a dispatch looks only at what it needs.
//
// The questions a dispatch asks (`firstFree`, `isFree`, `isMember`, `lastRouting`, …) are
// `@inlinable`: an algorithm in another module (every plugin) reads the one field it needs in
// place instead of copying the whole index out of its class to call a function on it, which
// cost a retain and a release per stored array on every query.

/// A set of servant ids, ordered by id (the broker's list order), with the first member at or
/// after an id found in O(log₆₄ of the largest id): a bitset over ids with a summary bitset per
/// level above it (a bit per word of the level below that is not zero).
///
/// Ids index the bits, so the memory is one bit per id up to the largest one seen (ids grow
/// with every servant the broker adds: 125 kB after a million).
public struct ServantIDSet: Sendable, Hashable {
    /// The words of every level in one array, the bottom level first: level 0 holds a bit per
    /// id; each level above, a bit per word of the level below. The top level is one word.
    @usableFromInline var words: [UInt64] = [0]
    /// Where each level starts in `words`; `levelStarts[0]` is 0, and the words of level 0
    /// (`leafWords` of them, a power of two) come first.
    @usableFromInline var levelStarts: [Int] = [0]
    /// How many words level 0 has.
    @usableFromInline var leafWords = 1
    /// How many ids are in the set.
    public private(set) var count = 0

    /// An empty set.
    public init() {}

    /// Whether the set holds no id.
    @inlinable
    public var isEmpty: Bool { count == 0 }

    /// Whether `id` is in the set.
    @inlinable
    public func contains(_ id: UInt64) -> Bool {
        id >> 6 < UInt64(leafWords) && words[Int(truncatingIfNeeded: id >> 6)] & (1 << (id & 63)) != 0
    }

    /// Adds `id`; false when it was there already.
    @discardableResult
    public mutating func insert(_ id: UInt64) -> Bool {
        if id >> 6 >= UInt64(leafWords) { grow(toHold: id) }
        var index = Int(id)
        for level in levelStarts.indices {
            let word = levelStarts[level] + index >> 6
            let wasZero = words[word] == 0
            let bit: UInt64 = 1 << UInt64(index & 63)
            if level == 0 {
                if words[word] & bit != 0 { return false }
                count += 1
            }
            words[word] |= bit
            guard wasZero else { break }
            index >>= 6
        }
        return true
    }

    /// Removes `id`; false when it was not there.
    @discardableResult
    public mutating func remove(_ id: UInt64) -> Bool {
        guard contains(id) else { return false }
        count -= 1
        var index = Int(id)
        for level in levelStarts.indices {
            let word = levelStarts[level] + index >> 6
            words[word] &= ~(1 << UInt64(index & 63))
            guard words[word] == 0 else { break }
            index >>= 6
        }
        return true
    }

    /// The smallest id in the set, or nil when it is empty.
    @inlinable
    public var first: UInt64? { first(atOrAfter: 0) }

    /// The smallest id in the set that is `id` or larger, or nil when there is none: up the
    /// levels to the first word with a member at or after it, then down to that member.
    @inlinable
    public func first(atOrAfter id: UInt64) -> UInt64? {
        guard count > 0, id >> 6 < UInt64(leafWords) else { return nil }
        var level = 0
        var bit = Int(truncatingIfNeeded: id)
        while true {
            let start = levelStarts[level]
            let end = level + 1 < levelStarts.count ? levelStarts[level + 1] : words.count
            let word = bit >> 6
            guard start + word < end else { return nil }
            let masked = words[start + word] & (~0 << UInt64(bit & 63))
            if masked != 0 {
                bit = word << 6 + masked.trailingZeroBitCount
                break
            }
            guard level + 1 < levelStarts.count else { return nil }
            level += 1
            bit = word + 1
        }
        while level > 0 {
            level -= 1
            bit = bit << 6 + words[levelStarts[level] + bit].trailingZeroBitCount
        }
        return UInt64(bit)
    }

    /// The first member at or after `id` that is after `id` in the list wrapping around: the
    /// smallest larger than `id`, else the smallest.
    @inlinable
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

    /// Makes room for `id`: the bits double until it fits, and the summaries are rebuilt.
    private mutating func grow(toHold id: UInt64) {
        var leaves = leafWords
        while UInt64(leaves) <= id >> 6 { leaves *= 2 }
        var rebuilt = Array(words[0..<leafWords]) + [UInt64](repeating: 0, count: leaves - leafWords)
        var starts = [0]
        var below = 0..<leaves
        while below.count > 1 {
            let summaryStart = rebuilt.count
            rebuilt += [UInt64](repeating: 0, count: (below.count + 63) >> 6)
            for index in below where rebuilt[index] != 0 {
                let offset = index - below.lowerBound
                rebuilt[summaryStart + offset >> 6] |= 1 << UInt64(offset & 63)
            }
            starts.append(summaryStart)
            below = summaryStart..<rebuilt.count
        }
        words = rebuilt
        levelStarts = starts
        leafWords = leaves
    }
}

/// The ready servants as the broker's events describe them (ABI version 3): each one's view, the
/// members and free members of each candidate group (group 0: every ready servant), and the
/// servants whose last routing string is a given one. Every event costs O(1) (a servant's
/// groups aside), and so do the questions a dispatch asks, whatever the number of servants.
///
/// An algorithm feeds it every event (``apply(_:)``) and asks, e.g., ``firstFree(in:)`` (`orig`)
/// or ``firstFree(in:after:)`` (`even`). Servants are found by id in an array indexed by id
/// (ids are the broker's, from 1 up: four bytes per id up to the largest seen).
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
    @usableFromInline
    struct Group: Sendable {
        @usableFromInline var members = ServantIDSet()
        @usableFromInline var free = ServantIDSet()

        @usableFromInline init() {}
    }

    /// Each ready servant's slot in the arrays below, by id (-1: not ready); slots of servants
    /// that left are reused.
    @usableFromInline var slotByID: [Int32] = []
    private var vacantSlots: [Int] = []
    /// By slot: the view (its `inFlight` is in `inFlight`), the groups, and the numbers a
    /// dispatch reads (apart, so that reading them copies and retains nothing).
    @usableFromInline var views: [ServantView] = []
    @usableFromInline var groupsOf: [[UInt32]] = []
    @usableFromInline var inFlight: [Int] = []
    @usableFromInline var capacity: [Int] = []
    /// Group 0 (every ready servant), and the others.
    @usableFromInline var everyServant = Group()
    @usableFromInline var groups: [UInt32: Group] = [:]
    /// The ready servants whose last routing string is the key, in id order (when `tracksRoutings`).
    @usableFromInline var holders: [String: [UInt64]] = [:]
    /// Whether ``holders(of:)`` and the views' last routing strings are kept (an algorithm that
    /// never asks saves their cost).
    public let tracksRoutings: Bool
    /// How many servants are ready.
    public private(set) var count = 0

    /// No servant yet; `tracksRoutings` keeps the servants holding each routing string
    /// (``holders(of:)``), which `match`-like algorithms need.
    public init(tracksRoutings: Bool = true) {
        self.tracksRoutings = tracksRoutings
    }

    /// The slot of ready servant `id`, or nil.
    @inlinable
    func slot(of id: UInt64) -> Int? {
        guard id < UInt64(slotByID.count) else { return nil }
        let slot = slotByID[Int(truncatingIfNeeded: id)]
        return slot < 0 ? nil : Int(slot)
    }

    /// The ready servant `id`, or nil.
    public func servant(_ id: UInt64) -> Servant? {
        guard let slot = slot(of: id) else { return nil }
        var view = views[slot]
        view.inFlight = inFlight[slot]
        return Servant(view: view, groups: groupsOf[slot])
    }

    /// The last routing string of ready servant `id` ("" when none, or when routings are not tracked).
    @inlinable
    public func lastRouting(of id: UInt64) -> String {
        guard let slot = slot(of: id) else { return "" }
        return views[slot].lastRouting
    }

    /// The queries in flight at ready servant `id` (0 when it is not ready).
    @inlinable
    public func inFlight(of id: UInt64) -> Int {
        guard let slot = slot(of: id) else { return 0 }
        return inFlight[slot]
    }

    /// The members of `group`, in list order.
    @inlinable
    public func members(of group: UInt32) -> ServantIDSet {
        group == 0 ? everyServant.members : groups[group]?.members ?? ServantIDSet()
    }

    /// Whether ready servant `id` is free (`inFlight < capacity`).
    @inlinable
    public func isFree(_ id: UInt64) -> Bool {
        guard let slot = slot(of: id) else { return false }
        return inFlight[slot] < capacity[slot]
    }

    /// Whether ready servant `id` is a member of `group`.
    @inlinable
    public func isMember(_ id: UInt64, of group: UInt32) -> Bool {
        guard let slot = slot(of: id) else { return false }
        return group == 0 || groupsOf[slot].contains(group)
    }

    /// How many ready servants are members of `group`.
    @inlinable
    public func memberCount(of group: UInt32) -> Int {
        group == 0 ? everyServant.members.count : groups[group]?.members.count ?? 0
    }

    /// How many members of `group` are free.
    @inlinable
    public func freeCount(of group: UInt32) -> Int {
        group == 0 ? everyServant.free.count : groups[group]?.free.count ?? 0
    }

    /// The free members of `group`, in list order.
    @inlinable
    public func freeMembers(of group: UInt32) -> ServantIDSet {
        group == 0 ? everyServant.free : groups[group]?.free ?? ServantIDSet()
    }

    /// The first free member of `group` in the list (smallest id), or nil.
    @inlinable
    public func firstFree(in group: UInt32) -> UInt64? {
        group == 0 ? everyServant.free.first : groups[group]?.free.first
    }

    /// The first free member of `group` after servant `id` in the list, wrapping around, or nil.
    @inlinable
    public func firstFree(in group: UInt32, after id: UInt64) -> UInt64? {
        group == 0 ? everyServant.free.first(after: id) : groups[group]?.free.first(after: id)
    }

    /// The ready servants whose last routing string is `routing`, in list order (all groups);
    /// `""` gives the servants that ran no query yet.
    @inlinable
    public func holders(of routing: String) -> [UInt64] { holders[routing] ?? [] }

    /// Every routing string some ready servant ran last (`""` for those that ran none).
    @inlinable
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
            if view.id >= UInt64(slotByID.count) {
                slotByID += repeatElement(-1, count: Int(view.id) + 1 - slotByID.count)
            }
            slotByID[Int(view.id)] = Int32(slot)
            count += 1
            everyServant.members.insert(view.id)
            if view.isFree { everyServant.free.insert(view.id) }
            if tracksRoutings { hold(view.lastRouting, view.id) }
        case .unready(let id), .removed(let id):
            leave(id)
        case .dispatched(let id, let routing, let count):
            guard let slot = slot(of: id) else { return }
            if tracksRoutings, views[slot].lastRouting != routing {
                release(views[slot].lastRouting, id)
                hold(routing, id)
                views[slot].lastRouting = routing
            }
            setInFlight(slot, id, count)
        case .completed(let id, _, let executionNanoseconds, let count):
            guard let slot = slot(of: id) else { return }
            let served = views[slot].queriesServed
            let mean = views[slot].meanExecutionNanoseconds
            views[slot].meanExecutionNanoseconds = (mean &* served &+ executionNanoseconds) / (served + 1)
            views[slot].queriesServed = served + 1
            setInFlight(slot, id, count)
        case .joined(let id, let group):
            guard group != 0, let slot = slot(of: id), !groupsOf[slot].contains(group) else { return }
            groupsOf[slot].append(group)
            groups[group, default: Group()].members.insert(id)
            if inFlight[slot] < capacity[slot] { groups[group, default: Group()].free.insert(id) }
        case .left(let id, let group):
            guard group != 0, let slot = slot(of: id), let index = groupsOf[slot].firstIndex(of: group) else { return }
            groupsOf[slot].remove(at: index)
            groups[group]?.members.remove(id)
            groups[group]?.free.remove(id)
        }
    }

    /// Takes servant `id` out of every group and its routing string's holders.
    private mutating func leave(_ id: UInt64) {
        guard let slot = slot(of: id) else { return }
        slotByID[Int(id)] = -1
        count -= 1
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
