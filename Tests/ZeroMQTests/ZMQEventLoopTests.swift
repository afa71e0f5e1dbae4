import Foundation
import Testing
import ZeroMQ

@Suite struct ZMQEventLoopTests {
    @Test func theOnePollTimeoutRoundsUpAndRespectsItsCap() {
        let now: UInt64 = 5_000_000_000
        #expect(ZMQEventLoop<Int>.pollTimeout(until: nil, now: now, atMostMilliseconds: 100) == 100)
        #expect(ZMQEventLoop<Int>.pollTimeout(until: nil, now: now, atMostMilliseconds: -1) == -1)
        #expect(ZMQEventLoop<Int>.pollTimeout(until: now, now: now, atMostMilliseconds: 100) == 0, "due: just look")
        #expect(ZMQEventLoop<Int>.pollTimeout(until: now - 1, now: now, atMostMilliseconds: -1) == 0, "overdue")
        // Rounded up, so the loop wakes after the deadline rather than just before it.
        #expect(ZMQEventLoop<Int>.pollTimeout(until: now + 1, now: now, atMostMilliseconds: 100) == 1)
        #expect(ZMQEventLoop<Int>.pollTimeout(until: now + 20_000_000, now: now, atMostMilliseconds: 100) == 21)
        #expect(ZMQEventLoop<Int>.pollTimeout(until: now + 5_000_000_000, now: now, atMostMilliseconds: 100) == 100)
        #expect(ZMQEventLoop<Int>.pollTimeout(until: now + 5_000_000_000, now: now, atMostMilliseconds: -1) == 5_001)
    }

    @Test func aPollReturnsThePostedCommandsAndTellsWhichSocketIsReadable() throws {
        let mailbox = try ZMQMailbox<String>()
        defer { mailbox.close() }
        try withSocketPair(.pair, .pair) { bound, connecting in
            let loop = ZMQEventLoop(mailbox: mailbox)
            let item = loop.add(bound)
            mailbox.post("first")
            mailbox.post("second")
            #expect(try loop.poll(now: 0, atMostMilliseconds: 5_000) == ["first", "second"])
            #expect(!loop.isReadable(item))
            try connecting.send(Array("hello".utf8))
            #expect(try loop.poll(now: 0, atMostMilliseconds: 5_000) == [])
            #expect(loop.isReadable(item))
            #expect(loop.returnedEvents(item).contains(.readable))
        }
    }

    @Test func aTurnsOwnItemsComeAfterTheRegisteredOnesAndGoAtTheNextTurn() throws {
        let mailbox = try ZMQMailbox<Int>()
        defer { mailbox.close() }
        let signal = try ZMQWakeSignal()
        defer { signal.close() }
        let loop = ZMQEventLoop(mailbox: mailbox)
        signal.signal()
        var index = -1
        _ = try loop.poll(now: 0, atMostMilliseconds: 5_000) { items in
            index = items.add(fileDescriptor: signal.fileDescriptor)
        }
        #expect(index == 1, "after the mailbox")
        #expect(loop.pollSet.returnedEvents(at: index).contains(.readable))
        _ = try loop.poll(now: 0, atMostMilliseconds: 0)
        #expect(loop.pollSet.count == 1, "the turn's own item is gone")
    }

    @Test func aTimerFiresWhenDueAndIsArmedAgainFromThen() throws {
        let mailbox = try ZMQMailbox<Int>()
        defer { mailbox.close() }
        let loop = ZMQEventLoop(mailbox: mailbox)
        let timer = loop.addTimer(dueAt: 100)
        #expect(!loop.fire(timer, now: 99, thenEvery: 50))
        #expect(loop.fire(timer, now: 120, thenEvery: 50))
        #expect(loop.due(timer) == 170)
        #expect(!loop.fire(timer, now: 150, thenEvery: 50))
        #expect(loop.fire(timer, now: 170, thenEvery: nil))
        #expect(loop.due(timer) == nil)
        #expect(!loop.fire(timer, now: .max, thenEvery: nil), "a disarmed timer never fires")
        loop.schedule(timer, at: 10)
        #expect(loop.fire(timer, now: 10, thenEvery: nil))
    }

    /// With no item ready and no cap on the wait, only the timer can end the poll.
    @Test func aDueTimerEndsAnUncappedPoll() throws {
        let mailbox = try ZMQMailbox<Int>()
        defer { mailbox.close() }
        let loop = ZMQEventLoop(mailbox: mailbox)
        let start = DispatchTime.now().uptimeNanoseconds
        let timer = loop.addTimer(dueAt: start + 10_000_000)
        #expect(try loop.poll(now: start, atMostMilliseconds: -1) == [])
        #expect(loop.fire(timer, now: DispatchTime.now().uptimeNanoseconds, thenEvery: nil))
    }

    @Test func theStateGoesFromRunningThroughDrainingToStopped() throws {
        let mailbox = try ZMQMailbox<Int>()
        defer { mailbox.close() }
        let loop = ZMQEventLoop(mailbox: mailbox)
        #expect(loop.state == .running)
        #expect(!loop.drainTimedOut(now: .max), "a running loop has no drain deadline")
        #expect(loop.beginDraining(within: .seconds(2), now: 1_000))
        #expect(loop.state == .draining)
        #expect(loop.drainDeadline == 2_000_001_000)
        #expect(!loop.beginDraining(within: .seconds(9), now: 5_000), "the first stop sets the deadline")
        #expect(!loop.drainTimedOut(now: 2_000_000_999))
        #expect(loop.drainTimedOut(now: 2_000_001_000))
        loop.stop()
        #expect(loop.state == .stopped)
        #expect(!loop.beginDraining(within: .seconds(2), now: 0))
    }

    @Test func touchingALoopOffItsThreadStopsTheProgram() async {
        await #expect(processExitsWith: .failure) {
            let mailbox = try ZMQMailbox<Int>()
            let loop = ZMQEventLoop(mailbox: mailbox)
            let box = UncheckedBox(loop)
            let thread = Thread { _ = box.value.addTimer() }
            thread.start()
            try await Task.sleep(for: .seconds(10))
        }
    }
}

/// Hands a non-Sendable value to another thread, as a bug would.
private final class UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
