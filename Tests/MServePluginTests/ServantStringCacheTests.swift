// Tests of ServantStringCache.swift: the Swift strings and C copies kept across dispatch plugin
// calls (BridgedString, ServantStrings, ServantStringCache) and the byte comparison under them.
import CMServePlugin
import Glibc
@testable import MServePlugin
import Testing

@Suite struct ServantStringCacheTests {
    /// The bytes of a C string.
    static func bytes(_ cString: UnsafePointer<CChar>) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: cString, count: strlen(cString)))
    }

    /// A C string with these bytes, in its own allocation (free it).
    static func cString(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        for (index, byte) in bytes.enumerated() { pointer[index] = CChar(bitPattern: byte) }
        pointer[bytes.count] = 0
        return pointer
    }

    // MARK: sameBytes

    @Test func sameBytesAgreesWithAByteByByteComparisonAtEveryLengthAndPosition() {
        for count in 0...40 {
            let left = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 1) }
            for position in -1..<count {
                var right = left
                if position >= 0 { right[position] ^= 0x20 }
                let same = left.withUnsafeBytes { left in right.withUnsafeBytes { sameBytes(left, $0) } }
                #expect(same == (left == right), "length \(count), difference at \(position)")
            }
            let longer = left + [0]
            let same = left.withUnsafeBytes { left in longer.withUnsafeBytes { sameBytes(left, $0) } }
            #expect(!same, "length \(count) against \(count + 1)")
        }
    }

    // MARK: Swift to C

    @Test func aSwiftStringIsCopiedByteForByteWhateverCameBefore() {
        var copy = BridgedString()
        defer { copy.deallocate() }
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<500 {
            let string = TrickyStrings.all.randomElement(using: &generator)!
            copy.update(to: string)
            #expect(Self.bytes(copy.pointer) == Array(string.utf8), "after \(string)")
        }
    }

    @Test func canonicallyEquivalentStringsAreToldApartByTheirBytes() {
        var copy = BridgedString()
        defer { copy.deallocate() }
        let precomposed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(precomposed == decomposed)
        copy.update(to: precomposed)
        copy.update(to: decomposed)
        #expect(Self.bytes(copy.pointer) == Array(decomposed.utf8))
        copy.update(to: precomposed)
        #expect(Self.bytes(copy.pointer) == Array(precomposed.utf8))
    }

    @Test func aStringMutatedInPlaceIsCopiedAgain() {
        var copy = BridgedString()
        defer { copy.deallocate() }
        var string = String(repeating: "x", count: 40)
        copy.update(to: string)
        string.removeLast()
        string.append("y")
        copy.update(to: string)
        #expect(Self.bytes(copy.pointer) == Array(string.utf8))
        string.append("z")
        copy.update(to: string)
        #expect(Self.bytes(copy.pointer) == Array(string.utf8))
    }

    @Test func equalBytesKeepTheCopyWhereItIs() {
        var copy = BridgedString()
        defer { copy.deallocate() }
        copy.update(to: String(repeating: "ab", count: 20))
        let address = copy.pointer
        // Equal bytes in another storage, then a shorter string: no new allocation.
        copy.update(to: String(repeating: "a", count: 1) + String(repeating: "ba", count: 19) + "b")
        #expect(copy.pointer == address)
        copy.update(to: "short")
        #expect(copy.pointer == address)
        #expect(Self.bytes(copy.pointer) == Array("short".utf8))
    }

    // MARK: C to Swift

    @Test func aCStringIsDecodedLikeStringCStringAndOnlyWhenItsBytesChange() {
        var decoded = BridgedString()
        defer { decoded.deallocate() }
        let sequence: [[UInt8]] = [
            [], Array("abc".utf8), Array("abc".utf8), Array("abcd".utf8), Array("ab".utf8), Array("abd".utf8),
            Array(String(repeating: "q", count: 100).utf8), Array(String(repeating: "q", count: 99).utf8),
            [0xFF, 0x41], [0xFE, 0x41], Array("caf\u{E9}".utf8), Array("cafe\u{301}".utf8), [],
        ]
        var previous: [UInt8] = []
        for bytes in sequence {
            let cString = Self.cString(bytes)
            defer { cString.deallocate() }
            #expect(decoded.holds(cString: cString) == (bytes == previous))
            let changed = decoded.update(fromCString: cString)
            #expect(changed == (bytes != previous), "\(bytes)")
            #expect(Array(decoded.string.utf8) == Array(String(cString: cString).utf8))
            #expect(Self.bytes(decoded.pointer) == bytes)
            previous = bytes
        }
    }

    @Test func aNullCStringReadsAsEmpty() {
        var decoded = BridgedString()
        defer { decoded.deallocate() }
        #expect(decoded.holds(cString: nil))
        let nullChanged = decoded.update(fromCString: nil)
        #expect(!nullChanged)
        let cString = Self.cString(Array("IBM".utf8))
        defer { cString.deallocate() }
        let ibmChanged = decoded.update(fromCString: cString)
        #expect(ibmChanged)
        #expect(!decoded.holds(cString: nil))
        let nullChangedBack = decoded.update(fromCString: nil)
        #expect(nullChangedBack)
        #expect(decoded.string == "")
        #expect(Self.bytes(decoded.pointer) == [])
    }

    // MARK: ServantStringCache

    /// The C view of `servant` made by `strings`.
    static func view(_ strings: inout ServantStrings, of servant: ServantView) -> mserve_servant_view {
        withUnsafePointer(to: servant) { strings.view(of: $0) }
    }

    @Test func cachedStringsFollowTheirServantIDs() {
        var cache = ServantStringCache()
        let first = [
            ServantView(id: 1, name: "one:1", host: "one", lastRouting: "IBM"),
            ServantView(id: 2, name: "two:2", host: "two", lastRouting: String(repeating: "r", count: 70)),
            ServantView(id: 3, name: "three:3", host: "three"),
        ]
        cache.follow(count: first.count, id: { first[$0].id })
        let holdsFirst = cache.holdsServants(count: first.count, id: { first[$0].id })
        #expect(holdsFirst)
        for index in first.indices { _ = Self.view(&cache.servants[index], of: first[index]) }
        let namesBefore = cache.servants.map(\.name.pointer)

        let second = [first[2], ServantView(id: 4, name: "four:4", host: "four"), first[0]]
        let holdsSecond = cache.holdsServants(count: second.count, id: { second[$0].id })
        #expect(!holdsSecond)
        cache.follow(count: second.count, id: { second[$0].id })
        #expect(cache.servants.map(\.id) == [3, 4, 1])
        // Servants seen before keep their C copies; the new one starts empty.
        #expect(cache.servants[0].name.pointer == namesBefore[2])
        #expect(cache.servants[2].name.pointer == namesBefore[0])
        #expect(Self.bytes(cache.servants[1].name.pointer) == [])
        #expect(Self.bytes(cache.servants[2].lastRouting.pointer) == Array("IBM".utf8))
        let indexOfFour = cache.index(of: 4)
        let indexOfTwo = cache.index(of: 2)
        #expect(indexOfFour == 1)
        #expect(indexOfTwo == nil)

        for index in second.indices {
            let view = Self.view(&cache.servants[index], of: second[index])
            #expect(view.id == second[index].id)
            #expect(Self.bytes(view.name) == Array(second[index].name.utf8))
            #expect(Self.bytes(view.host) == Array(second[index].host.utf8))
            #expect(Self.bytes(view.last_routing) == Array(second[index].lastRouting.utf8))
        }
    }

    @Test func aRepeatedIDGetsStringsOfItsOwn() {
        var cache = ServantStringCache()
        cache.follow(count: 1, id: { _ in 9 })
        cache.follow(count: 3, id: { _ in 9 })
        #expect(cache.servants.map(\.id) == [9, 9, 9])
        #expect(Set(cache.servants.map(\.name.pointer)).count == 3)
        cache.follow(count: 0, id: { _ in 0 })
        #expect(cache.servants.isEmpty)
    }
}
