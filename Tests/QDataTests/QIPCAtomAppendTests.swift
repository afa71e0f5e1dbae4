import QData
import Testing

/// The atom writers that skip making a `QValue` write the bytes `encodePayload` writes.
struct QIPCAtomAppendTests {
    @Test(arguments: ["", "IBM", "a\u{0}b", "\u{0}", "日本", String(repeating: "x", count: 300)])
    func aSymbolAtomIsWrittenAsEncodePayloadWritesIt(text: String) {
        var appended: [UInt8] = [7]
        QIPC.appendSymbolAtom(text, to: &appended)
        var encoded: [UInt8] = [7]
        QIPC.encodePayload(.atom(.symbol(text)), into: &encoded)
        #expect(appended == encoded)
    }

    @Test(arguments: [Int64.min, -1, 0, 1, 1_234_567_890_123, Int64.max])
    func longSizedAtomsAreWrittenAsEncodePayloadWritesThem(value: Int64) {
        for (type, atom) in [(QTypeCode.long, QAtom.long(value)), (.timestamp, .timestamp(value)), (.timespan, .timespan(value))] {
            var appended: [UInt8] = []
            QIPC.appendLongSizedAtom(type, value, to: &appended)
            var encoded: [UInt8] = []
            QIPC.encodePayload(.atom(atom), into: &encoded)
            #expect(appended == encoded, "\(type)")
        }
    }
}
