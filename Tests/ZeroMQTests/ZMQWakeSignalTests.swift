import Foundation
import Testing
import ZeroMQ

@Suite struct ZMQWakeSignalTests {
    @Test func signalMakesTheDescriptorReadableUntilDrained() throws {
        let wake = try ZMQWakeSignal()
        defer { wake.close() }
        var poller = ZMQPoller()
        poller.add(fileDescriptor: wake.fileDescriptor)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)

        wake.signal()
        wake.signal()
        #expect(try poller.poll(timeoutMilliseconds: 0) == 1)
        wake.drain()
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        wake.drain()
    }

    @Test func signalsFromManyThreads() throws {
        let wake = try ZMQWakeSignal()
        defer { wake.close() }
        DispatchQueue.concurrentPerform(iterations: 100) { _ in wake.signal() }
        var poller = ZMQPoller()
        poller.add(fileDescriptor: wake.fileDescriptor)
        #expect(try poller.poll(timeoutMilliseconds: -1) == 1)
    }

    @Test func closeIsIdempotentAndLaterSignalsDoNothing() throws {
        let wake = try ZMQWakeSignal()
        wake.close()
        wake.close()
        wake.signal()
        wake.drain()
    }
}
