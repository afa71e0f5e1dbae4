import QData
import Testing

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

    @Test func damagedCompressedDataIsRefusedNotCrashed() throws {
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
        #expect(throws: QIPCError.self) { try QIPC.decompress(lying) }
    }
}
