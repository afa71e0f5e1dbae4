import QData
import Testing

/// Slicing a general list finds each item's bytes without decoding them.
struct QIPCSliceTests {
    @Test func itemsAreFoundAndReassembledUnchanged() throws {
        let items: [QValue] = [
            .atom(.long(1234)),
            .atom(.symbol("IBM")),
            .atom(.symbol("")),
            .list([.atom(.symbol("MSFT")), .atom(.long(7)), .atom(.symbol("a.b"))]),
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
        let atom = #expect(throws: QIPCError.self) { try QIPC.sliceList(QIPC.encode(.atom(.long(1)))) }
        #expect(atom?.message == "expected a general list (type 0), got type -7")
        // A header with nothing after it is short of a value, not of the wrong type.
        let headerOnly = #expect(throws: QIPCError.self) { try QIPC.sliceList([1, 0, 0, 0, 8, 0, 0, 0]) }
        #expect(headerOnly?.code == .truncated)
        #expect(headerOnly?.message == "the message ends after its 8-byte header")
    }

    /// Bytes that are no value are refused for what is wrong with them, whatever their first
    /// type byte: not as a value of another type than a list.
    @Test func bytesThatAreNoValueAreRefusedForWhatIsWrongNotAsNoList() {
        func message(_ body: [UInt8]) -> [UInt8] {
            var bytes: [UInt8] = [1, 1, 0, 0, 0, 0, 0, 0] + body
            QIPC.patchLength(&bytes)
            return bytes
        }
        let cases: [([UInt8], QIPCError.Code, String)] = [
            ([0xF5] + Array("pid".utf8), .truncated, "a symbol at offset 9 has no NUL terminator"),
            ([10, 0, 9, 0, 0, 0] + Array("pid".utf8), .badLength, "count 9 at offset 10 needs at least 9 bytes; 3 left"),
            ([0xF9, 1, 0, 0, 0, 0, 0, 0, 0, 7], .trailingBytes, "1 bytes after the value at offset 17"),
        ]
        for (body, code, reason) in cases {
            let sliced = #expect(throws: QIPCError.self) { try QIPC.sliceList(message(body)) }
            #expect(sliced?.code == code)
            #expect(sliced?.message == reason)
            let visited = #expect(throws: QIPCError.self) {
                _ = try QIPC.forEachListValue(in: message(body)) { (_: QValue) throws(QIPCError) in }
            }
            #expect(visited?.code == code)
            #expect(visited?.message == reason)
        }
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

    @Test func eachItemIsDecodedInOrderWithoutTheList() throws {
        let items: [QValue] = [.atom(.long(7)), .string("proc1 `IBM"), .vector(.symbol(["a", "b"]))]
        var seen: [QValue] = []
        let header = try QIPC.forEachListValue(in: QIPC.encode(.list(items), messageType: .async)) {
            (item: QValue) throws(QIPCError) in seen.append(item)
        }
        #expect(seen == items)
        #expect(header.messageType == .async)
    }

    @Test func aVisitorStopsTheWalkByThrowing() {
        var visited = 0
        do {
            _ = try QIPC.forEachListItem(in: QIPC.encode(.list([.atom(.long(1)), .atom(.long(2)), .atom(.long(3))]))) {
                (_: Range<Int>) throws(QIPCError) in
                visited += 1
                if visited == 2 { throw QIPCError(.unexpectedShape, "enough") }
            }
            Issue.record("the walk went on after the visitor threw")
        } catch {
            #expect(error.code == .unexpectedShape)
            #expect(error.message == "enough")
        }
        #expect(visited == 2)
    }

    @Test func visitingRefusesWhatSlicingRefuses() {
        var trailing = QIPC.encode(.list([.atom(.long(1))]))
        trailing.append(0)
        QIPC.patchLength(&trailing)
        for bytes in [QIPC.encode(.atom(.long(1))), trailing, [1, 0, 0, 0, 9, 0, 0, 0, 0]] {
            #expect(throws: QIPCError.self) { _ = try QIPC.forEachListItem(in: bytes) { (_: Range<Int>) throws(QIPCError) in } }
            #expect(throws: QIPCError.self) { _ = try QIPC.forEachListValue(in: bytes) { (_: QValue) throws(QIPCError) in } }
        }
    }
}
