import MServeProtocol
import Testing

struct WireTests {
    @Test func integersAreEightBytesLittleEndian() {
        #expect(WireInteger.encode(0x0102_0304_0506_0708) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(WireInteger.decode([8, 7, 6, 5, 4, 3, 2, 1]) == 0x0102_0304_0506_0708)
        #expect(WireInteger.decode([1, 2, 3]) == nil)
        // Exactly eight: a longer frame (a tag with a byte too many) is no integer either.
        #expect(WireInteger.decode([8, 7, 6, 5, 4, 3, 2, 1, 0]) == nil)
        #expect(WireInteger.decode([8, 7, 6, 5, 4, 3, 2, 1, 0][1...]) == 0x0001_0203_0405_0607)
        #expect(WireInteger.decode([]) == nil)
        #expect(WireInteger.decode(WireInteger.encode(.max)) == .max)
    }

    @Test func encodingIntoAnArrayOverwritesItWithTheSameBytes() {
        var frame: [UInt8] = []
        for value: UInt64 in [0, 1, 0x0102_0304_0506_0708, .max, 42] {
            WireInteger.encode(value, into: &frame)
            #expect(frame == WireInteger.encode(value))
        }
        var wrongSize: [UInt8] = [1, 2, 3]
        WireInteger.encode(7, into: &wrongSize)
        #expect(wrongSize == [7, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func commandsReadOnlyTheirOwnFrames() {
        for command in ServantCommand.allCases {
            #expect(ServantCommand(frame: command.frame) == command)
        }
        #expect(ServantCommand(frame: Array("QUERYX".utf8)) == nil)
        #expect(ServantCommand(frame: [0xff, 0xfe]) == nil)
        #expect(ServantCommand(frame: Array(repeating: 65, count: 1_000)) == nil)
        #expect(ServantLink.protocolMarker == Array("MSV1".utf8))
    }

    @Test func theQClockCountsFrom2000() {
        let now = QueryClock.qTimestampNow()
        // 2020.01.01 is 631152000 s after 2000.01.01; anything running today is later.
        #expect(now > 631_152_000 * 1_000_000_000)
        #expect(QueryClock.monotonicNanoseconds() <= QueryClock.monotonicNanoseconds())
    }
}
