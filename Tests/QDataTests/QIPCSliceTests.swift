import QData
import Testing

/// Slicing a general list finds each item's bytes without decoding them.
struct QIPCSliceTests {
    @Test func itemsAreFoundAndReassembledUnchanged() throws {
        let items: [QValue] = [
            .atom(.long(1234)),
            .table(QTable(columns: ["a"], values: [.vector(.symbol(["x", "y"]))])),
            .dictionary(keys: .vector(.symbol(["k"])), values: .list([.list([.atom(.guid(QAtom.nullGUID))])])),
            .error("boom"),
            .identity,
        ]
        let bytes = QIPC.encode(.list(items))
        let slices = try QIPC.sliceList(bytes)
        #expect(slices.items.count == items.count)
        for (index, range) in slices.items.enumerated() {
            var single = QIPC.encode(.identity)
            single.removeLast(2)
            single += slices.bytes[range]
            let length = UInt32(single.count)
            for byte in 0..<4 { single[4 + byte] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(byte))) }
            #expect(try QIPC.decode(single).value == items[index])
        }
        let reassembled = QIPC.assembleList(items: slices.items.map { slices.bytes[$0] })
        #expect(reassembled == bytes)
    }

    @Test func onlyGeneralListsAreSliced() {
        #expect(throws: QIPCError.self) { try QIPC.sliceList(QIPC.encode(.vector(.long([1, 2])))) }
        #expect(throws: QIPCError.self) { try QIPC.sliceList(QIPC.encode(.atom(.long(1)))) }
    }

    @Test func compressedListsAreSlicedAfterDecompression() throws {
        let big = QValue.list([.atom(.long(7)), .vector(.long(Array(repeating: 42, count: 2_000)))])
        let plain = QIPC.encode(big)
        let compressed = try #require(QIPC.compress(plain))
        let slices = try QIPC.sliceList(compressed)
        #expect(slices.header.compressed)
        #expect(slices.bytes == plain)
        #expect(slices.items.count == 2)
    }
}
