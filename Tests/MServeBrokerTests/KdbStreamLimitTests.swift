import QData
import Testing

@testable import MServeBroker

/// The kdb+ door reads a message of exactly its size limit, and refuses one byte more before
/// reading it.
struct KdbStreamLimitTests {
    static func message(totalling size: Int) -> [UInt8] {
        // A char vector: 8 bytes of header, 6 of type, attribute and count, then the chars.
        QIPC.encode(.vector(.char(Array(repeating: UInt8(ascii: "x"), count: size - 14))), messageType: .sync)
    }

    @Test func theInputBufferGoesBackToABoundedSizeOnceALargeMessageHasPassed() throws {
        let large = Self.message(totalling: 4 * KdbStream.retainedCapacity)
        let small = Self.message(totalling: 100)
        var stream = KdbStream(descriptor: -1, maxMessageSize: large.count, maxBufferedOutput: 10)
        stream.appendInputForTesting(large + small)
        #expect(try stream.nextMessage() == large)
        // The small message behind it still sits in the buffer.
        #expect(stream.capacities.input >= large.count)
        #expect(try stream.nextMessage() == small)
        #expect(stream.capacities.input <= KdbStream.retainedCapacity)
        #expect(try stream.nextMessage() == nil)
    }

    /// Once the header of a large message has come, the buffer makes room for all of it at
    /// once (it does not double past it, copying what came each time), and the message, alone
    /// in the buffer, comes out whole.
    @Test func aLargeMessageGetsRoomForAllOfItOnceItsHeaderHasCome() throws {
        let large = Self.message(totalling: 40 * KdbStream.retainedCapacity)
        var stream = KdbStream(descriptor: -1, maxMessageSize: large.count, maxBufferedOutput: 10)
        stream.appendInputForTesting(Array(large.prefix(100_000)))
        #expect(try stream.nextMessage() == nil)
        #expect(stream.capacities.input >= large.count + KdbStream.readSize)
        let reserved = stream.capacities.input
        stream.appendInputForTesting(Array(large.dropFirst(100_000)))
        #expect(stream.capacities.input == reserved, "the buffer grew again")
        #expect(try stream.nextMessage() == large)
        #expect(stream.capacities.input <= KdbStream.retainedCapacity)
    }

    @Test func aMessageAtTheLimitIsReadAndOneByteOverIsTooLarge() throws {
        let atLimit = Self.message(totalling: 100)
        try #require(atLimit.count == 100)
        var stream = KdbStream(descriptor: -1, maxMessageSize: 100, maxBufferedOutput: 10)
        stream.appendInputForTesting(atLimit)
        #expect(try stream.nextMessage() == atLimit)

        var over = KdbStream(descriptor: -1, maxMessageSize: 100, maxBufferedOutput: 10)
        // The header alone tells: the rest need not have come.
        over.appendInputForTesting(Array(Self.message(totalling: 101).prefix(8)))
        do {
            _ = try over.nextMessage()
            Issue.record("a 101-byte message passed a 100-byte limit")
        } catch {
            guard case .tooLarge(let length) = error else {
                Issue.record("expected tooLarge, got \(error)")
                return
            }
            #expect(length == 101)
        }
    }
}
