import Testing
import ZeroMQ

@Suite struct ZMQFramesTests {
    @Test func aMultipartMessageIsReceivedIntoOneReusableBuffer() throws {
        try withSocketPair(.router, .dealer, prepare: { try $0.setRoutingId(Array("peer".utf8)) }) { router, dealer in

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

            // The next message replaces the last one entirely, even when it is shorter.
            try dealer.send(multipart: [[9]])
            #expect(try router.receive(into: &frames))
            #expect(frames.count == 2)
            #expect(Array(frames[1]) == [9])
            #expect(Array(frames[0]) == Array("peer".utf8))

            // Nothing waiting: false, and no stale frames left behind.
            #expect(try router.receive(into: &frames, dontWait: true) == false)
            #expect(frames.count == 0)
        }
    }

    @Test func largeFramesKeepTheirOwnArraysAmongSmallOnes() throws {
        try withSocketPair(.pull, .push) { pull, push in
            let large = (0..<(ZMQFrames.largeFrameSize * 4)).map { UInt8(truncatingIfNeeded: $0 * 7) }
            let justLarge = Array(repeating: UInt8(5), count: ZMQFrames.largeFrameSize)
            let justSmall = Array(repeating: UInt8(6), count: ZMQFrames.largeFrameSize - 1)

            var frames = ZMQFrames()
            try push.send(multipart: [[1], large, [2, 3], justLarge, justSmall, []])
            #expect(try pull.receive(into: &frames))
            #expect(frames.count == 6)
            #expect(Array(frames[0]) == [1])
            #expect(Array(frames[1]) == large)
            #expect(frames.copy(of: 1) == large)
            #expect(Array(frames[2]) == [2, 3])
            #expect(frames.copy(of: 3) == justLarge)
            #expect(frames.copy(of: 4) == justSmall)
            #expect(frames[5].isEmpty)

            // Read in place, each frame's span holds the frame's bytes, small or large.
            for index in 0..<frames.count {
                let spanned = frames.withSpan(ofFrame: index) { span in span.indices.map { span[$0] } }
                #expect(spanned == frames.copy(of: index), "frame \(index)")
            }

            // A copy handed out earlier is not changed by the next message.
            let kept = frames.copy(of: 1)
            try push.send(multipart: [[9], Array(repeating: 0, count: ZMQFrames.largeFrameSize * 2)])
            #expect(try pull.receive(into: &frames))
            #expect(frames.count == 2)
            #expect(Array(frames[0]) == [9])
            #expect(frames[1].allSatisfy { $0 == 0 })
            #expect(kept == large)
        }
    }

    @Test func aLargeFrameIsTheReceivedMessageItselfAndGoesOnWithoutACopy() throws {
        try withSocketPair(.pull, .push) { pull, push in
            try withSocketPair(.pull, .push) { sink, relay in
                let large = (0..<(ZMQFrames.largeFrameSize * 3)).map { UInt8(truncatingIfNeeded: $0 * 3) }
                var frames = ZMQFrames()
                try push.send(multipart: [[1, 2], large])
                #expect(try pull.receive(into: &frames))
                #expect(!frames.isLarge(0))
                #expect(frames.isLarge(1))
                // The frame's own message, handed out as it is: the same object each time.
                let message = frames.message(at: 1)
                #expect(message === frames.message(at: 1))
                #expect(message.count == large.count)
                // A small frame comes as a new message of its own.
                #expect(frames.message(at: 0).bytes == [1, 2])
                #expect(frames.message(at: 0) !== frames.message(at: 0))

                // Sent on, the body moves to libzmq: the frame is left empty (nothing was copied).
                #expect(try relay.send(frames.message(at: 1)))
                #expect(frames.message(at: 1).count == 0)
                #expect(try sink.receiveMultipartBytes() == [large])
            }
        }
    }

    @Test func theMetadataOfAMessageWhoseLastFrameIsLargeIsRead() throws {
        try withContext { context in
            let server = try ZMQSocket(context: context, type: .router)
            let client = try ZMQSocket(context: context, type: .dealer)
            defer { server.close(); client.close() }
            try server.bind("tcp://127.0.0.1:0")
            try client.connect(try server.lastEndpoint)
            var frames = ZMQFrames()
            try client.send(Array(repeating: 1, count: ZMQFrames.largeFrameSize))
            try server.setReceiveTimeout(milliseconds: 5_000)
            #expect(try server.receive(into: &frames))
            #expect(frames.isLarge(1))
            #expect(frames.metadata("Peer-Address") == "127.0.0.1")
            #expect(frames.metadata("Socket-Type") == "DEALER")
        }
    }

    @Test func aBufferGrownByOneMessageShrinksBackWithTheNext() throws {
        try withSocketPair(.pull, .push) { pull, push in
            var frames = ZMQFrames()
            // A batch: many small frames, together far more than the buffer keeps.
            let small = Array(repeating: UInt8(1), count: ZMQFrames.largeFrameSize - 1)
            let count = 2 * ZMQFrames.retainedCapacity / small.count
            try push.send(multipart: Array(repeating: small, count: count))
            #expect(try pull.receive(into: &frames))
            #expect(frames.count == count)
            #expect(frames.bufferCapacity > ZMQFrames.retainedCapacity)

            try push.send(multipart: [[1, 2], [3]])
            #expect(try pull.receive(into: &frames))
            #expect(Array(frames[0]) == [1, 2])
            #expect(Array(frames[1]) == [3])
            #expect(frames.bufferCapacity <= ZMQFrames.retainedCapacity)

            // A buffer within the bound is kept, so small messages allocate nothing.
            let kept = frames.bufferCapacity
            try push.send(multipart: [[4, 5, 6]])
            #expect(try pull.receive(into: &frames))
            #expect(frames.bufferCapacity == kept)
        }
    }

    @Test func theFramesOfAMessageOfManyEmptyFramesAreNotKept() throws {
        try withSocketPair(.pull, .push) { pull, push in
            var frames = ZMQFrames()
            let count = 4 * ZMQFrames.retainedFrameCount
            try push.send(multipart: Array(repeating: [], count: count) + [[7]])
            #expect(try pull.receive(into: &frames))
            #expect(frames.leadingFrames == (count, 0))
            #expect(frames.frameCapacity > ZMQFrames.retainedFrameCount)

            try push.send(multipart: [[1, 2], [3]])
            #expect(try pull.receive(into: &frames))
            #expect(frames.leadingFrames == (1, 2))
            #expect(frames.size(ofFrame: 1) == 1)
            #expect(frames.frameCapacity <= ZMQFrames.retainedFrameCount)
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
