// Tests of ServantStringCache.swift: the Swift strings and C copies kept across dispatch plugin
// calls (BridgedString, ServantStrings, ServantStringCache) and the comparisons under them, of
// string representations (sameRepresentation) and of bytes (sameBytes).
import CMServePlugin
import Glibc
@testable import MServePlugin
import Testing
import MServeTestScheduling

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

    /// The words of a string, as `sameRepresentation` compares them.
    static func words(_ string: String) -> (UInt64, UInt64) { unsafeBitCast(string, to: (UInt64, UInt64).self) }

    /// Printable ASCII bytes of length `count`, different at every position.
    static func pattern(count: Int) -> [UInt8] { (0..<count).map { UInt8(0x21 + ($0 * 7) % 90) } }

    /// Ways to build a Swift string with given (ASCII) bytes. Up to 15 bytes most give a small
    /// string, longer ones native storage of their own (decoded, written in place, grown by
    /// appends, cut from a substring, shortened in place); `String(validating:as:)` from UTF-16
    /// gives shared storage, neither native nor a literal, at any length.
    static let constructions: [(name: String, make: @Sendable ([UInt8]) -> String)] = [
        ("decoded", { String(decoding: $0, as: UTF8.self) }),
        ("written in place", { bytes in
            String(unsafeUninitializedCapacity: bytes.count) { _ = $0.initialize(fromContentsOf: bytes); return bytes.count }
        }),
        ("appended", { bytes in
            var string = ""
            for byte in bytes { string.append(Character(Unicode.Scalar(byte))) }
            return string
        }),
        ("from a substring", { String(("<" + String(decoding: $0, as: UTF8.self) + ">").dropFirst().dropLast()) }),
        ("shortened in place", { bytes in
            var string = String(decoding: bytes + [0x21], as: UTF8.self)
            string.removeLast()
            return string
        }),
        ("validated from UTF-16", { String(validating: $0.map { UInt16($0) }, as: UTF16.self)! }),
    ]

    /// A page of memory between two pages that cannot be read: any access outside the page
    /// crashes the test.
    final class GuardedPage {
        /// Where the bytes go: flush against the unreadable page after, or the one before.
        enum Edge: CaseIterable { case end, start }

        let size = sysconf(Int32(_SC_PAGESIZE))
        /// The three pages: unreadable, readable, unreadable.
        private let mapping: UnsafeMutableRawPointer

        init() {
            let mapping = mmap(nil, 3 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            precondition(mapping != nil && mapping != UnsafeMutableRawPointer(bitPattern: -1), "mmap failed")
            self.mapping = mapping!
            precondition(mprotect(self.mapping, size, PROT_NONE) == 0)
            precondition(mprotect(self.mapping + 2 * size, size, PROT_NONE) == 0)
        }

        deinit { munmap(mapping, 3 * size) }

        /// `bytes`, written flush against `edge` of the readable page.
        func place(_ bytes: [UInt8], at edge: Edge) -> UnsafeRawBufferPointer {
            let start = mapping + size + (edge == .end ? size - bytes.count : 0)
            start.copyMemory(from: bytes, byteCount: bytes.count)
            return UnsafeRawBufferPointer(start: start, count: bytes.count)
        }

        /// A C string with `bytes`, whose NUL is the last readable byte.
        func placeCString(_ bytes: [UInt8]) -> UnsafePointer<CChar> {
            place(bytes + [0], at: .end).baseAddress!.assumingMemoryBound(to: CChar.self)
        }
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

    @Test func sameBytesReadsNothingOutsideEitherBuffer() {
        let leftPage = GuardedPage()
        let rightPage = GuardedPage()
        for count in 0...40 {
            let bytes = Self.pattern(count: count)
            for leftEdge in GuardedPage.Edge.allCases {
                for rightEdge in GuardedPage.Edge.allCases {
                    for position in -1..<count {
                        var other = bytes
                        if position >= 0 { other[position] ^= 0x01 }
                        let left = leftPage.place(bytes, at: leftEdge)
                        let right = rightPage.place(other, at: rightEdge)
                        #expect(sameBytes(left, right) == (position < 0), "length \(count), difference at \(position)")
                    }
                }
            }
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

    @Test func aCopyOfAStringHasTheSameRepresentation() {
        var bridged = BridgedString()
        defer { bridged.deallocate() }
        let literals = ["", "IBM", "fifteen-bytes-x", "db1.example.net:5001", String(repeating: "long", count: 75)]
        var strings = literals
        for count in 0...40 {
            strings += Self.constructions.map { $0.make(Self.pattern(count: count)) }
        }
        for string in strings {
            let copy = string
            #expect(sameRepresentation(string, copy), "\(string)")
            bridged.update(to: string)
            #expect(bridged.holds(copy), "\(string)")
        }
    }

    @Test(.heavyComputation) func stringsOfTheSameLengthWithOtherBytesAreNeverTakenForTheOneCopied() {
        var bridged = BridgedString()
        defer { bridged.deallocate() }
        for count in 1...40 {
            let bytes = Self.pattern(count: count)
            for position in 0..<count {
                var other = bytes
                other[position] ^= 0x01
                for first in Self.constructions {
                    for second in Self.constructions {
                        let string = first.make(bytes)
                        let otherString = second.make(other)
                        #expect(!sameRepresentation(string, otherString), "\(first.name) \(second.name) \(count) \(position)")
                        bridged.update(to: string)
                        bridged.update(to: otherString)
                        #expect(Self.bytes(bridged.pointer) == other, "\(first.name) \(second.name) \(count) \(position)")
                    }
                }
            }
        }
        // Literals of one length, small and large, differing in their last byte.
        let literals = ["IBN", "IBM", "fifteen-bytes-y", "fifteen-bytes-x", "db1.example.net:5002", "db1.example.net:5001"]
        for (index, literal) in literals.enumerated() {
            #expect(!sameRepresentation(literal, literals[index ^ 1]))
            bridged.update(to: literal)
            #expect(Self.bytes(bridged.pointer) == Array(literal.utf8))
        }
    }

    @Test func equalBytesBuiltAnotherWayAreCopiedRightAndTheNewerStringIsKept() {
        var bridged = BridgedString()
        defer { bridged.deallocate() }
        for count in [0, 1, 7, 8, 9, 15, 16, 17, 40] {
            let bytes = Self.pattern(count: count)
            for first in Self.constructions {
                for second in Self.constructions {
                    let string = first.make(bytes)
                    let sameBytesString = second.make(bytes)
                    bridged.update(to: string)
                    let address = bridged.pointer
                    bridged.update(to: sameBytesString)
                    #expect(Self.bytes(bridged.pointer) == bytes, "\(first.name) \(second.name) \(count)")
                    #expect(bridged.pointer == address, "\(first.name) \(second.name) \(count)")
                    #expect(bridged.holds(sameBytesString), "\(first.name) \(second.name) \(count)")
                }
            }
        }
    }

    @Test func aStringMutatedInPlaceIsCopiedAgain() {
        var bridged = BridgedString()
        defer { bridged.deallocate() }
        // The caller's string has room to change in place, and the same length after the change.
        var string = String(repeating: "x", count: 40)
        string.reserveCapacity(100)
        bridged.update(to: string)
        string.removeLast()
        string.append("y")
        bridged.update(to: string)
        #expect(Self.bytes(bridged.pointer) == Array(string.utf8))
        string.append("z")
        bridged.update(to: string)
        #expect(Self.bytes(bridged.pointer) == Array(string.utf8))

        // A copy the caller took of the string kept, changed once the kept string is replaced.
        var callersCopy = bridged.string
        callersCopy.reserveCapacity(100)
        bridged.update(to: callersCopy)
        callersCopy.removeLast()
        callersCopy.append("z")
        bridged.update(to: callersCopy)
        #expect(Self.bytes(bridged.pointer) == Array(callersCopy.utf8))

        // Small strings change their words with their bytes.
        var small = "IBM"
        bridged.update(to: small)
        small.removeLast()
        small.append("N")
        bridged.update(to: small)
        #expect(Self.bytes(bridged.pointer) == Array("IBN".utf8))
    }

    @Test func aStringReleasedByItsCallerIsNotTakenForOneMadeAtItsAddress() {
        var bridged = BridgedString()
        defer { bridged.deallocate() }
        for count in [16, 40, 100] {
            let bytes = Self.pattern(count: count)
            var other = bytes
            other[count / 2] ^= 0x01
            for construction in Self.constructions {
                for _ in 0..<4 {
                    // The caller lets go of the string copied; the allocator is free to put the
                    // next one of the same length where it was, unless the copy keeps it.
                    do { bridged.update(to: construction.make(bytes)) }
                    let otherString = construction.make(other)
                    bridged.update(to: otherString)
                    #expect(Self.bytes(bridged.pointer) == other, "\(construction.name) \(count)")
                    bridged.update(to: "")
                }
            }
        }
    }

    @Test func comparingRepresentationsTakesNoReference() {
        var string = String(repeating: "n", count: 40)
        string.reserveCapacity(100)
        let storage = Self.words(string).1
        let bridged = BridgedString()
        defer { bridged.deallocate() }
        for _ in 0..<3 {
            _ = sameRepresentation(string, string)
            _ = bridged.holds(string)
        }
        // Still uniquely referenced: appended in place.
        string.append("m")
        #expect(Self.words(string).1 == storage)
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

    @Test func aCStringIsNeverReadPastItsNul() {
        let page = GuardedPage()
        var decoded = BridgedString()
        defer { decoded.deallocate() }
        for heldCount in 0...40 {
            let held = Self.pattern(count: heldCount)
            var candidates = (0...40).map { Self.pattern(count: $0) }
            if heldCount > 0 {
                var sameLengthOtherBytes = held
                sameLengthOtherBytes[heldCount - 1] ^= 0x01
                candidates.append(sameLengthOtherBytes)
            }
            for candidate in candidates {
                let heldCString = Self.cString(held)
                defer { heldCString.deallocate() }
                _ = decoded.update(fromCString: heldCString)
                let cString = page.placeCString(candidate)
                #expect(decoded.holds(cString: cString) == (candidate == held), "held \(heldCount), given \(candidate.count)")
                let changed = decoded.update(fromCString: cString)
                #expect(changed == (candidate != held), "held \(heldCount), given \(candidate.count)")
                #expect(Self.bytes(decoded.pointer) == candidate)
                #expect(Array(decoded.string.utf8) == candidate)
            }
        }
    }

    @Test func anEmptyCStringAndNullAreTheSame() {
        var decoded = BridgedString()
        defer { decoded.deallocate() }
        let empty = Self.cString([])
        defer { empty.deallocate() }
        #expect(decoded.holds(cString: empty))
        let emptyChanged = decoded.update(fromCString: empty)
        #expect(!emptyChanged)
        let ibm = Self.cString(Array("IBM".utf8))
        defer { ibm.deallocate() }
        _ = decoded.update(fromCString: ibm)
        #expect(!decoded.holds(cString: empty))
        let emptyChangedBack = decoded.update(fromCString: empty)
        #expect(emptyChangedBack)
        #expect(decoded.string == "")
        #expect(decoded.holds(cString: nil))
        let nullChanged = decoded.update(fromCString: nil)
        #expect(!nullChanged)
    }

    @Test func theCopyGrowsToAnyLengthAndStaysPutWhenShorter() {
        var copied = BridgedString()
        var decoded = BridgedString()
        defer {
            copied.deallocate()
            decoded.deallocate()
        }
        let lengths = [0, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 300, 299, 64, 16, 15, 1, 0, 301]
        var copiedAddress = copied.pointer
        var decodedAddress = decoded.pointer
        var longest = 0
        for count in lengths {
            let bytes = Self.pattern(count: count)
            copied.update(to: String(decoding: bytes, as: UTF8.self))
            let cString = Self.cString(bytes)
            defer { cString.deallocate() }
            _ = decoded.update(fromCString: cString)
            #expect(Self.bytes(copied.pointer) == bytes, "length \(count)")
            #expect(Self.bytes(decoded.pointer) == bytes, "length \(count)")
            if count <= longest {
                #expect(copied.pointer == copiedAddress, "length \(count)")
                #expect(decoded.pointer == decodedAddress, "length \(count)")
            }
            longest = max(longest, count)
            copiedAddress = copied.pointer
            decodedAddress = decoded.pointer
        }
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
