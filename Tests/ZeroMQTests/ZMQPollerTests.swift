import Testing
import ZeroMQ

struct ZMQPollerTests {
    @Test func thePollerReportsWhichSocketOrDescriptorIsReady() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let a = try ZMQSocket(context: context, type: .pair)
        let b = try ZMQSocket(context: context, type: .pair)
        defer {
            a.close()
            b.close()
        }
        try a.bind("inproc://poller-test")
        try b.connect("inproc://poller-test")
        let wake = try ZMQWakeSignal()
        defer { wake.close() }

        var poller = ZMQPoller()
        let socketIndex = poller.add(b)
        let wakeIndex = poller.add(fileDescriptor: wake.fileDescriptor)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)

        try a.send([1])
        #expect(try poller.poll(timeoutMilliseconds: 2_000) == 1)
        #expect(poller.returnedEvents(at: socketIndex).contains(.readable))
        #expect(!poller.returnedEvents(at: wakeIndex).contains(.readable))
        _ = try b.receive()

        wake.signal()
        wake.signal()
        #expect(try poller.poll(timeoutMilliseconds: 2_000) == 1)
        #expect(poller.returnedEvents(at: wakeIndex).contains(.readable))
        wake.drain()
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
    }

    @Test func aMailboxDeliversPostsFromOtherThreadsInOrder() async throws {
        let mailbox = try ZMQMailbox<Int>()
        defer { mailbox.close() }
        await withTaskGroup(of: Void.self) { group in
            for value in 0..<100 { group.addTask { mailbox.post(value) } }
        }
        var poller = ZMQPoller()
        let index = poller.add(fileDescriptor: mailbox.wakeSignal.fileDescriptor)
        #expect(try poller.poll(timeoutMilliseconds: 1_000) == 1)
        #expect(poller.returnedEvents(at: index).contains(.readable))
        #expect(Set(mailbox.takeAll()) == Set(0..<100))
        #expect(mailbox.takeAll().isEmpty)
    }
}
