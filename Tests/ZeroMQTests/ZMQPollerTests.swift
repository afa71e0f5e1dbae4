import Foundation
import Testing
import ZeroMQ

@Suite struct ZMQPollerTests {
    @Test func pollsTwoSocketsAndAWakeSignal() throws {
        try withContext { context in
            let firstEndpoint = uniqueInprocEndpoint("first")
            let secondEndpoint = uniqueInprocEndpoint("second")
            let first = try ZMQSocket(context: context, type: .pull)
            let second = try ZMQSocket(context: context, type: .pull)
            let firstSender = try ZMQSocket(context: context, type: .push)
            let secondSender = try ZMQSocket(context: context, type: .push)
            defer { first.close(); second.close(); firstSender.close(); secondSender.close() }
            try first.bind(firstEndpoint)
            try second.bind(secondEndpoint)
            try firstSender.connect(firstEndpoint)
            try secondSender.connect(secondEndpoint)
            let wake = try ZMQWakeSignal()
            defer { wake.close() }

            var poller = ZMQPoller()
            let firstIndex = poller.add(first)
            let secondIndex = poller.add(second)
            let wakeIndex = poller.add(fileDescriptor: wake.fileDescriptor)
            #expect(poller.count == 3)

            #expect(try poller.poll(timeoutMilliseconds: 0) == 0)

            try secondSender.send([2])
            #expect(try poller.poll(timeoutMilliseconds: -1) == 1)
            #expect(poller.returnedEvents(at: firstIndex).isEmpty)
            #expect(poller.returnedEvents(at: secondIndex) == .readable)
            #expect(try second.receive()?.bytes == [2])

            let signaller = Thread { wake.signal() }
            signaller.start()
            #expect(try poller.poll(timeoutMilliseconds: -1) == 1)
            #expect(poller.returnedEvents(at: wakeIndex).contains(.readable))
            wake.drain()

            try firstSender.send([1])
            #expect(try poller.poll(timeoutMilliseconds: -1) == 1)
            #expect(poller.returnedEvents(at: firstIndex) == .readable)
            #expect(poller.returnedEvents(at: wakeIndex).isEmpty)
        }
    }

    @Test func writableEventsAndRebuilding() throws {
        try withSocketPair(.pair, .pair) { left, right in

            var poller = ZMQPoller()
            poller.add(left, events: [.readable, .writable])
            #expect(try poller.poll(timeoutMilliseconds: 0) == 1)
            #expect(poller.returnedEvents(at: 0) == .writable)

            poller.removeAll()
            #expect(poller.count == 0)
            let index = poller.add(right)
            try left.send([1])
            #expect(try poller.poll(timeoutMilliseconds: -1) == 1)
            #expect(poller.returnedEvents(at: index) == .readable)
        }
    }

    @Test func anItemsEventsCanBeChangedInPlace() throws {
        try withSocketPair(.pair, .pair) { (left: ZMQSocket, _: ZMQSocket) throws in
            var poller = ZMQPoller()
            let index = poller.add(left)
            #expect(try poller.poll(timeoutMilliseconds: 0) == 0, "nothing to read")
            poller.setEvents([.readable, .writable], at: index)
            #expect(try poller.poll(timeoutMilliseconds: 0) == 1)
            #expect(poller.returnedEvents(at: index) == .writable)
            poller.setEvents(.readable, at: index)
            #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        }
    }

    @Test func pollingAClosedSocketFails() throws {
        try withContext { context in
            let socket = try ZMQSocket(context: context, type: .pull)
            var poller = ZMQPoller()
            poller.add(socket)
            socket.close()
            let error = #expect(throws: ZMQError.self) { try poller.poll(timeoutMilliseconds: 0) }
            #expect(error?.code == .notSocket)
        }
    }
}
