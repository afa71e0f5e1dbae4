import PropertyBased
import QData
import Testing

/// Properties of the codec over generated q values (QValueGenerator). A failure prints the
/// value (shrunk) and the seed that reproduces it: `@Test(.fixedSeed("…"))`.
struct QIPCPropertyTests {
    @Test func decodingWhatWasEncodedGivesTheValueBack() async {
        await propertyCheck(count: 300, input: QValueGenerator.values()) { value in
            for type in [QMessageType.async, .sync, .response] {
                let bytes = QIPC.encode(value, messageType: type)
                let message = try QIPC.decode(bytes)
                #expect(message.value == value)
                #expect(message.header.messageType == type)
                #expect(message.header.length == bytes.count)
                #expect(!message.header.compressed)
                #expect(message.header.littleEndian)
            }
        }
    }

    @Test func compressedMessagesDecodeToTheSameValue() async {
        // Repeated so that most messages pass the 2000 bytes kdb+ compresses from.
        var compressedCount = 0
        await propertyCheck(count: 100, input: QValueGenerator.values()) { value in
            let plain = QIPC.encode(.list(Array(repeating: value, count: 40)))
            guard let compressed = QIPC.compress(plain) else { return }
            compressedCount += 1
            #expect(compressed.count <= plain.count / 2)
            let decompressed = try QIPC.decompress(compressed)
            #expect(decompressed == plain)
            let decoded = try QIPC.decode(compressed).value
            #expect(decoded == .list(Array(repeating: value, count: 40)))
        }
        #expect(compressedCount >= 10, "only \(compressedCount) messages were compressed: the check proved little")
    }

    /// The broker forwards results it never decodes: slicing a list must find exactly the
    /// items decoding finds, and putting the slices together must give the message back.
    @Test func slicingAListAgreesWithDecodingIt() async {
        await propertyCheck(count: 300, input: QValueGenerator.lists()) { list in
            guard case .list(let items, _) = list else { return }
            let bytes = QIPC.encode(list)
            let slices = try QIPC.sliceList(bytes)
            try #require(slices.items.count == items.count)
            for (item, range) in zip(items, slices.items) {
                // Each slice is the item's own encoding, header aside.
                #expect(Array(slices.bytes[range]) == Array(QIPC.encode(item).dropFirst(8)))
            }
            #expect(QIPC.assembleList(items: slices.items.map { slices.bytes[$0] }) == bytes)
            var visited: [QValue] = []
            _ = try QIPC.forEachListValue(in: bytes) { (item: QValue) throws(QIPCError) in visited.append(item) }
            #expect(visited == items)
        }
    }

    /// Whatever a byte of damage does to a message, decoding and slicing agree: both refuse
    /// it, or the slices are the decoded items.
    @Test func damagedListsAreRefusedOrSlicedAsTheyDecode() async {
        var stillLists = 0
        await propertyCheck(
            count: 300, input: QValueGenerator.lists(), Gen.int(in: 0...Int.max), Gen.int(in: 0...255)
        ) { list, position, byte in
            var bytes = QIPC.encode(list)
            bytes[8 + position % (bytes.count - 8)] = UInt8(byte)
            guard case .list(let items, _)? = try? QIPC.decode(bytes).value else { return }
            stillLists += 1
            let slices = try #require(try? QIPC.sliceList(bytes), "decodes as a list, yet cannot be sliced")
            try #require(slices.items.count == items.count)
            let reassembled = QIPC.assembleList(items: slices.items.map { slices.bytes[$0] })
            let again = try QIPC.decode(reassembled).value
            #expect(again == .list(items))
        }
        #expect(stillLists >= 30, "only \(stillLists) damaged messages still decoded: the check proved little")
    }
}
