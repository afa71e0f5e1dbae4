import Testing
import ZeroMQ

@Suite struct ZMQFramesTests {
    @Test func aMultipartMessageIsReceivedIntoOneReusableBuffer() throws {
        try withContext { context in
            let endpoint = uniqueInprocEndpoint()
            let router = try ZMQSocket(context: context, type: .router)
            let dealer = try ZMQSocket(context: context, type: .dealer)
            defer { router.close(); dealer.close() }
            try router.bind(endpoint)
            try dealer.setRoutingId(Array("peer".utf8))
            try dealer.connect(endpoint)

            var frames = ZMQFrames()
            #expect(try router.receive(into: &frames, dontWait: true) == false)
            #expect(frames.count == 0)

            try dealer.send(multipart: [[1, 2, 3], [], Array(repeating: 7, count: 300)])
            #expect(try router.receive(into: &frames))
            #expect(frames.count == 4)
            #expect(Array(frames[0]) == Array("peer".utf8))
            #expect(Array(frames[1]) == [1, 2, 3])
            #expect(frames[2].isEmpty)
            #expect(frames.copy(of: 3) == Array(repeating: 7, count: 300))
            #expect(frames.range(of: 1) == 4..<7)

            // The next message replaces the last one entirely, even when it is shorter.
            try dealer.send(multipart: [[9]])
            #expect(try router.receive(into: &frames))
            #expect(frames.count == 2)
            #expect(Array(frames[1]) == [9])
            #expect(frames.bytes == Array("peer".utf8) + [9])

            // Nothing waiting: false, and no stale frames left behind.
            #expect(try router.receive(into: &frames, dontWait: true) == false)
            #expect(frames.count == 0)
        }
    }

    @Test func receivingFromAClosedSocketThrows() throws {
        try withContext { context in
            let socket = try ZMQSocket(context: context, type: .dealer)
            socket.close()
            var frames = ZMQFrames()
            #expect(throws: ZMQError.self) { try socket.receive(into: &frames, dontWait: true) }
        }
    }
}
