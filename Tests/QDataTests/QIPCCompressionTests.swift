import QData
import Testing
import MServeTestScheduling

/// kdb+'s compression: what `compress` writes, `decompress` restores exactly.
struct QIPCCompressionTests {
    @Test func repetitiveMessagesCompressAndRoundTrip() throws {
        let value = QValue.table(
            QTable(
                columns: ["sym", "price", "size"],
                values: [
                    .vector(.symbol((0..<1_000).map { ["IBM", "MSFT", "AAPL"][$0 % 3] })),
                    .vector(.float((0..<1_000).map { Double($0 % 17) / 4 })),
                    .vector(.long((0..<1_000).map { Int64($0 % 5) * 100 })),
                ]))
        let plain = QIPC.encode(value, messageType: .response)
        let compressed = try #require(QIPC.compress(plain))
        #expect(compressed.count < plain.count / 2)
        #expect(compressed[2] == 1)
        let header = try QIPC.decodeHeader(compressed)
        #expect(header.compressed)
        #expect(header.messageType == .response)
        #expect(try QIPC.decompress(compressed) == plain)
        #expect(try QIPC.decode(compressed).value == value)
    }

    @Test func smallOrRandomMessagesAreLeftAlone() {
        #expect(QIPC.compress(QIPC.encode(.atom(.long(1)))) == nil)
        var generator = SystemRandomNumberGenerator()
        let noise = QValue.vector(.byte((0..<10_000).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        #expect(QIPC.compress(QIPC.encode(noise)) == nil)
    }

    @Test(.heavyComputation) func damagedCompressedDataIsRefusedNotCrashed() throws {
        let plain = QIPC.encode(.vector(.long(Array(repeating: 3, count: 5_000))))
        let compressed = try #require(QIPC.compress(plain))
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            var damaged = compressed
            damaged[Int.random(in: 12..<damaged.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            _ = try? QIPC.decode(damaged)
        }
        var lying = compressed
        lying[8] = 0xff
        lying[9] = 0xff
        lying[10] = 0xff
        lying[11] = 0x7f
        // Refused for the size it claims, before 2 GB are allocated, not for the data it lacks.
        let implausible = #expect(throws: QIPCError.self) { try QIPC.decompress(lying) }
        #expect(implausible?.code == .badCompression)
        #expect(implausible?.message.hasPrefix("implausible decompressed size \(Int32.max)") == true, "\(String(describing: implausible))")
    }

    /// kdb+ never compresses a message under 2000 bytes, however repetitive; from 2001 bytes on it may.
    @Test func messagesUnder2000BytesAreNeverCompressed() throws {
        func message(totalling size: Int) -> [UInt8] {
            // A char vector: 8 bytes of header, 6 of type, attribute and count, then the chars.
            let bytes = QIPC.encode(.vector(.char(Array(repeating: UInt8(ascii: "a"), count: size - 14))))
            precondition(bytes.count == size)
            return bytes
        }
        for size in [300, 1_000, 1_999, 2_000] {
            #expect(QIPC.compress(message(totalling: size)) == nil, "\(size) bytes")
        }
        let compressed = try #require(QIPC.compress(message(totalling: 2_001)))
        #expect(try QIPC.decompress(compressed) == message(totalling: 2_001))
    }

    @Test func aDecompressedSizeOverTheLimitIsRefusedBeforeAllocating() throws {
        let value = QValue.list([.atom(.long(1)), .string(String(repeating: "proc1 `IBM;", count: 400))])
        let plain = QIPC.encode(value)
        let compressed = try #require(QIPC.compress(plain))
        // Within the limit it decodes as ever; one byte under the plain size, it is refused.
        #expect(try QIPC.decode(compressed, maximumSize: plain.count).value == value)
        #expect(try QIPC.decompress(compressed, maximumSize: plain.count) == plain)
        let limit = plain.count - 1
        let expected = "decompresses to \(plain.count) bytes, over the limit of \(limit)"
        let errors = [
            #expect(throws: QIPCError.self) { try QIPC.decompress(compressed, maximumSize: limit) },
            #expect(throws: QIPCError.self) { try QIPC.decode(compressed, maximumSize: limit) },
            #expect(throws: QIPCError.self) {
                try QIPC.forEachListValue(in: compressed, maximumSize: limit) { _ in }
            },
            #expect(throws: QIPCError.self) {
                try QIPC.forEachListItem(in: compressed, maximumSize: limit) { _ in }
            },
        ]
        for error in errors {
            #expect(error?.code == .tooLarge)
            #expect(error?.message.contains(expected) == true, "\(String(describing: error))")
        }
        // Junk that claims a 3.6 GB message is refused at once under a limit, not zero-filled.
        var junk = [UInt8](repeating: 0x55, count: 30_000_000)
        junk[0...11] = [1, 0, 1, 0, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0xd6]
        let length = UInt32(junk.count)
        for index in 0..<4 { junk[4 + index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index))) }
        let error = try #require(throws: QIPCError.self) { try QIPC.decode(junk, maximumSize: 256 << 20) }
        #expect(error.code == .tooLarge)
    }

    /// `(id; 4 MB of zero bytes)`, compressed, its compressed data cut short of its end (the
    /// header's length patched to match): whole, it does not decompress.
    static func messageGoingBadAtTheEnd(id: QValue) throws -> (plain: [UInt8], damaged: [UInt8]) {
        let plain = QIPC.encode(.list([id, .vector(.byte([UInt8](repeating: 0, count: 4 << 20)))]))
        var damaged = try #require(QIPC.compress(plain))
        damaged.removeLast(64)
        QIPC.patchLength(&damaged)
        return (plain, damaged)
    }

    /// The prefix of a compressed message is the start of the plain message, made without
    /// decompressing further: a message whose data goes bad past it still gives it.
    @Test func aPrefixIsTheStartOfThePlainMessageAndStopsThere() throws {
        let values: [QValue] = [
            .list([.atom(.long(1)), .string(String(repeating: "proc1 `IBM;", count: 400))]),
            .vector(.long((0..<5_000).map { Int64($0 % 7) })),
        ]
        for value in values {
            let plain = QIPC.encode(value)
            let compressed = try #require(QIPC.compress(plain))
            for count in [0, 8, 9, 100, 4_096, plain.count - 1, plain.count, plain.count + 10] {
                #expect(
                    try QIPC.decompressedPrefix(compressed, count: count) == Array(plain.prefix(max(8, count))),
                    "\(count) bytes of \(plain.count)")
            }
        }
        let (plain, damaged) = try Self.messageGoingBadAtTheEnd(id: .atom(.long(9)))
        #expect(throws: QIPCError.self) { try QIPC.decompress(damaged) }
        #expect(try QIPC.decompressedPrefix(damaged, count: 65_536) == Array(plain.prefix(65_536)))
    }

    /// A message's first item is read from its first bytes only, whatever follows them; one
    /// that does not lie whole within them is not read.
    @Test func theFirstListItemIsReadFromTheFirstBytesOnly() throws {
        let (plain, damaged) = try Self.messageGoingBadAtTheEnd(id: .atom(.long(9)))
        #expect(try QIPC.firstListItem(of: damaged, readingAtMost: 65_536) == .atom(.long(9)))
        #expect(try QIPC.firstListItem(of: plain, readingAtMost: 65_536) == .atom(.long(9)))
        // Big-endian: (1i; `ab).
        let payload: [UInt8] = [0, 0, 0, 0, 0, 2, 0xfa, 0, 0, 0, 1, 0xf5, 0x61, 0x62, 0]
        let bigEndian: [UInt8] = [0, 0, 0, 0, 0, 0, 0, UInt8(8 + payload.count)] + payload
        #expect(try QIPC.firstListItem(of: bigEndian, readingAtMost: 65_536) == .atom(.int(1)))
        // An id longer than the bytes read, compressed or not.
        let longID = QValue.string(String(repeating: "x", count: 70_000))
        let (plainLong, damagedLong) = try Self.messageGoingBadAtTheEnd(id: longID)
        #expect(try QIPC.firstListItem(of: plainLong, readingAtMost: 80_000) == longID)
        for message in [plainLong, damagedLong] {
            let error = #expect(throws: QIPCError.self) { try QIPC.firstListItem(of: message, readingAtMost: 65_536) }
            #expect(error?.code == .badLength, "a vector longer than the bytes read")
        }
        // No list.
        let error = #expect(throws: QIPCError.self) {
            try QIPC.firstListItem(of: QIPC.encode(.atom(.long(9))), readingAtMost: 65_536)
        }
        #expect(error?.code == .unexpectedShape)
    }
}
