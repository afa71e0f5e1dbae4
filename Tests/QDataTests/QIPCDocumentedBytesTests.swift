import QData
import Testing

/// Byte sequences from the kdb+ documentation's serialization examples (`-8!x`).
struct QIPCDocumentedBytesTests {
    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    @Test func theSmallestExamplesDecodeAndEncodeToTheSameBytes() throws {
        let fixed: [(String, QValue)] = [
            ("010000000d000000fa01000000", .atom(.int(1))),
            ("0100000011000000f90100000000000000", .atom(.long(1))),
            ("010000000b000000f56100", .atom(.symbol("a"))),
            ("0100000012000000060001000000" + "01000000", .vector(.int([1]))),
            ("0100000012000000" + "0b0002000000610062" + "00", .vector(.symbol(["a", "b"]))),
            ("010000000a000000ff01", .atom(.boolean(true))),
        ]
        for (text, value) in fixed {
            let bytes = Self.hex(text)
            #expect(try QIPC.decode(bytes).value == value, "\(text)")
            #expect(QIPC.encode(value) == bytes, "\(value)")
        }
    }

    @Test func theDictionaryAndTableExamplesMatchTheDocumentation() throws {
        // -8!`a`b!2 3  →  0x010000002100000063 0b0002000000610062 00 0600 02000000 02000000 03000000
        let dictionary = Self.hex("010000002100000063" + "0b0002000000" + "610062" + "00" + "060002000000" + "0200000003000000")
        #expect(
            try QIPC.decode(dictionary).value
                == .dictionary(keys: .vector(.symbol(["a", "b"])), values: .vector(.int([2, 3]))))
        #expect(QIPC.encode(.dictionary(keys: .vector(.symbol(["a", "b"])), values: .vector(.int([2, 3])))) == dictionary)

        // -8!([]a:enlist 2;b:enlist 3)  →  table: 0x62 00 63 0b00 02000000 6100 6200 00 00 02000000 06000100000002000000 06000100000003000000
        let table = Self.hex(
            "010000002f000000" + "6200" + "63" + "0b0002000000" + "610062" + "00" + "000002000000"
                + "060001000000" + "02000000" + "060001000000" + "03000000")
        let expected = QValue.table(QTable(columns: ["a", "b"], values: [.vector(.int([2])), .vector(.int([3]))]))
        #expect(try QIPC.decode(table).value == expected)
        #expect(QIPC.encode(expected) == table)
    }
}
