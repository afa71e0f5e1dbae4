import PropertyBased
import QData
import Testing

/// ``QIPCInPlace/checkValue(in:at:depth:)`` accepts what decoding accepts, and finds its end.
struct QIPCInPlaceTests {
    @Test func checkingAValueFindsItsEndAndDecodesIt() async {
        await propertyCheck(count: 300, input: QValueGenerator.values()) { value in
            let bytes = QIPC.encode(value)
            let end = try QIPCInPlace.checkValue(in: bytes.span, at: 8, depth: 0)
            #expect(end == bytes.count)
            #expect(try QIPCInPlace.decodeValue(in: bytes.span, range: 8..<end, depth: 0) == value)
        }
    }

    /// A value decoded where it lies in an array, inside a larger message (nothing copied
    /// first), is the value the decoder gives; a range that is not one value is refused.
    @Test func aValueIsDecodedWhereItLiesInAnArray() async throws {
        await propertyCheck(count: 300, input: QValueGenerator.values()) { value in
            let bytes = QIPC.encode(.list([.atom(.symbol("before")), value, .atom(.long(7))]))
            let start = 14 + 8  // the header, the list's head, then `before
            let end = try QIPCInPlace.checkValue(in: bytes.span, at: start, depth: 1)
            #expect(try QIPCInPlace.decodeValue(in: bytes, range: start..<end) == value)
        }
        let bytes = QIPC.encode(.list([.vector(.long([1, 2])), .atom(.long(7))]))
        #expect(throws: QIPCError.self) { try QIPCInPlace.decodeValue(in: bytes, range: 14..<(bytes.count - 1)) }
        #expect(throws: QIPCError.self) { try QIPCInPlace.decodeValue(in: bytes, range: 14..<(bytes.count + 1)) }
        #expect(try QIPCInPlace.decodeValue(in: bytes, range: 14..<(bytes.count - 9)) == .vector(.long([1, 2])))
    }

    @Test func aSpansBytesAreAppended() {
        var bytes: [UInt8] = [1, 2]
        let source: [UInt8] = [3, 4, 5, 6]
        QIPCInPlace.append(source.span.extracting(1..<3), to: &bytes)
        #expect(bytes == [1, 2, 4, 5])
    }

    /// A long atom, read in place without the general decoder, decodes as the decoder
    /// decodes it; other 9-byte values still take the general way.
    @Test(arguments: [Int64.min, Int64.min + 1, -1, 0, 1, 1_234, Int64.max])
    func aLongAtomIsDecodedInPlaceAsTheDecoderDecodesIt(value: Int64) throws {
        for atom in [QAtom.long(value), .timestamp(value), .timespan(value), .float(Double(value))] {
            let bytes = QIPC.encode(.atom(atom))
            #expect(bytes.count == 17)
            #expect(try QIPCInPlace.decodeValue(in: bytes.span, range: 8..<17) == QIPC.decode(bytes).value, "\(atom)")
        }
    }

    /// Damaged messages: checked in place, a value is refused exactly when decoding refuses
    /// it, with the same error (code and words).
    @Test func damagedValuesAreRefusedAsDecodingRefusesThem() async {
        var state: UInt64 = 0xDA7A
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var refused = 0
        var checked = 0
        await propertyCheck(count: 300, input: QValueGenerator.values()) { value in
            for _ in 0..<20 {
                var bytes = QIPC.encode(value)
                guard bytes.count > 9 else { return }
                for _ in 0..<(1 + next() % 2) {
                    let index = 8 + Int(next() % UInt64(bytes.count - 8))
                    switch next() % 3 {
                    case 0: bytes[index] = UInt8(truncatingIfNeeded: next())
                    case 1: bytes[index] = [0, 0xFF, 0x80, 11, 245, 98, 99, 101, 3, 20, 127, 102][Int(next() % 12)]
                    default: if bytes.count > 9 { bytes.remove(at: index) }
                    }
                }
                QIPC.patchLength(&bytes)
                let decoded: String
                do {
                    _ = try QIPC.decode(bytes)
                    decoded = "ok"
                } catch let error as QIPCError {
                    decoded = "\(error.code): \(error.message)"
                }
                let inPlace: String
                do {
                    let end = try QIPCInPlace.checkValue(in: bytes.span, at: 8, depth: 0)
                    inPlace =
                        end == bytes.count
                        ? "ok" : "\(QIPCError.Code.trailingBytes): \(bytes.count - end) bytes after the value at offset \(end)"
                } catch let error as QIPCError {
                    inPlace = "\(error.code): \(error.message)"
                }
                #expect(inPlace == decoded, "\(bytes)")
                checked += 1
                if decoded != "ok" { refused += 1 }
            }
        }
        #expect(refused > checked / 10 && refused < checked, "\(refused) of \(checked) refused")
    }
}
