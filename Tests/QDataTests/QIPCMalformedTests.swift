import QData
import Testing

/// Malformed input is refused with a precise error: never a crash, never a huge allocation.
struct QIPCMalformedTests {
    func code(_ bytes: [UInt8]) -> QIPCError.Code? {
        do {
            _ = try QIPC.decode(bytes)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func shortAndInconsistentHeadersAreRefused() {
        #expect(code([]) == .truncated)
        #expect(code([1, 0, 0]) == .truncated)
        #expect(code([7, 0, 0, 0, 9, 0, 0, 0, 0]) == .badHeader)
        #expect(code([1, 9, 0, 0, 9, 0, 0, 0, 0]) == .badHeader)
        var bytes = QIPC.encode(.atom(.long(1)))
        bytes[4] = 200
        #expect(code(bytes) == .badHeader)
        #expect(code(Array("hello, broker".utf8)) == .badHeader)
        // Byte 2 says whether the message is compressed: 0, 1 or 2; anything else is no header.
        for flag: UInt8 in [3, 9, 255] {
            var flagged = QIPC.encode(.list([.atom(.long(1)), .string(String(repeating: "x", count: 30))]))
            flagged[2] = flag
            #expect(code(flagged) == .badHeader, "compression byte \(flag)")
        }
    }

    /// The header's length must be the message's: a claim of fewer bytes than came is as
    /// wrong as a claim of more, and is refused by the header check itself (a reader that
    /// trusted it would take the bytes past it for the next message).
    @Test func aHeaderClaimingFewerBytesThanTheMessageIsRefusedAsABadHeader() throws {
        for value: QValue in [.atom(.long(1)), .list([.atom(.symbol("IBM")), .string("x")])] {
            var bytes = QIPC.encode(value)
            for shortfall in [1, 4] {
                bytes[4] = UInt8(bytes.count - shortfall)
                #expect(code(bytes) == .badHeader, "\(value), \(shortfall) byte(s) short")
                let header = #expect(throws: QIPCError.self) { try QIPC.decodeHeader(bytes) }
                #expect(header?.code == .badHeader)
                #expect(header?.message == "the header says \(bytes.count - shortfall) bytes but the message has \(bytes.count)")
                let sliced = #expect(throws: QIPCError.self) { try QIPC.sliceList(bytes) }
                #expect(sliced?.code == .badHeader)
            }
            // Big-endian headers too.
            var big = QIPC.encode(value)
            let count = big.count
            big[0] = 0
            big[4] = 0; big[5] = 0; big[6] = 0; big[7] = UInt8(count - 1)
            #expect(code(big) == .badHeader)
        }
    }

    @Test func forgedCountsAreCheckedBeforeAllocating() {
        // A long vector claiming 2^31-1 elements in a 14-byte payload.
        let forged: [UInt8] = [1, 0, 0, 0, 22, 0, 0, 0, 7, 0, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8]
        #expect(code(forged) == .badLength)
        let negative: [UInt8] = [1, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
        #expect(code(negative) == .badLength)
        let hugeList: [UInt8] = [1, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]
        #expect(code(hugeList) == .badLength)
    }

    @Test func truncatedValuesAndMissingTerminatorsAreRefused() {
        let symbol: [UInt8] = [1, 0, 0, 0, 11, 0, 0, 0, 0xf5, 0x61, 0x62]
        #expect(code(symbol) == .truncated)
        let long: [UInt8] = [1, 0, 0, 0, 12, 0, 0, 0, 0xf9, 1, 2, 3]
        #expect(code(long) == .truncated)
    }

    @Test func functionsAndUnknownTypesAreNeverDecoded() {
        // A lambda {x}: type 100, context symbol "", then the text as a char vector.
        let lambda: [UInt8] = [1, 0, 0, 0, 19, 0, 0, 0, 100, 0, 10, 0, 3, 0, 0, 0, 0x7b, 0x78, 0x7d]
        #expect(code(lambda) == .unsupportedType)
        // Slicing can step over a lambda inside a list (a result is forwarded, never run).
        let listWithLambda: [UInt8] = [1, 0, 0, 0, 25, 0, 0, 0, 0, 0, 1, 0, 0, 0, 100, 0, 10, 0, 3, 0, 0, 0, 0x7b, 0x78, 0x7d]
        #expect((try? QIPC.sliceList(listWithLambda))?.items == [14..<25])
        let unknown: [UInt8] = [1, 0, 0, 0, 10, 0, 0, 0, 50, 0]
        #expect(code(unknown) == .unsupportedType)
        let primitive: [UInt8] = [1, 0, 0, 0, 10, 0, 0, 0, 101, 5]
        #expect(code(primitive) == .unsupportedType)
    }

    @Test func deepNestingIsRefused() {
        var payload: [UInt8] = []
        for _ in 0..<(QIPC.maximumDepth + 5) { payload += [0, 0, 1, 0, 0, 0] }
        payload += [0xf9, 1, 0, 0, 0, 0, 0, 0, 0]
        var bytes: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0] + payload
        let length = UInt32(bytes.count)
        for index in 0..<4 { bytes[4 + index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index))) }
        #expect(code(bytes) == .tooDeep)
    }

    @Test func trailingBytesAreRefused() {
        var bytes = QIPC.encode(.atom(.long(1))) + [0]
        bytes[4] += 1
        #expect(code(bytes) == .trailingBytes)
    }

    /// Damaged messages either fail to decode or decode; and whatever decodes as a general
    /// list can be sliced into the same items without decoding them, and put back together,
    /// as the broker does with every reply.
    @Test func randomDamageNeverCrashesAndSlicingAgreesWithDecoding() throws {
        let original = QIPC.encode(
            .list([
                .atom(.long(1234)), .string("proc1 `IBM"), .atom(.symbol("IBM")),
                .list([.atom(.symbol("MSFT")), .atom(.symbol("")), .atom(.long(2))]),
                .table(QTable(columns: ["a", "b"], values: [.vector(.long([1, 2])), .vector(.symbol(["x", "y"]))])),
                .dictionary(keys: .vector(.symbol(["k"])), values: .list([.atom(.float(1.5))])),
            ]))
        var generator = SystemRandomNumberGenerator()
        var listsChecked = 0
        for round in 0..<3_000 {
            var bytes = original
            if round % 3 == 0 {
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &generator)))
            } else {
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[Int.random(in: 8..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            let decoded = try? QIPC.decode(bytes)
            let slices = try? QIPC.sliceList(bytes)
            guard case .list(let items, _)? = decoded?.value else { continue }
            let sliced = try #require(slices, "round \(round): decodes as a list, yet cannot be sliced")
            #expect(sliced.items.count == items.count, "round \(round)")
            let reassembled = QIPC.assembleList(items: sliced.items.map { sliced.bytes[$0] })
            guard case .list(let again, _) = try QIPC.decode(reassembled).value else {
                Issue.record("round \(round): the reassembled message is not a list")
                continue
            }
            #expect(again == items, "round \(round)")
            listsChecked += 1
        }
        // Damage to values alone leaves a list: a good share of rounds must get this far.
        #expect(listsChecked > 200, "only \(listsChecked) damaged messages still decoded")
    }
}
