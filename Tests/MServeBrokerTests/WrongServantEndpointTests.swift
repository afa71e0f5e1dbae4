import Foundation
import Logging
import MServeProtocol
import MServeTestSupport
import MServeTesting
import POSIXSockets
import Synchronization
import Testing
import ZeroMQ

@testable import MServeBroker

/// A servant endpoint that is the wrong kind of port (an easy mix-up: a kdb+ door, another
/// broker's client endpoint) is said to be so once, with what to give instead, however often
/// the broker connects to it and greets it again; never as a servant it cannot reach.
struct WrongServantEndpointTests {
    /// A port that takes TCP connections and closes them, as a service of another protocol
    /// does: each ZeroMQ handshake fails, and libzmq connects again and again.
    @Test func aPortThatIsNotAZeroMQServantIsSaidToBeSoOnce() async throws {
        let service = try PortThatClosesWhatItAccepts()
        defer { service.stop() }
        let port = service.port
        let log = LogRecorder()
        try await Self.withBroker(servants: ["tcp://127.0.0.1:\(port)"], log: log) { broker in
            // Connected, refused and connected again.
            #expect(await eventually { service.accepted >= 3 }, "the broker connected \(service.accepted) times")
            // Never in session, it is not lost: still connecting.
            #expect(await broker.snapshot().servants.map(\.state) == ["connecting"])
            // The waits between connections have grown (1, 2, 4 s…): a few connections in the
            // next four seconds, not the several a second libzmq makes left to itself.
            let before = service.accepted
            try await Task.sleep(for: .seconds(4))
            let made = service.accepted - before
            #expect(made <= 3, "the broker connected \(made) times in four seconds")
        }
        let said = log.entries.filter { $0.message.hasPrefix("servant endpoint answered, but not as an MServe servant") }
        #expect(said.count == 1, "\(log.messages)")
        #expect(said.first?.message.contains("a q servant is given as kdb://127.0.0.1:\(port)") == true, "\(log.messages)")
        #expect(said.first?.metadata["endpoint"] == "tcp://127.0.0.1:\(port)")
        #expect(!log.messages.contains { $0.hasPrefix("cannot reach servant") }, "\(log.messages)")
    }

    /// A port that takes connections and says nothing (a service that waits for its client to
    /// speak first): said once to be no servant, or a paused one, and still connecting; the
    /// waits between connections grow as for a service that answers wrongly.
    @Test func aPortThatTakesConnectionsAndSaysNothingIsSaidToBeNoServant() async throws {
        let (listener, port) = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        let held = Mutex<[Int32]>([])
        let acceptor = RepeatingThread {
            guard let connection = TCPSocket.accept(listener) else { return Thread.sleep(forTimeInterval: 0.001) }
            held.withLock { $0.append(connection.descriptor) }
        }
        defer {
            acceptor.stop()
            for descriptor in held.withLock({ $0 }) { TCPSocket.close(descriptor) }
            TCPSocket.close(listener)
        }
        let log = LogRecorder()
        let prefix = "servant endpoint took the connection but answered nothing for the liveness time"
        try await Self.withBroker(servants: ["tcp://127.0.0.1:\(port)"], log: log, heartbeat: .milliseconds(100)) { broker in
            #expect(await eventually { held.withLock { $0.count } >= 3 }, "\(log.messages)")
            #expect(await broker.snapshot().servants.map(\.state) == ["connecting"])
        }
        let said = log.entries.filter { $0.message.hasPrefix(prefix) }
        #expect(said.count == 1, "\(log.messages)")
        #expect(said.first?.message.contains("it is not an MServe servant (another TCP service?)") == true)
        #expect(said.first?.metadata["endpoint"] == "tcp://127.0.0.1:\(port)")
        #expect(!log.messages.contains { $0.hasPrefix("connecting to servant again") }, "\(log.messages)")
    }

    /// A servant that comes up where another service answered is used: the waits between
    /// connections grow, but the broker goes on connecting.
    @Test func aServantStartedWhereAnotherServiceAnsweredIsUsed() async throws {
        let service = try PortThatClosesWhatItAccepts()
        let port = service.port
        let log = LogRecorder()
        try await Self.withBroker(servants: ["tcp://127.0.0.1:\(port)"], log: log) { _ in
            #expect(await eventually { service.accepted >= 2 })
            service.stop()
            let context = try ZMQContext()
            let servant = try ScriptedServant(context: context, endpoint: "tcp://127.0.0.1:\(port)")
            // It answers every HELLO, as a servant does: the first may come over a connection
            // libzmq made again by itself after the service's last wrong answer, which the
            // broker, reading that answer late, ends (its READY lost with it) and makes anew
            // after the next wait. The waits double with each wrong answer, up to a minute: on a
            // loaded machine, more than two may have come before the service stopped.
            let giveUp = ContinuousClock.now + .seconds(150)
            var ready = false
            while !ready, ContinuousClock.now < giveUp {
                if let frames = try await servant.socket.receiveFrames(within: .milliseconds(50)), frames.count >= 3,
                    frames[2] == ServantCommand.hello.frame
                {
                    try servant.send(to: frames[0], .ready, [ScriptedServant.readyInfo(capacity: 1, batch: nil)])
                }
                ready = log.messages.contains { $0 == "servant ready" }
            }
            #expect(ready, "\(log.messages)")
            servant.close()
            context.terminate()
        }
    }

    /// A ZeroMQ peer that takes the broker's HELLO and does not answer (a servant slow to
    /// start, some other ZeroMQ service) is greeted once a connection: the broker waits the
    /// liveness time for the answer, then connects anew, rather than greeting it each
    /// heartbeat, which gave a slow peer of another service several HELLOs a connection.
    @Test func aPeerThatDoesNotAnswerItsHelloIsNotGreetedAgainOnTheSameConnection() async throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let peer = try ScriptedServant(context: context)
        defer { peer.close() }
        let log = LogRecorder()
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        configuration.servants.endpoints = [peer.endpoint]
        configuration.servants.heartbeatInterval = .milliseconds(100)
        configuration.servants.livenessTimeout = .seconds(30)
        let broker = try Broker(configuration: configuration, logger: log.logger(label: "mserve.broker", level: .info)) { _ in
            InProcessFirstFreeAlgorithm()
        }
        let running = Task { try await broker.run() }
        defer { broker.stop() }
        _ = try await peer.next(.hello)
        // What was greeted before the connection came up arrives with it.
        try await Task.sleep(for: .seconds(1))
        while try peer.socket.receiveMultipartBytes(dontWait: true) != nil {}
        // Twenty heartbeats, well inside the liveness time.
        try await Task.sleep(for: .seconds(2))
        var greeted = 0
        while let frames = try peer.socket.receiveMultipartBytes(dontWait: true) {
            if frames.count >= 3, frames[2] == ServantCommand.hello.frame { greeted += 1 }
        }
        #expect(greeted == 0, "greeted \(greeted) times more on the same connection")
        broker.stop()
        try await running.value
    }

    /// A failed handshake read late (the loop busy, the host loaded) is of a connection that
    /// is gone: libzmq connected again by itself 100 ms later, here to a servant started where
    /// another service had answered, and the HELLO waiting in the socket reached it. That
    /// connection is kept, and the servant used on its first READY; ended for the old failure,
    /// it lost the READY and the servant, which answers a HELLO once, was never used.
    @Test func aFailedHandshakeReadLateDoesNotEndTheConnectionThatCameUpAfterIt() async throws {
        let (listener, port) = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        let endpoint = "tcp://127.0.0.1:\(port)"
        let log = LogRecorder()
        try await Self.withBroker(servants: [endpoint], log: log) { broker in
            let portFreed = Atomic<Bool>(false)
            let loopPaused = Atomic<Bool>(false)
            // The first connection is taken; once the broker has had time to greet it (the
            // HELLO waits for the ZeroMQ handshake), its loop is paused for three seconds, the
            // connection closed and the port freed for the servant.
            let acceptor = RepeatingThread {
                guard !portFreed.load(ordering: .acquiring) else { return Thread.sleep(forTimeInterval: 0.01) }
                guard let connection = TCPSocket.accept(listener) else { return Thread.sleep(forTimeInterval: 0.001) }
                Thread.sleep(forTimeInterval: 0.3)
                broker.mailbox.post(
                    .snapshot({ _ in
                        loopPaused.store(true, ordering: .releasing)
                        Thread.sleep(forTimeInterval: 3)
                    }))
                while !loopPaused.load(ordering: .acquiring) { Thread.sleep(forTimeInterval: 0.001) }
                TCPSocket.close(connection.descriptor)
                TCPSocket.close(listener)
                portFreed.store(true, ordering: .releasing)
            }
            defer { acceptor.stop() }
            #expect(await eventually { portFreed.load(ordering: .acquiring) })
            let context = try ZMQContext()
            defer { context.terminate() }
            let servant = try ScriptedServant(context: context, endpoint: endpoint)
            defer { servant.close() }
            try servant.socket.startMonitor(endpoint: "inproc://late-handshake-servant", events: [.disconnected])
            let monitor = try ZMQMonitor(context: context, endpoint: "inproc://late-handshake-servant")
            defer { monitor.socket.close() }
            let brokerID = try await servant.becomeReady(capacity: 1)
            let responder = ServantResponder(servant, broker: brokerID) { _, _ in nil }
            defer { responder.stop() }
            #expect(await eventually { log.messages.contains("servant ready") }, "\(log.messages)")
            // Ended by the broker, the connection's end would reach the servant at once.
            try await Task.sleep(for: .milliseconds(500))
            #expect(try monitor.next(dontWait: true) == nil, "the broker ended the servant's connection")
            #expect(await broker.snapshot().servants.map(\.state) == ["ready"], "\(log.messages)")
        }
        #expect(!log.messages.contains { $0.hasPrefix("servant endpoint answered, but not as an MServe servant") }, "\(log.messages)")
    }

    /// A servant endpoint whose host name this host cannot resolve (a servant registered under
    /// an `--advertise` name only its own network knows, a typo): said, with what to check,
    /// beside the `cannot reach servant` that a servant that is down gives too.
    @Test func aServantHostNameThatDoesNotResolveIsSaidToBeOne() async throws {
        let endpoint = "tcp://no-such-servant-host.invalid:5570"
        let log = LogRecorder()
        try await Self.withBroker(servants: [endpoint], log: log) { _ in
            #expect(await eventually { log.messages.contains { $0.hasPrefix("cannot reach servant: the host name") } }, "\(log.messages)")
        }
        let said = log.entries.filter { $0.message.hasPrefix("cannot reach servant: the host name") }
        #expect(said.count == 1, "\(log.messages)")
        #expect(said.first?.message.hasPrefix("cannot reach servant: the host name no-such-servant-host.invalid does not resolve (") == true)
        #expect(said.first?.message.hasSuffix("on this host; check the servant's --advertise (or this broker's --servant), or this host's resolver") == true)
        #expect(said.first?.metadata["endpoint"] == endpoint)
    }

    /// Another broker's client endpoint answers each HELLO with a HELLO (it echoes the frames
    /// in front of a message it cannot read, with its error): said once, naming the mix-up,
    /// and greeted again at growing intervals, not each heartbeat.
    @Test func anotherBrokersClientEndpointIsSaidToBeOneOnce() async throws {
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        let other = try Broker(configuration: configuration, logger: Logger(label: "mserve.other-broker")) { _ in InProcessFirstFreeAlgorithm() }
        let otherRunning = Task { try await other.run() }
        let endpoint = try await other.clientEndpoint
        let log = LogRecorder()
        try await Self.withBroker(servants: [endpoint], log: log, heartbeat: .milliseconds(100)) { _ in
            // Greeted, and answered.
            #expect(await eventually { await other.snapshot().metrics.messagesReceived >= 2 })
            #expect(await eventually { log.messages.contains { $0.contains("answered a HELLO with a HELLO") } })
            // A HELLO each heartbeat would be forty in four seconds.
            let before = await other.snapshot().metrics.messagesReceived
            try await Task.sleep(for: .seconds(4))
            let greeted = await other.snapshot().metrics.messagesReceived - before
            #expect(greeted <= 3, "the other broker was greeted \(greeted) times in four seconds")
        }
        other.stop()
        try await otherRunning.value
        let said = log.entries.filter { $0.message.contains("answered a HELLO with a HELLO") }
        #expect(said.count == 1, "\(log.messages)")
        #expect(said.first?.message.contains("likely a broker's client port") == true)
        #expect(said.first?.metadata["endpoint"] == endpoint)
        #expect(!log.messages.contains { $0.hasPrefix("dropped an unexpected HELLO") }, "\(log.messages)")
    }

    /// Runs a broker given `servants`, logging to `log`, around `body`.
    static func withBroker(
        servants: [String], log: LogRecorder, heartbeat: Duration? = nil, _ body: (Broker) async throws -> Void
    ) async throws {
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        configuration.servants.endpoints = servants
        if let heartbeat { configuration.servants.heartbeatInterval = heartbeat }
        let broker = try Broker(configuration: configuration, logger: log.logger(label: "mserve.broker", level: .info)) { _ in
            InProcessFirstFreeAlgorithm()
        }
        let running = Task { try await broker.run() }
        _ = try await broker.clientEndpoint
        do {
            try await body(broker)
        } catch {
            broker.stop()
            throw error
        }
        broker.stop()
        try await running.value
    }
}

/// A loopback port that takes TCP connections and closes them, as a service of another
/// protocol does, counting them.
final class PortThatClosesWhatItAccepts: Sendable {
    private final class Count: Sendable {
        let value = Atomic<Int>(0)
    }

    let port: Int
    private let listener: Int32
    private let count: Count
    private let acceptor: RepeatingThread

    init() throws {
        let (listener, port) = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        let count = Count()
        self.listener = listener
        self.port = port
        self.count = count
        acceptor = RepeatingThread {
            guard let connection = TCPSocket.accept(listener) else { return Thread.sleep(forTimeInterval: 0.001) }
            TCPSocket.close(connection.descriptor)
            count.value.add(1, ordering: .relaxed)
        }
    }

    /// The connections taken so far.
    var accepted: Int { count.value.load(ordering: .relaxed) }

    func stop() {
        acceptor.stop()
        TCPSocket.close(listener)
    }
}
