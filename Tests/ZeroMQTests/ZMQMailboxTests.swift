import Foundation
import Testing
import ZeroMQ

@Suite struct ZMQMailboxTests {
    @Test func commandsComeOutInOrderAndTheDescriptorIsReadableWhileAnyWait() throws {
        let mailbox = try ZMQMailbox<Int>()
        defer { mailbox.close() }
        var poller = ZMQPoller()
        poller.add(fileDescriptor: mailbox.wakeSignal.fileDescriptor)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        for n in 1...3 { #expect(mailbox.post(n)) }
        #expect(try poller.poll(timeoutMilliseconds: 0) == 1)
        #expect(mailbox.takeAll() == [1, 2, 3])
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        mailbox.post(4)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 1)
        #expect(mailbox.takeAll() == [4])
    }

    /// Only the post that finds the mailbox empty signals; a loop that sleeps in poll between
    /// takes must still never sleep on a waiting command.
    @Test func aLoopPollingBetweenTakesMissesNoPostFromManyThreads() throws {
        let mailbox = try ZMQMailbox<Int>()
        defer { mailbox.close() }
        let producers = 4
        let perProducer = 5_000
        for producer in 0..<producers {
            Thread {
                for n in 0..<perProducer { mailbox.post(producer * perProducer + n) }
            }.start()
        }
        var poller = ZMQPoller()
        poller.add(fileDescriptor: mailbox.wakeSignal.fileDescriptor)
        var taken: [Int] = []
        while taken.count < producers * perProducer {
            // A lost wake-up leaves commands waiting behind a descriptor that never turns readable.
            guard try poller.poll(timeoutMilliseconds: 5_000) == 1 else {
                Issue.record("the loop slept with \(producers * perProducer - taken.count) command(s) not taken")
                return
            }
            taken += mailbox.takeAll()
        }
        #expect(Set(taken).count == producers * perProducer)
    }

    @Test func afterTheIntakeClosesPostsAreRefused() throws {
        let mailbox = try ZMQMailbox<Int>()
        defer { mailbox.close() }
        mailbox.post(1)
        #expect(mailbox.closeIntake() == [1])
        #expect(!mailbox.post(2))
        #expect(mailbox.takeAll().isEmpty)
    }
}
