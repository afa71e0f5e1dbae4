// ServantStringCache: the strings of servant views kept across dispatch plugin calls, on both
// sides of the C ABI. Each servant's name, host and last routing string is held as a Swift
// string and a NUL-terminated C copy of it, by servant id, so a call converts only the strings
// that changed since the previous call. One of the C-bridge files where unsafe pointers are
// allowed: the C copies are manually allocated so their addresses stay put between calls.
import CMServePlugin
import Glibc

/// The strings of the servants passed in the last call, by servant id, in the order passed.
///
/// While the same servants come in the same order (the usual case) entry `i` is servant `i`
/// and nothing is looked up; when servants join, leave or move, `follow(count:id:)` moves the
/// cached strings with their ids and frees those of servants no longer passed.
struct ServantStringCache: ~Copyable {
    /// One entry per servant passed last, in the order passed.
    var servants: [ServantStrings] = []
    /// Scratch strings for a servant that `completed` names but the last `choose` did not pass.
    var unlisted = ServantStrings(id: 0)

    init() {}

    deinit {
        for servant in servants { servant.deallocate() }
        unlisted.deallocate()
    }

    /// Whether the entries are the servants with ids `id(0)`, …, `id(count - 1)`, in that order.
    @inline(__always)
    func holdsServants(count: Int, id: (Int) -> UInt64) -> Bool {
        guard servants.count == count else { return false }
        for index in 0..<count where servants[index].id != id(index) { return false }
        return true
    }

    /// The index of servant `id` among the entries: a linear search, no dearer than the walk
    /// over every servant that each `choose` makes anyway.
    @inline(__always)
    func index(of id: UInt64) -> Int? { servants.firstIndex { $0.id == id } }

    /// Rearranges the entries for the servants with ids `id(0)`, …, `id(count - 1)`: cached
    /// strings move with their servant's id, new servants get empty ones, and those of servants
    /// no longer passed are freed.
    mutating func follow(count: Int, id: (Int) -> UInt64) {
        var previousIndexByID: [UInt64: Int] = [:]
        for (index, servant) in servants.enumerated() { previousIndexByID[servant.id] = index }
        var kept = [Bool](repeating: false, count: servants.count)
        var rearranged: [ServantStrings] = []
        rearranged.reserveCapacity(count)
        for position in 0..<count {
            // removeValue: a repeated id gets strings of its own, so none is shared or freed twice.
            if let index = previousIndexByID.removeValue(forKey: id(position)) {
                rearranged.append(servants[index])
                kept[index] = true
            } else {
                rearranged.append(ServantStrings(id: id(position)))
            }
        }
        for index in servants.indices where !kept[index] { servants[index].deallocate() }
        servants = rearranged
    }
}

/// One servant's name, host and last routing string, each a Swift string with its C copy.
///
/// Owned by `ServantStringCache`, which frees the C copies with `deallocate()`.
struct ServantStrings {
    /// The servant these strings belong to.
    var id: UInt64
    /// The servant's name (``ServantView/name``).
    private(set) var name = BridgedString()
    /// The host of its endpoint.
    private(set) var host = BridgedString()
    /// The routing string of the last query dispatched to the servant.
    private(set) var lastRouting = BridgedString()

    init(id: UInt64) { self.id = id }

    // MARK: Swift to C (the broker)

    /// The C view of `servant`, after bringing the C copies up to date with its strings.
    ///
    /// Takes the servant by address: in the common case (each string the very one copied last)
    /// only words are read, and the servant's strings are neither copied nor retained.
    @inline(__always)
    mutating func view(of servant: UnsafePointer<ServantView>) -> mserve_servant_view {
        if !holdsStrings(of: servant) { update(to: servant) }
        return mserve_servant_view(
            id: servant.pointee.id,
            name: UnsafePointer(name.pointer),
            host: UnsafePointer(host.pointer),
            in_flight: UInt32(clamping: servant.pointee.inFlight),
            capacity: UInt32(clamping: servant.pointee.capacity),
            last_routing: UnsafePointer(lastRouting.pointer),
            queries_served: servant.pointee.queriesServed,
            mean_execution_ns: servant.pointee.meanExecutionNanoseconds
        )
    }

    /// Whether the strings copied last are the very strings of `servant` (see `BridgedString`).
    @inline(__always)
    private func holdsStrings(of servant: UnsafePointer<ServantView>) -> Bool {
        name.holds(servant.pointee.name) && host.holds(servant.pointee.host)
            && lastRouting.holds(servant.pointee.lastRouting)
    }

    /// Brings the C copies up to date with `servant`'s strings.
    @inline(never)
    private mutating func update(to servant: UnsafePointer<ServantView>) {
        name.update(to: servant.pointee.name)
        host.update(to: servant.pointee.host)
        lastRouting.update(to: servant.pointee.lastRouting)
    }

    // MARK: C to Swift (a Swift plugin)

    /// Brings the Swift strings up to date with the C strings of `view`, decoding only those
    /// whose bytes changed; true when one did.
    @inline(__always)
    mutating func update(from view: UnsafePointer<mserve_servant_view>) -> Bool {
        let nameChanged = name.update(fromCString: view.pointee.name)
        let hostChanged = host.update(fromCString: view.pointee.host)
        let lastRoutingChanged = lastRouting.update(fromCString: view.pointee.last_routing)
        return nameChanged || hostChanged || lastRoutingChanged
    }

    /// The Swift view of `view`: the cached strings and the view's numbers.
    func servantView(_ view: UnsafePointer<mserve_servant_view>) -> ServantView {
        ServantView(
            id: view.pointee.id,
            name: name.string,
            host: host.string,
            inFlight: Int(view.pointee.in_flight),
            capacity: Int(view.pointee.capacity),
            lastRouting: lastRouting.string,
            queriesServed: view.pointee.queries_served,
            meanExecutionNanoseconds: view.pointee.mean_execution_ns
        )
    }

    /// Copies the Swift strings into `servant` (after `update(from:)` said one changed).
    func copyStrings(to servant: inout ServantView) {
        servant.name = name.string
        servant.host = host.string
        servant.lastRouting = lastRouting.string
    }

    /// Frees the C copies.
    func deallocate() {
        name.deallocate()
        host.deallocate()
        lastRouting.deallocate()
    }
}

/// A Swift string and a NUL-terminated C copy of its bytes in a heap allocation of its own,
/// whose address stays valid until a longer string replaces it or it is freed.
///
/// Each instance is used in one direction. Swift to C (`update(to:)`): first asks whether the
/// string is the very one copied last (the same representation — the broker hands the same
/// name, host and last routing string again and again), two word compares; else compares
/// bytes (not Swift's canonical equivalence, which calls "é" and "e\u{301}" equal) and copies
/// only when they differ. C to Swift (`update(fromCString:)`): compares the C string with the
/// bytes held and decodes a new Swift string only when they differ.
///
/// Owned by whoever made it, who frees it with `deallocate()`; a copy of the struct shares the
/// allocation.
struct BridgedString {
    /// The Swift string. Swift to C, it is kept (retained) so that its storage can neither be
    /// freed and reused nor changed in place: a string with the same representation has the
    /// same bytes.
    private(set) var string = ""
    /// The bytes, then a NUL.
    private(set) var pointer: UnsafeMutablePointer<CChar>
    /// The number of bytes before the NUL.
    private var count = 0
    /// The bytes allocated at `pointer`.
    private var capacity: Int

    /// An empty string.
    init() {
        capacity = 16
        pointer = .allocate(capacity: capacity)
        pointer[0] = 0
    }

    /// The bytes held, without the NUL.
    private var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }

    // MARK: Swift to C

    /// Whether `string` is the very string copied last (the same representation), so the copy
    /// holds its bytes. False says nothing: the bytes may still be equal.
    @inline(__always)
    func holds(_ string: String) -> Bool { sameRepresentation(string, self.string) }

    /// Makes the C copy hold `string`'s UTF-8 bytes (an embedded NUL ends the string for C, as
    /// with any C string).
    @inline(__always)
    mutating func update(to string: String) {
        if !holds(string) { compareAndCopy(string) }
    }

    /// Copies `string`'s bytes when they differ from the bytes held, and keeps the string.
    @inline(never)
    private mutating func compareAndCopy(_ string: String) {
        // Small, native and shared Swift strings are contiguous UTF-8, read in place.
        let compared: Void? = string.utf8.withContiguousStorageIfAvailable { bytes in
            let bytes = UnsafeRawBufferPointer(bytes)
            if !sameBytes(self.bytes, bytes) { copy(bytes) }
        }
        if compared == nil {
            Array(string.utf8).withUnsafeBytes { bytes in
                if !sameBytes(self.bytes, bytes) { copy(bytes) }
            }
        }
        self.string = string
    }

    // MARK: C to Swift

    /// Whether the bytes held are `cString`'s (NULL reads as "").
    @inline(__always)
    func holds(cString: UnsafePointer<CChar>?) -> Bool {
        guard let cString else { return count == 0 }
        // strnlen reads no further than one byte past the length held, and never past the NUL.
        return strnlen(cString, count + 1) == count
            && sameBytes(bytes, UnsafeRawBufferPointer(start: cString, count: count))
    }

    /// Makes the Swift string the decoding of `cString` (NULL reads as ""), decoding only when
    /// its bytes differ from the bytes held; true when they did.
    @inline(__always)
    mutating func update(fromCString cString: UnsafePointer<CChar>?) -> Bool {
        guard let cString else {
            if count == 0 { return false }
            copy(UnsafeRawBufferPointer(start: nil, count: 0))
            string = ""
            return true
        }
        // strnlen reads no further than one byte past the length held, and never past the NUL.
        let length = strnlen(cString, count + 1)
        if length == count, sameBytes(bytes, UnsafeRawBufferPointer(start: cString, count: count)) { return false }
        decode(cString, knownLength: length)
        return true
    }

    /// Copies and decodes `cString`, of which the first `knownLength` bytes (at most the length
    /// held plus one) have no NUL.
    @inline(never)
    private mutating func decode(_ cString: UnsafePointer<CChar>, knownLength: Int) {
        let length = knownLength > count ? strlen(cString) : knownLength
        let bytes = UnsafeRawBufferPointer(start: cString, count: length)
        copy(bytes)
        // As `String(cString:)` decodes: invalid UTF-8 is repaired, the bytes held stay the C bytes.
        string = String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Storage

    /// Copies `bytes` and a NUL, growing the allocation when they do not fit.
    private mutating func copy(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count >= capacity {
            pointer.deallocate()
            // Room to grow, so a last routing string that varies in length settles in one allocation.
            capacity = max(2 * capacity, bytes.count + 1)
            pointer = .allocate(capacity: capacity)
        }
        if let base = bytes.baseAddress {
            UnsafeMutableRawPointer(pointer).copyMemory(from: base, byteCount: bytes.count)
        }
        pointer[bytes.count] = 0
        count = bytes.count
    }

    /// Frees the C copy.
    func deallocate() { pointer.deallocate() }
}

/// Whether two strings have the same representation (the same two words: the same small
/// string, or the same storage and length), which for a string kept alive means the same bytes:
/// a small string's bytes are in its words; a native string's storage is changed in place only
/// while uniquely referenced; a literal's bytes and a shared string's (`String(validating:as:)`
/// from UTF-16 makes one) never change. On Linux every string is one of these; only bridged
/// Objective-C strings are foreign. False says nothing: the bytes may still be equal (and where
/// `String` is not two words, it is always false).
@inline(__always)
func sameRepresentation(_ left: String, _ right: String) -> Bool {
    typealias Words = (UInt64, UInt64)
    guard MemoryLayout<String>.size == MemoryLayout<Words>.size else { return false }
    let leftWords = unsafeBitCast(left, to: Words.self)
    let rightWords = unsafeBitCast(right, to: Words.self)
    return leftWords.0 == rightWords.0 && leftWords.1 == rightWords.1
}

/// Whether two buffers hold the same bytes: compared a word at a time, the last word
/// overlapping the one before, in line, for the short strings of servant views (a call to
/// `memcmp` costs more than the comparison).
@inline(__always)
func sameBytes(_ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer) -> Bool {
    let count = left.count
    guard count == right.count else { return false }
    @inline(__always) func same<Word: FixedWidthInteger>(_: Word.Type, at offset: Int) -> Bool {
        left.loadUnaligned(fromByteOffset: offset, as: Word.self)
            == right.loadUnaligned(fromByteOffset: offset, as: Word.self)
    }
    switch count {
    case 0: return true
    case 1: return left[0] == right[0]
    case 2..<4: return same(UInt16.self, at: 0) && same(UInt16.self, at: count - 2)
    case 4..<8: return same(UInt32.self, at: 0) && same(UInt32.self, at: count - 4)
    default:
        var offset = 0
        while offset < count - 8 {
            if !same(UInt64.self, at: offset) { return false }
            offset += 8
        }
        return same(UInt64.self, at: count - 8)
    }
}

extension ServantView {
    /// Copies the id and the numbers of `view` (not its strings).
    @inline(__always)
    mutating func copyNumbers(from view: UnsafePointer<mserve_servant_view>) {
        id = view.pointee.id
        inFlight = Int(view.pointee.in_flight)
        capacity = Int(view.pointee.capacity)
        queriesServed = view.pointee.queries_served
        meanExecutionNanoseconds = view.pointee.mean_execution_ns
    }
}
