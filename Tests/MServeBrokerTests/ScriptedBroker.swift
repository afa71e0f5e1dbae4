import Logging
import MServePlugin
import MServeTestSupport
import MServeTesting
import Testing
import ZeroMQ

@testable import MServeBroker

/// A broker under test over servants played by scripts (`ScriptedServant`), with a DEALER
/// client connected to its client socket.
struct ScriptedBroker {
    let broker: Broker
    /// The context of the servants and the client, for more sockets a test makes.
    let context: ZMQContext
    /// The scripted servants, in the order the broker was configured with them.
    let servants: [ScriptedServant]
    /// A DEALER connected to the broker (read it with ``answer(within:)``).
    let client: ZMQSocket
    private let running: Task<Void, any Error>

    /// Starts a broker over `count` scripted servants (liveness 60 s, servant wait 120 s), its configuration changed by `configure`,
    /// dispatching with `algorithm` (the first free servant by default) and logging to `logger`, connects the
    /// client, and runs `body`; then closes the sockets, stops the broker and waits for its end.
    /// Without a `logger`, the broker's log (debug and above, its last 400 entries) is kept, and
    /// shown with the error when `body` throws (a `#require` that failed, a wait that ran out),
    /// with each scripted servant's connection events: what the broker saw of the servants and
    /// the queries, and what became of its connections, is what tells such a failure's cause.
    static func run(
        servants count: Int,
        configure: (inout BrokerConfiguration) -> Void = { _ in },
        algorithm: @escaping @Sendable () -> any DispatchAlgorithm = { InProcessFirstFreeAlgorithm() },
        logger: Logger? = nil,
        _ body: (ScriptedBroker) async throws -> Void
    ) async throws {
        let kept = logger == nil ? LogRecorder() : nil
        let logger = logger ?? kept!.logger(label: "mserve.broker", level: .debug)
        let context = try ZMQContext()
        let servants = try (0..<count).map { _ in try ScriptedServant(context: context) }
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        configuration.servants.endpoints = servants.map(\.endpoint)
        // Scripted servants answer no heartbeat unless a test makes them (`ServantResponder`):
        // on a loaded machine a test's own steps may take longer than the default liveness,
        // and a servant declared dead midway would fail it for the wrong reason. A test of
        // liveness sets its own.
        configuration.servants.livenessTimeout = .seconds(60)
        // Likewise a query sent before its scripted servant became ready waits for it longer
        // than the default 5 s: many tests run at once, and a script's READY may come late.
        // A test of the wait sets its own.
        configuration.dispatch.servantWait = .seconds(120)
        configure(&configuration)
        let broker = try Broker(configuration: configuration, logger: logger, algorithms: { _ in algorithm() })
        let running = Task { try await broker.run() }
        let client = try ZMQSocket(context: context, type: .dealer)
        func close() {
            client.close()
            for servant in servants { servant.close() }
            broker.stop()
        }
        do {
            try client.setLinger(milliseconds: 0)
            try client.setReceiveTimeout(milliseconds: 5_000)
            try client.connect(try await broker.clientEndpoint)
            try await body(ScriptedBroker(broker: broker, context: context, servants: servants, client: client, running: running))
        } catch {
            let servantEvents = servants.enumerated().map { index, servant in
                "servant \(index) (\(servant.endpoint)):\n" + servant.connectionEvents().joined(separator: "\n")
            }
            close()
            if let kept {
                Issue.record(
                    "the broker's log:\n\(Self.lines(of: kept))\nthe scripted servants' connection events:\n\(servantEvents.joined(separator: "\n"))")
            }
            throw error
        }
        close()
        try await running.value
        context.terminate()
    }

    /// The last `limit` entries `recorder` kept, a line each: level, message, metadata.
    static func lines(of recorder: LogRecorder, limit: Int = 400) -> String {
        recorder.entries.suffix(limit).map { entry in
            let metadata = entry.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            return ([entry.level.rawValue, entry.message] + metadata).joined(separator: " ")
        }.joined(separator: "\n")
    }

    /// Runs a broker heartbeating every 100 ms with `liveness`, logging at info to `log`, over
    /// one scripted servant that has not answered yet; `body` gets the run and the servant.
    static func withOneServant(
        liveness: Duration, log: LogRecorder, _ body: (ScriptedBroker, ScriptedServant) async throws -> Void
    ) async throws {
        try await run(
            servants: 1,
            configure: {
                $0.servants.heartbeatInterval = .milliseconds(100)
                $0.servants.livenessTimeout = liveness
            },
            logger: log.logger(label: "mserve.broker", level: .info)
        ) { run in try await body(run, run.servants[0]) }
    }

    /// Runs a broker heartbeating every 100 ms (liveness 60 s), logging at info to `log`, with
    /// one scripted servant that has become ready in `incarnation`; `body` gets the run, the
    /// servant and the broker's routing id at the servant.
    static func withOneReadyServant(
        log: LogRecorder, incarnation: Int64 = 9,
        _ body: (ScriptedBroker, ScriptedServant, [UInt8]) async throws -> Void
    ) async throws {
        try await withOneServant(liveness: .seconds(60), log: log) { run, servant in
            let broker = try await servant.becomeReady(capacity: 1, incarnation: incarnation)
            try #require(await run.servantsBecomeReady(1))
            try await body(run, servant, broker)
        }
    }

    /// Sends the client's query `(id; text)`.
    func send(id: Int64, _ text: String) throws {
        try client.send(ScriptedServant.query(id: id, text))
    }

    /// The client's next answer (the whole message), nil after `timeout` (30 s by default: an
    /// answer that must come may be slow on a loaded machine); waited for without holding a
    /// thread of the concurrency pool.
    func answer(within timeout: Duration = .seconds(30)) async throws -> [UInt8]? {
        try await client.receiveFrames(within: timeout)?.last
    }

    /// Whether `count` servants become ready at the broker.
    func servantsBecomeReady(_ count: Int) async -> Bool {
        await eventually { await broker.snapshot().servants.filter { $0.state == "ready" }.count == count }
    }

    /// Waits for the broker's run to end (after `broker.stop()`).
    func ended() async throws {
        try await running.value
    }
}
