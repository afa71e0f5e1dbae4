import Testing
import ZeroMQ

@Suite struct ZMQMessageTests {
    @Test func emptyMessage() {
        let message = ZMQMessage()
        #expect(message.count == 0)
        #expect(message.bytes == [])
        #expect(message.withBytes { $0.byteCount } == 0)
        #expect(!message.more)
    }

    @Test func bytesAreCopiedIn() {
        var source: [UInt8] = [1, 2, 3, 4]
        let message = ZMQMessage(bytes: source)
        source[0] = 99
        #expect(message.count == 4)
        #expect(message.bytes == [1, 2, 3, 4])
        #expect(ZMQMessage(bytes: source[1..<3]).bytes == [2, 3])
        #expect(ZMQMessage(string: "héllo").string == "héllo")
    }

    @Test func withBytesReadsInPlace() {
        let message = ZMQMessage(bytes: Array(0..<200).map { UInt8($0) })
        let sum = message.withBytes { span in
            (0..<span.byteCount).reduce(0) { $0 + Int(span.unsafeLoad(fromByteOffset: $1, as: UInt8.self)) }
        }
        #expect(sum == (0..<200).reduce(0, +))
    }

    @Test func aMessageIsJoinedFromBytesAndRangesOfOtherMessages() {
        let source = ZMQMessage(bytes: Array(0..<100))
        let joined = ZMQMessage(joining: [.bytes([1, 2][...]), .body(source, 10..<13), .bytes([]), .body(source, 98..<100)])
        #expect(joined.bytes == [1, 2, 10, 11, 12, 98, 99])
        #expect(ZMQMessage(joining: []).count == 0)
        #expect(source.bytes(in: 97..<200) == [97, 98, 99])
        #expect(source.withBytes(in: 5..<8) { $0.byteCount } == 3)
        #expect(source.withBytes(in: 5..<8) { $0.unsafeLoad(fromByteOffset: 1, as: UInt8.self) } == 6)
    }

    @Test func copySharesTheBody() {
        let message = ZMQMessage(bytes: [5, 6, 7])
        let copy = message.copy()
        #expect(copy.bytes == [5, 6, 7])
        #expect(message.bytes == [5, 6, 7])
    }

    @Test func forwardingAReceivedMessageLeavesItEmpty() throws {
        try withContext { context in
            let inbound = uniqueInprocEndpoint("in")
            let outbound = uniqueInprocEndpoint("out")
            let source = try ZMQSocket(context: context, type: .pair)
            let relay = try ZMQSocket(context: context, type: .pair)
            let relayOut = try ZMQSocket(context: context, type: .pair)
            let sink = try ZMQSocket(context: context, type: .pair)
            defer { source.close(); relay.close(); relayOut.close(); sink.close() }
            try relay.bind(inbound)
            try source.connect(inbound)
            try sink.bind(outbound)
            try relayOut.connect(outbound)

            let payload = [UInt8](repeating: 42, count: 4096)
            try source.send(payload, more: true)
            try source.send([1])
            let frames = try #require(try relay.receiveMultipart())
            #expect(frames.count == 2)
            for (index, frame) in frames.enumerated() {
                #expect(try relayOut.send(frame, more: index == 0))
                #expect(frame.count == 0)
            }
            #expect(try sink.receiveMultipartBytes() == [payload, [1]])
        }
    }

    /// A message a send emptied takes a new body; one still holding a body lets it go first.
    @Test func aMessageIsReusedForAnotherJoinedBody() throws {
        try withSocketPair(.pair, .pair) { receiver, sender throws in
            let source = ZMQMessage(bytes: Array(0..<100))
            let message = ZMQMessage(bytes: [UInt8](repeating: 7, count: 5_000))
            message.replaceBody(joining: .bytes([1][...]), .body(source, 40..<43), .bytes([2, 3][...]))
            #expect(message.bytes == [1, 40, 41, 42, 2, 3])
            #expect(try sender.send(message))
            #expect(message.count == 0)
            message.replaceBody(joining: .bytes([][...]), .body(source, 99..<100), .bytes([9][...]))
            #expect(try sender.send(message))
            #expect(try receiver.receive()?.bytes == [1, 40, 41, 42, 2, 3])
            #expect(try receiver.receive()?.bytes == [99, 9])
            message.replaceBody(joining: .bytes([][...]), .bytes([][...]), .bytes([][...]))
            #expect(message.count == 0)
        }
    }
}
