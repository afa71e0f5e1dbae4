import Foundation
import Testing
import QData

/// One vector written by generate.py with pykx or kola.
struct ExternalVector: Decodable, Sendable {
    var library: String
    var q: String
    var hex: String
}

/// The vectors in Vectors/vectors.json.
let externalVectors: [String: ExternalVector] = {
    let url = Bundle.module.url(forResource: "vectors", withExtension: "json", subdirectory: "Vectors")!
    return try! JSONDecoder().decode([String: ExternalVector].self, from: Data(contentsOf: url))
}()

/// What each external vector must decode to.
let expectedExternalValues: [String: QValue] = [
    "boolean_atom": true,
    "guid_atom": .atom(.guid(ExternalVectorTests.guid)),
    "byte_atom": .atom(.byte(42)),
    "short_atom": .atom(.short(-42)),
    "int_atom": .atom(.int(42)),
    "long_atom": 1234,
    "real_atom": .atom(.real(1.5)),
    "float_atom": -2.25,
    "char_atom": .atom(.char(0x61)),
    "symbol_atom": "IBM",
    "timestamp_atom": .atom(.timestamp(757_513_800_000_000_001)),
    "month_atom": .atom(.month(288)),
    "date_atom": .atom(.date(8767)),
    "timespan_atom": .atom(.timespan(1_000_000_000)),
    "minute_atom": .atom(.minute(750)),
    "second_atom": .atom(.second(45000)),
    "time_atom": .atom(.time(45_000_123)),
    "long_null": .atom(QAtom.null(.long)!),
    "long_infinity": .atom(QAtom.infinity(.long)!),
    "int_null": .atom(QAtom.null(.int)!),
    "short_null": .atom(QAtom.null(.short)!),
    "float_null": .atom(QAtom.null(.float)!),
    "float_infinity": .atom(QAtom.infinity(.float)!),
    "symbol_null": .atom(QAtom.null(.symbol)!),
    "boolean_vector": .vector(.boolean([true, false, true])),
    "guid_vector": .vector(.guid([ExternalVectorTests.guid])),
    "byte_vector": .vector(.byte([0, 1, 2])),
    "short_vector": .vector(.short([1, -2, .min])),
    "int_vector": .vector(.int([1, 2, .max])),
    "long_vector": .vector(.long([1, 2, 3])),
    "real_vector": .vector(.real([1.5, -2])),
    "float_vector": .vector(.float([1.5, .nan, .infinity])),
    "char_vector": .string("proc1 `IBM"),
    "symbol_vector": .vector(.symbol(["a", "bc", ""])),
    "timestamp_vector": .vector(.timestamp([0, 757_513_800_000_000_000])),
    "date_vector": .vector(.date([-1, 8767])),
    "timespan_vector": .vector(.timespan([1_000_000_000, -5])),
    "empty_long_vector": .vector(.long([])),
    "empty_char_vector": .string(""),
    "mserve_query": [1234, .string("proc1 `IBM")],
    "nested_list": [1, ["a", .string("xy")], []],
    "dictionary": .dictionary(["routing": "IBM", "servant": .string("s1")]),
    "table": .table(QTable(columns: ["a", "b"], values: [.vector(.long([1, 2])), .vector(.symbol(["x", "y"]))])),
    "table_strings": .table(QTable(columns: ["s"], values: [.list([.string("ab"), .string("c")])])),
    "table_floats": .table(QTable(columns: ["price", "size"], values: [.vector(.float([1.5, 2.5])), .vector(.int([10, 20]))])),
    "compressed_long_vector": .vector(.long((0..<3000).map(Int64.init))),
    "compressed_table": .table(QTable(columns: ["a"], values: [.vector(.long((0..<1000).map(Int64.init)))])),
]

/// Bytes written by independent kdb+ implementations (pykx, KX's own library, and kola, a
/// Rust one) decode to the expected values, and encoding those values gives the same bytes.
@Suite struct ExternalVectorTests {
    static let guid = UUID(uuidString: "8c680a01-5a49-5aab-5a65-d4bfddb6a661")!

    static func hexBytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.filter { !$0.isWhitespace })
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
    }

    static func hexString(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    @Test func everyVectorHasAnExpectedValue() {
        #expect(externalVectors.count >= 40)
        #expect(Set(externalVectors.keys) == Set(expectedExternalValues.keys))
    }

    @Test(arguments: expectedExternalValues.keys.sorted())
    func decodesAndReencodes(name: String) throws {
        let vector = try #require(externalVectors[name])
        let expected = try #require(expectedExternalValues[name])
        let bytes = Self.hexBytes(vector.hex)
        let message = try QIPC.decode(bytes)
        #expect(message.value == expected, "\(name): \(vector.q) from \(vector.library)")
        if message.header.compressed {
            #expect(QIPC.encode(expected) == (try QIPC.decompress(bytes)))
            // What MServe compresses, kdb+ readers decompress: and it restores the same bytes.
            let ours = try #require(QIPC.compress(QIPC.encode(expected)))
            #expect(try QIPC.decompress(ours) == QIPC.encode(expected))
            // The greedy encoder makes the same choices as kola's: the bytes match.
            #expect(Self.hexString(ours) == vector.hex)
        } else {
            #expect(Self.hexString(QIPC.encode(expected)) == vector.hex, "\(name): \(vector.q)")
        }
    }
}
