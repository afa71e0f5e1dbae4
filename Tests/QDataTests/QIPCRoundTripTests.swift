import Foundation
import QData
import Testing

/// Every q type encodes and decodes back to itself.
struct QIPCRoundTripTests {
    static let guid = UUID(uuidString: "8C680A01-5A49-5AAB-5A65-D4BFDDB6A661")!

    static let atoms: [QAtom] = [
        .boolean(true), .boolean(false), .guid(guid), .byte(0x2a), .short(-7), .int(123_456), .long(-9_000_000_000),
        .real(1.5), .float(-2.25), .char(0x61), .symbol("IBM"), .symbol(""), .timestamp(788_918_400_000_000_000),
        .month(288), .date(8_767), .datetime(8_767.5), .timespan(3_600_000_000_000), .minute(750), .second(45_000),
        .time(45_000_123),
    ]

    static let nulls: [QAtom] = QTypeCode.allCases.compactMap { QAtom.null($0) }
    static let infinities: [QAtom] = QTypeCode.allCases.compactMap { QAtom.infinity($0) }

    static let vectors: [QVector] = [
        .boolean([true, false, true]), .guid([guid, QAtom.nullGUID]), .byte([0, 1, 255]), .short([1, -1, .min]),
        .int([1, 2, .max]), .long([1, .min, .max, 0]), .real([1.5, .nan, .infinity]), .float([0.1, -.infinity, .nan]),
        .char(Array("hello \"q\"".utf8)), .symbol(["a", "", "IBM.N"]), .timestamp([0, .min]), .month([0, 12]),
        .date([0, -1, 8_767]), .datetime([0.5, .nan]), .timespan([1, -1]), .minute([0, 1_439]), .second([0, 86_399]),
        .time([0, 86_399_999]), .long([]), .symbol([]),
    ]

    @Test(arguments: atoms + nulls + infinities)
    func atomsRoundTrip(atom: QAtom) throws {
        let value = QValue.atom(atom)
        #expect(try QIPC.decode(QIPC.encode(value)).value == value)
    }

    @Test(arguments: vectors)
    func vectorsRoundTrip(vector: QVector) throws {
        for attribute in QAttribute.allCases {
            let value = QValue.vector(vector, attribute: attribute)
            #expect(try QIPC.decode(QIPC.encode(value)).value == value)
        }
    }

    @Test func collectionsRoundTrip() throws {
        let table = QTable(
            columns: ["sym", "price", "size"],
            values: [.vector(.symbol(["IBM", "MSFT"])), .vector(.float([1.5, 2.5])), .vector(.long([100, 200]))])
        let values: [QValue] = [
            .list([.atom(.long(1)), .atom(.symbol("a")), .vector(.char(Array("x".utf8)))]),
            .list([]),
            .list([.list([.list([.atom(.int(1))])])]),
            .dictionary(keys: .vector(.symbol(["a", "b"])), values: .vector(.long([1, 2]))),
            .dictionary(keys: .vector(.symbol(["a"])), values: .list([.identity]), sorted: true),
            .table(table),
            .table(table, attribute: .sorted),
            .dictionary(
                keys: .table(QTable(columns: ["sym"], values: [.vector(.symbol(["IBM"]))])),
                values: .table(QTable(columns: ["price"], values: [.vector(.float([1.5]))]))),
            .error("type"),
            .identity,
            .list([.atom(.long(1234)), .string("proc1 `IBM")]),
        ]
        for value in values {
            #expect(try QIPC.decode(QIPC.encode(value)).value == value, "\(value)")
        }
    }

    @Test func theHeaderSaysWhatKindOfMessageItIs() throws {
        for type in [QMessageType.async, .sync, .response] {
            let bytes = QIPC.encode(.atom(.long(1)), messageType: type)
            let header = try QIPC.decodeHeader(bytes)
            #expect(header.messageType == type)
            #expect(header.littleEndian)
            #expect(!header.compressed)
            #expect(header.length == bytes.count)
        }
    }

    @Test func bigEndianMessagesAreRead() throws {
        // (1i; `ab) written big-endian: type 0, attr, count 2; -6 int; -11 symbol.
        let payload: [UInt8] = [0, 0, 0, 0, 0, 2, 0xfa, 0, 0, 0, 1, 0xf5, 0x61, 0x62, 0]
        let bytes: [UInt8] = [0, 0, 0, 0, 0, 0, 0, UInt8(8 + payload.count)] + payload
        #expect(try QIPC.decode(bytes).value == .list([.atom(.int(1)), .atom(.symbol("ab"))]))
    }

    @Test func aBigEndianMessageIsWrittenAgainLittleEndianAndALittleEndianOneIsKept() throws {
        let payload: [UInt8] = [0, 0, 0, 0, 0, 2, 0xfa, 0, 0, 0, 1, 0xf5, 0x61, 0x62, 0]
        var bytes: [UInt8] = [0, 0, 0, 0, 0, 0, 0, UInt8(8 + payload.count)] + payload
        bytes[1] = QMessageType.sync.rawValue
        let value = QValue.list([.atom(.int(1)), .atom(.symbol("ab"))])
        #expect(try QIPC.littleEndian(bytes) == QIPC.encode(value, messageType: .sync))
        let little = QIPC.encode(value, messageType: .async)
        #expect(try QIPC.littleEndian(little) == little)
        #expect(throws: QIPCError.self) { try QIPC.littleEndian([0, 0, 0]) }
    }
}
