import MServeProtocol
import MServeTestSupport
import MServeTesting
import POSIXSockets
import QData
import Testing

@testable import MServeBroker

/// Queries still waiting for a servant when their kdb+ door connection closes are not run:
/// nobody can read their answers, and running them held up every other client (ninety
/// `sleep 100` from closed connections delayed a new client's query by seconds).
struct KdbClosedConnectionTests {
    /// A kdb+ IPC connection to the door on `port`, its handshake answered.
    private static func loggedIn(port: Int) async throws -> Int32 {
        let descriptor = try TCPSocket.connect(address: IPv4Address.literal("127.0.0.1")!, port: port)
        TCPSocket.waitWritable(descriptor, milliseconds: 5_000)
        KdbWire.write(descriptor, Array("user\u{3}\u{0}".utf8))
        #expect(try await KdbWire.read(descriptor, count: 1).count == 1, "no capability byte")
        return descriptor
    }

    @Test func queriesQueuedFromAClosedKdbConnectionAreNotRun() async throws {
        let port = LoopbackPort.free()
        try await ScriptedBroker.run(servants: 1, configure: { $0.kdb = BrokerConfiguration.Kdb(port: port) }) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))

            let descriptor = try await Self.loggedIn(port: port)
            for n: Int64 in 1...5 {
                KdbWire.write(descriptor, QIPC.encode(.list([.atom(.long(n)), .string("twice \(n)")]), messageType: .async))
            }
            // The first runs at the servant, the other four wait; then the client goes.
            let (_, first) = try await servant.next(.query)
            #expect(await eventually { await run.broker.snapshot().queued == 4 })
            TCPSocket.close(descriptor)
            #expect(await eventually { await run.broker.snapshot().queued == 0 }, "the closed connection's queries still wait")
            #expect(await run.broker.snapshot().metrics.queries(.failed) == 4)

            // Its answer in, the servant is free, and the next query it gets is another client's.
            try servant.send(to: broker, .reply, [first[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            try run.send(id: 9, "twice 9")
            let (_, next) = try await servant.next(.query)
            try #require(next.count == 2)
            guard case .list(let items, _) = try QIPC.decode(next[1]).value else {
                Issue.record("a QUERY that is not (id; query)")
                return
            }
            #expect(items.first == .atom(.long(9)), "a query of the closed connection ran: \(items)")
        }
    }

    /// A client that sends its sync queries and closes its connection before the replies come
    /// is no news: the replies that find it gone close it quietly, not as a client that "does
    /// not read its replies" (a warning sign of a stuck client, which an alert may watch).
    @Test func aClientGoneBeforeItsRepliesIsNotSaidToNotReadThem() async throws {
        let port = LoopbackPort.free()
        let log = LogRecorder()
        try await ScriptedBroker.run(
            servants: 1, configure: { $0.kdb = BrokerConfiguration.Kdb(port: port) },
            logger: log.logger(label: "mserve.broker")
        ) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            let descriptor = try await Self.loggedIn(port: port)
            for n: Int64 in 1...5 {
                KdbWire.write(descriptor, QIPC.encode(.string("twice \(n)"), messageType: .sync))
            }
            // The first sync query reaches the servant; the client goes before its answer.
            let (_, first) = try await servant.next(.query)
            try #require(first.count == 2)
            TCPSocket.close(descriptor)
            try await Task.sleep(for: .milliseconds(100))
            try servant.send(to: broker, .reply, [first[0], ScriptedServant.answer(id: 0, .atom(.long(2)))])
            // Each query the door reads after it is answered in turn, until a reply finds the
            // connection gone.
            let until = ContinuousClock.now + .seconds(3)
            while ContinuousClock.now < until, let frames = try await servant.socket.receiveFrames(within: .seconds(1)) {
                guard frames.count == 5, frames[2] == ServantCommand.query.frame else { continue }
                try servant.send(to: broker, .reply, [frames[3], ScriptedServant.answer(id: 0, .atom(.long(2)))])
            }
            #expect(await eventually { log.messages.contains("kdb+ client disconnected") }, "\(log.messages)")
            #expect(
                log.entries.first { $0.message == "kdb+ client disconnected" }?.metadata["reason"]
                    == "closed before its replies were sent")
            #expect(!log.messages.contains("closed a kdb+ connection"), "\(log.entries.map { "\($0.message) \($0.metadata)" })")
        }
    }
}
