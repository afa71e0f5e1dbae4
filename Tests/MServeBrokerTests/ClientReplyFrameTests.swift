import MServeProtocol
import POSIXSockets
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A servant's result on its way to a client from the frame it came in: one ZeroMQ frame, or
/// the kdb+ door's pieces, byte for byte what re-framing it would give.
struct ClientReplyFrameTests {
    let timings = QueryTimings(received: 815_000_000_000_000_000, queued: 5, execution: 6, elapsed: 20)

    /// A servant's `(id; result)` in a frame, laid out, and the same reply re-framed.
    func replies(result: QValue) throws -> (ClientReplyFrame, ClientReply) {
        let message = ReplyAssembly.servantResult(id: .atom(.long(7)), result: result)
        let frame = ZMQMessage(bytes: message)
        let layout = try #require(ReplyPairLayout(prefix: message.prefix(4_096), messageCount: message.count))
        let (head, tail) = ReplyAssembly.splicedClientReply(
            id: message[layout.id], resultCount: layout.result.count, routing: "r", servant: "s:1", timings: timings)
        let spliced = ClientReplyFrame(head: head, result: .body(frame, layout.result), tail: tail)
        let sliced = ReplyAssembly.clientReply(
            try SlicedReply(bytes: message), routing: "r", servant: "s:1", timings: timings)
        return (spliced, sliced)
    }

    func joined(_ pieces: [ZMQMessagePiece]) -> [UInt8] {
        ZMQMessage(joining: pieces).bytes
    }

    @Test func theFrameAndEveryDoorFormAreTheReframedReply() throws {
        let (spliced, sliced) = try replies(result: .vector(.long(Array(0..<5_000))))
        #expect(spliced.frame().bytes == sliced.bytes)
        #expect(spliced.count == sliced.bytes.count)
        for form in [KdbReplyForm.async, .syncList, .syncBare] {
            #expect(joined(spliced.kdbPieces(form: form)) == ReplyAssembly.kdbMessage(sliced, form: form), "\(form)")
        }
    }

    /// The loop reuses the message a send emptied: it then holds the new reply, whole and alone.
    @Test func aReusedMessageHoldsTheNewReplyAlone() throws {
        let (large, _) = try replies(result: .vector(.long(Array(0..<5_000))))
        let (small, sliced) = try replies(result: .string("a small result"))
        let message = large.frame()
        let reused = small.frame(reusing: message)
        #expect(reused === message)
        #expect(reused.bytes == sliced.bytes)
    }

    /// A small reply's result is read where the loop received it: as bytes of a larger buffer
    /// it makes the same frame and door pieces, and detached it holds its own copy of them.
    @Test func aResultInTheReceiveBufferMakesTheSameReplyAndDetachesFromIt() throws {
        let (spliced, sliced) = try replies(result: .string("a small result"))
        guard case .body(let frame, let range) = spliced.result else {
            Issue.record("expected the result in the servant's frame")
            return
        }
        // The servant's message as it lies in a receive buffer, behind other frames' bytes.
        let buffer = Array(repeating: UInt8(0xAB), count: 100) + frame.bytes + [1, 2, 3]
        let received = buffer[(100 + range.lowerBound)..<(100 + range.upperBound)]
        let inBuffer = ClientReplyFrame(head: spliced.head, result: .bytes(received), tail: spliced.tail)
        #expect(inBuffer.frame().bytes == sliced.bytes)
        #expect(inBuffer.count == sliced.bytes.count)
        let detached = inBuffer.detached
        guard case .bytes(let own) = detached.result else {
            Issue.record("expected bytes")
            return
        }
        #expect(own.startIndex == 0 && own.count == received.count)
        for form in [KdbReplyForm.async, .syncList, .syncBare] {
            #expect(joined(inBuffer.kdbPieces(form: form)) == ReplyAssembly.kdbMessage(sliced, form: form), "\(form)")
            #expect(joined(detached.kdbPieces(form: form)) == ReplyAssembly.kdbMessage(sliced, form: form), "\(form)")
        }
    }

    @Test func theDoorWritesPiecesInOrderBehindAndAheadOfBytes() throws {
        let (spliced, _) = try replies(result: .vector(.long(Array(0..<300_000))))
        let (listener, port) = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { TCPSocket.close(listener) }
        let writer = try TCPSocket.connect(address: try #require(IPv4Address.literal("127.0.0.1")), port: port)
        var accepted: TCPSocket.Accepted?
        for _ in 0..<1_000 where accepted == nil {
            accepted = TCPSocket.accept(listener)
            if accepted == nil { TCPSocket.waitWritable(writer, milliseconds: 5) }
        }
        let reader = try #require(accepted).descriptor
        defer { TCPSocket.close(reader) }

        var stream = KdbStream(descriptor: writer, maxMessageSize: 1 << 30, maxBufferedOutput: 1 << 30)
        let before: [UInt8] = [1, 2, 3]
        let after: [UInt8] = [4, 5]
        let queuedBefore = stream.enqueue(before)
        let queuedPieces = stream.enqueue(pieces: spliced.kdbPieces(form: .async))
        let queuedAfter = stream.enqueue(after)
        #expect(queuedBefore && queuedPieces && queuedAfter)
        let expected = before + spliced.frame().bytes + after
        var received: [UInt8] = []
        for _ in 0..<10_000 where received.count < expected.count {
            let flushed = stream.flush()
            #expect(flushed)
            if case .closed = TCPSocket.read(reader, into: &received, limit: 1 << 20) { break }
            if stream.wantsWrite { TCPSocket.waitWritable(writer, milliseconds: 5) }
        }
        #expect(received == expected)
        #expect(!stream.wantsWrite)
        #expect(stream.bufferedOutput == 0)
        stream.close()
    }
}
