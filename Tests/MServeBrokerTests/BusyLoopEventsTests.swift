import Foundation
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Synchronization
import Testing
import ZeroMQ

@testable import MServeBroker

/// While queries flow, the broker's loop reads its client and servant sockets for several turns
/// between polls, and leaves the client socket out of the poll while saturated; its mailbox
/// (snapshots, servants added or removed by the hub) and its connection monitor (servants
/// connecting and going) must still be heard, however long the flow lasts.
struct BusyLoopEventsTests {
    @Test func aBrokerUnderSteadyLoadStillHearsItsMailboxAndItsConnectionMonitor() async throws {
        try await ScriptedBroker.run(servants: 2) { run in
            let (worker, other) = (run.servants[0], run.servants[1])
            let workerBroker = try await worker.becomeReady(capacity: 4)
            // A servant of another function: no query goes to it.
            _ = try await other.becomeReady(capacity: 1, functions: ["other"])
            #expect(await run.servantsBecomeReady(2))

            let responder = ServantResponder(worker, broker: workerBroker) { _, message in
                guard case .list(let items, _) = try? QIPC.decode(message).value, let id = items.first else { return nil }
                return QIPC.encode(.list([id, .atom(.long(2))]), messageType: .async)
            }
            defer { responder.stop() }
            let load = try SteadyLoad(context: run.context, broker: try await run.broker.clientEndpoint, inFlight: 8)
            defer { load.stop() }

            // The flow is on: answers keep coming.
            #expect(await eventually { load.answered > 200 }, "no steady flow of answers")
            // The mailbox: snapshots are answered while it flows.
            let before = await run.broker.snapshot().answered
            #expect(await eventually { await run.broker.snapshot().answered > before + 100 })
            // The monitor: a servant whose connection ends under load is lost.
            other.close()
            #expect(await eventually { await run.broker.snapshot().servants.last?.state == "lost" })
            // The mailbox again: a servant the hub removes goes.
            run.broker.removeServant(endpoint: other.endpoint)
            #expect(await eventually { await run.broker.snapshot().servants.map(\.endpoint) == [worker.endpoint] })
            let answered = load.answered
            #expect(await eventually { load.answered > answered + 100 }, "the flow stopped")
        }
    }
}

/// A client on a thread of its own that keeps `inFlight` queries at the broker, sending one
/// for each answer, until stopped.
private final class SteadyLoad: Sendable {
    private final class Counter: Sendable {
        let value = Mutex(0)
    }

    private let thread: RepeatingThread
    private let counter: Counter
    private let closeSocket: @Sendable () -> Void

    /// The answers received so far.
    var answered: Int { counter.value.withLock { $0 } }

    init(context: ZMQContext, broker: String, inFlight: Int) throws {
        let socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.connect(broker)
        for id in 0..<inFlight { try socket.send(ScriptedServant.query(id: Int64(id), "twice 1")) }
        var poller = ZMQPoller()
        _ = poller.add(socket)
        nonisolated(unsafe) let client = socket
        let counter = Counter()
        self.counter = counter
        thread = RepeatingThread {
            guard (try? poller.poll(timeoutMilliseconds: 10)) ?? 0 > 0 else { return }
            while (try? client.receiveMultipartBytes(dontWait: true)) != nil {
                let sent = counter.value.withLock { count in
                    count += 1
                    return count
                }
                _ = try? client.send(ScriptedServant.query(id: Int64(sent), "twice 1"))
            }
        }
        closeSocket = { client.close() }
    }

    /// Stops the client and closes its socket.
    func stop() {
        thread.stop()
        closeSocket()
    }
}
