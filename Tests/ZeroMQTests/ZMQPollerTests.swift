import Foundation
import Testing
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

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

    @Test func aSocketThatFoundNothingWakesThePollWhenAMessageArrives() throws {
        try withSocketPair(.pull, .push) { pull, push in
            var poller = ZMQPoller()
            let index = poller.add(pull)
            // A receive that finds nothing: the poll may look at the socket's descriptor alone.
            #expect(try pull.receive(dontWait: true) == nil)
            try push.send([7])
            #expect(try poller.poll(timeoutMilliseconds: 10_000) == 1)
            #expect(poller.returnedEvents(at: index) == .readable)
            #expect(try pull.receive(dontWait: true)?.bytes == [7])
            // Read to the end again, then a second message wakes it the same way.
            #expect(try pull.receive(dontWait: true) == nil)
            try push.send([8])
            #expect(try poller.poll(timeoutMilliseconds: 10_000) == 1)
            #expect(try pull.receive(dontWait: true)?.bytes == [8])
        }
    }

    @Test func aMessageWhoseSignalASendTookIsStillReported() throws {
        try withSocketPair(.dealer, .dealer) { left, right in
            var poller = ZMQPoller()
            let index = poller.add(left)
            #expect(try left.receive(dontWait: true) == nil)
            // The message's signal reaches `left`'s descriptor; then a send, over a millisecond
            // later, processes `left`'s commands and takes the signal with it.
            try right.send([1])
            Thread.sleep(forTimeInterval: 0.02)
            try left.send([2])
            let descriptor = try left.fileDescriptor
            var item = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            #expect(Glibc.poll(&item, 1, 0) == 0, "the send took the signal: the descriptor alone would sleep")
            // The poller asks a socket that was sent on before it sleeps.
            #expect(try poller.poll(timeoutMilliseconds: 10_000) == 1)
            #expect(poller.returnedEvents(at: index) == .readable)
            #expect(try left.receive(dontWait: true)?.bytes == [1])
        }
    }

    @Test func aPollWithATimeoutReturnsNothingOnlyOnceItHasPassed() throws {
        try withContext { context in
            let endpoint = uniqueInprocEndpoint()
            let router = try ZMQSocket(context: context, type: .router)
            defer { router.close() }
            try router.bind(endpoint)
            var poller = ZMQPoller()
            poller.add(router)
            #expect(try router.receive(dontWait: true) == nil)
            // A peer connecting sends the router commands but no message: its descriptor fires
            // and the poll goes on waiting.
            let connector = Thread {
                Thread.sleep(forTimeInterval: 0.05)
                guard let dealer = try? ZMQSocket(context: context, type: .dealer) else { return }
                try? dealer.connect(endpoint)
                Thread.sleep(forTimeInterval: 0.5)
                dealer.close()
            }
            let started = Date()
            connector.start()
            #expect(try poller.poll(timeoutMilliseconds: 400) == 0)
            #expect(Date().timeIntervalSince(started) >= 0.39)
        }
    }

    @Test func aSocketPolledForNothingIsNotReportedAndDoesNotWakeThePoll() throws {
        try withSocketPair(.pull, .push) { pull, push in
            var poller = ZMQPoller()
            let index = poller.add(pull, events: [])
            try push.send([1])
            #expect(try poller.poll(timeoutMilliseconds: 100) == 0)
            #expect(poller.returnedEvents(at: index).isEmpty)
            poller.setEvents(.readable, at: index)
            #expect(try poller.poll(timeoutMilliseconds: 10_000) == 1)
            #expect(try pull.receive(dontWait: true)?.bytes == [1])
        }
    }

    /// A sleep gate is told of every sleep, and told of the wake before the poll returns: a
    /// loop that lends its socket while it sleeps has it back when the poll reports.
    @Test func aSleepGateIsCalledAroundEverySleep() throws {
        final class CountingGate: ZMQSleepGate, @unchecked Sendable {
            var sleeps = 0
            var wakes = 0
            func willSleep() { sleeps += 1 }
            func didWake() { wakes += 1 }
        }
        try withSocketPair(.pull, .push) { receiver, sender throws in
            let gate = CountingGate()
            var poller = ZMQPoller()
            poller.sleepGate = gate
            _ = poller.add(receiver)
            #expect(try poller.poll(timeoutMilliseconds: 20) == 0)
            #expect(gate.sleeps >= 1)
            #expect(gate.sleeps == gate.wakes)
            try sender.send([1])
            #expect(try poller.poll(timeoutMilliseconds: 5_000) == 1)
            #expect(gate.sleeps == gate.wakes)
        }
    }
}
