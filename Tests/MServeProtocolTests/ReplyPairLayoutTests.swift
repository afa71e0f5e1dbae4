import Foundation
import MServeProtocol
import QData
import Testing

/// A servant's plain `(id; result)` is laid out from its first bytes, and the bytes spliced
/// around its result make the same reply as slicing it would.
struct ReplyPairLayoutTests {
    let timings = QueryTimings(received: 815_000_000_000_000_000, queued: 12, execution: 34, elapsed: 58_023)

    func layout(_ message: [UInt8], prefix: Int = 4_096) -> ReplyPairLayout? {
        ReplyPairLayout(prefix: message.prefix(prefix), messageCount: message.count)
    }

    @Test func idsOfEverySimpleShapeAreFoundAndTheResultRunsToTheEnd() throws {
        let result = QValue.vector(.long(Array(0..<1_000)))
        let ids: [QValue] = [
            .atom(.long(7)), .atom(.int(3)), .atom(.symbol("query-7")), .atom(.symbol("")),
            .string("an id"), .vector(.symbol(["a", "bc", ""])), .vector(.long([1, 2])), .identity,
            .atom(.guid(UUID())), .atom(.boolean(true)),
        ]
        for id in ids {
            let message = ReplyAssembly.servantResult(id: id, result: result)
            let sliced = try SlicedReply(bytes: message)
            let found = try #require(layout(message), "no layout for the id \(id)")
            #expect(found.id == sliced.id, "id \(id)")
            #expect(found.result == sliced.result, "id \(id)")
        }
    }

    @Test func theSplicedReplyIsTheSlicedOneByteForByte() throws {
        let message = ReplyAssembly.servantResult(id: .atom(.long(42)), result: .string("a result"))
        let sliced = try SlicedReply(bytes: message)
        let found = try #require(layout(message))
        let parts = ReplyAssembly.splicedClientReply(
            id: message[found.id], resultCount: found.result.count, routing: "IBM", servant: "h:1", timings: timings)
        let spliced = parts.head + message[found.result] + parts.tail
        let expected = ReplyAssembly.clientReply(sliced, routing: "IBM", servant: "h:1", timings: timings)
        #expect(spliced == expected.bytes)
        let decoded = try QIPC.decode(spliced).value
        guard case .list(let items, _) = decoded, items.count == 3 else {
            Issue.record("not (id; result; info): \(decoded)")
            return
        }
        #expect(items[0] == .atom(.long(42)))
        #expect(items[1] == .string("a result"))
        #expect(InfoDictionary.symbolKeyedEntries(items[2])?.map(\.0) == InfoDictionary.brokerKeys)
    }

    /// Written into buffers kept from an earlier, longer reply, the head and tail are the
    /// ones made afresh: nothing of the earlier reply is left in them.
    @Test func theSplicedPartsWrittenIntoKeptBuffersAreTheFreshOnes() throws {
        var head = Array(repeating: UInt8(0xEE), count: 500)
        var tail = Array(repeating: UInt8(0xEE), count: 500)
        for (id, servant) in [(QValue.atom(.long(42)), "a-servant-with-a-long-name:5001"), (.atom(.symbol("q7")), "h:1")] {
            let message = ReplyAssembly.servantResult(id: id, result: .string("a result"))
            let found = try #require(layout(message))
            let fresh = ReplyAssembly.splicedClientReply(
                id: message[found.id], resultCount: found.result.count, routing: "IBM", servant: servant, timings: timings)
            let idPayload = Array(message[found.id])
            ReplyAssembly.splicedClientReply(
                id: idPayload.span, resultCount: found.result.count, routing: "IBM", servant: servant, timings: timings,
                head: &head, tail: &tail)
            #expect(head == fresh.head, "\(id)")
            #expect(tail == fresh.tail, "\(id)")
        }
    }

    @Test func everyOtherReplyTakesTheGeneralWay() throws {
        let plain = ReplyAssembly.servantResult(id: .atom(.long(1)), result: .atom(.long(2)))
        #expect(layout(plain) != nil)
        // With the servant's info, a failure, a q error in the result's place.
        #expect(layout(ReplyAssembly.servantResult(
            id: .atom(.long(1)), result: .atom(.long(2)),
            info: InfoDictionary.dictionary([("host", .atom(.symbol("h")))]))) == nil)
        #expect(layout(ReplyAssembly.servantFailure(id: .atom(.long(1)), message: "nope")) == nil)
        #expect(layout(QIPC.encode(.list([.atom(.long(1)), .error("type")]))) == nil)
        // Compressed, big-endian, a length that is not the message's, a list of one or three.
        var compressedFlag = plain
        compressedFlag[2] = 1
        #expect(layout(compressedFlag) == nil)
        var bigEndian = plain
        bigEndian[0] = 0
        #expect(layout(bigEndian) == nil)
        #expect(ReplyPairLayout(prefix: plain[...], messageCount: plain.count + 1) == nil)
        #expect(layout(QIPC.encode(.list([.atom(.long(1))]))) == nil)
        #expect(layout(QIPC.encode(.list([.atom(.long(1)), .atom(.long(2)), .atom(.long(3))]))) == nil)
        // An id that is a list, or that does not end within the prefix read.
        #expect(layout(ReplyAssembly.servantResult(id: .list([.atom(.long(1))]), result: .atom(.long(2)))) == nil)
        let longID = ReplyAssembly.servantResult(id: .string(String(repeating: "x", count: 100)), result: .atom(.long(2)))
        #expect(layout(longID, prefix: 50) == nil)
        #expect(layout(longID) != nil)
        // Not a general list; too short.
        #expect(layout(QIPC.encode(.vector(.long([1, 2])))) == nil)
        #expect(layout(Array(plain.prefix(10))) == nil)
    }
}
