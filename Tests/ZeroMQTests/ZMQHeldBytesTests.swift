import Foundation
import MServeTestSupport
import Testing
import ZeroMQ

/// A countable message's bytes count while libzmq holds it, and no longer.
@Suite struct ZMQHeldBytesTests {
    @Test func aMessageQueuedForAPeerCountsUntilThePeerTakesIt() async throws {
        try await withContext { context in
            let port = 46_000 + Int.random(in: 500..<999)
            let push = try ZMQSocket(context: context, type: .push)
            let pull = try ZMQSocket(context: context, type: .pull)
            defer { push.close(); pull.close() }
            try push.setLinger(milliseconds: 0)
            // Connected to a port nothing listens on yet: the message waits in libzmq's queue.
            try push.connect("tcp://127.0.0.1:\(port)")
            let held = ZMQHeldBytes()
            let message = ZMQMessage(countableCopyOf: [UInt8](repeating: 7, count: 1_000)[...])
            #expect(message.isCountable)
            #expect(try push.send(message, dontWait: true, countingIn: held))
            #expect(message.count == 0)
            #expect(held.count == 1_000)

            try pull.bind("tcp://127.0.0.1:\(port)")
            let received = try await pull.receiveFrames(within: .seconds(60))?.first
            #expect(received == [UInt8](repeating: 7, count: 1_000))
            #expect(await eventually(timeout: .seconds(60)) { held.count == 0 })
        }
    }

    @Test func aMessageNotSentIsNotCounted() throws {
        try withContext { context in
            // A PUSH with no peer cannot queue a message.
            let push = try ZMQSocket(context: context, type: .push)
            defer { push.close() }
            let held = ZMQHeldBytes()
            let message = ZMQMessage(countableCopyOf: [1, 2, 3][...])
            #expect(try !push.send(message, dontWait: true, countingIn: held))
            #expect(held.count == 0)
            #expect(message.bytes == [1, 2, 3])
        }
    }

    @Test func aReusedCountableMessageHoldsItsNewBody() {
        let message = ZMQMessage(countableCopyOf: [1, 2][...])
        message.replaceBody(joining: .bytes([3][...]), .bytes([4, 5][...]), .bytes([6][...]), countable: true)
        #expect(message.bytes == [3, 4, 5, 6])
        #expect(message.isCountable)
        message.replaceBody(joining: .bytes([7][...]), .bytes([][...]), .bytes([][...]))
        #expect(message.bytes == [7])
        #expect(!message.isCountable)
    }
}
