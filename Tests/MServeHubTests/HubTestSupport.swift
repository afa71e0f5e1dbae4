import Foundation
import MServeProtocol
import MServeTestSupport
import Logging
@testable import MServeHub
import POSIXSockets
import QData
import Synchronization
import Testing
import ZeroMQ

/// A hub on a free loopback port with a temporary directory, fast heartbeats and liveness.
/// Made by ``with(curve:port:_:)``, which removes the directory when the test ends.
struct HubFixture {
    let directory: String
    let endpoint: String
    var configuration: HubConfiguration
    /// What stops the hubs started from this fixture and those sharing its directory.
    private let hubs: HubStoppers

    static let heartbeat = Duration.milliseconds(300)
    /// Ten heartbeats: hub and spoke loops run on threads of their own, but a loaded machine
    /// may hold one back for a second (a 1 s liveness let a live spoke go down, or a spoke see
    /// its live hub stop answering). Tests of a silence wait for it to be noticed.
    static let liveness = Duration.seconds(3)
    /// How long a client waits for an answer that must come; a loaded machine may take seconds.
    static let answerTimeout = Duration.seconds(30)
    /// How long a client waits where no answer must come (nothing listens, or the hub drops
    /// the peer): ample for a loopback round trip, short enough to keep such tests quick.
    static let noAnswerTimeout = Duration.milliseconds(700)

    private init(directory: String, port: Int?, hubs: HubStoppers) {
        self.directory = directory
        self.endpoint = "tcp://127.0.0.1:\(port ?? LoopbackPort.free())"
        self.hubs = hubs
        configuration = HubConfiguration(
            endpoint: endpoint, directory: directory, heartbeatInterval: Self.heartbeat,
            livenessTimeout: Self.liveness, memoryStatsKept: 5)
    }

    /// Runs `body` with a fixture whose hub directory (not yet created) is in a new temporary
    /// directory, its hub a CURVE server with `curve` when given; then stops every hub started
    /// from it, waits for each to end, and removes the directory, whether `body` returns or throws.
    static func with(
        curve: ZMQCurveKeyPair? = nil, port: Int? = nil, _ body: (HubFixture) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory("mserve-hub") { parent in
            var fixture = HubFixture(directory: parent + "/hub", port: port, hubs: HubStoppers())
            fixture.configuration.curve = curve
            do {
                try await body(fixture)
            } catch {
                await fixture.hubs.stopAll()
                throw error
            }
            await fixture.hubs.stopAll()
        }
    }

    /// Another fixture, on a port of its own (`port`, else a free one), for a hub in this
    /// fixture's directory; its hubs too are stopped before the directory is removed.
    func sharingDirectory(port: Int? = nil) -> HubFixture {
        HubFixture(directory: directory, port: port, hubs: hubs)
    }

    /// Has ``with(curve:port:_:)`` run `stop` (which must return once what it stops has ended)
    /// before it removes the directory: for a hub the test started otherwise (auto mode).
    func stopBeforeRemoving(_ stop: @escaping @Sendable () async -> Void) { hubs.add(stop) }

    /// Runs `body` with a DEALER socket connected to the fixture's hub, for a test that plays
    /// the hub's protocol by hand (`configure` sets options before it connects: keys); closes it
    /// after, whether `body` returns or throws.
    func withPeerSocket(
        configure: (ZMQSocket) throws -> Void = { _ in }, _ body: (ZMQSocket) async throws -> Void
    ) async throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .dealer)
        defer {
            socket.close()
            context.terminate()
        }
        try socket.setLinger(milliseconds: 0)
        try configure(socket)
        try socket.connect(endpoint)
        try await body(socket)
    }

    /// Starts a hub; returns it and the task running it.
    func startHub(logger: Logger = quietLogger) async throws -> (Hub, Task<Void, any Error>) {
        let hub = try Hub(configuration: configuration, logger: logger)
        let task = Task { try await hub.run() }
        stopBeforeRemoving {
            hub.stop()
            _ = await task.result
        }
        _ = try await hub.endpoint
        return (hub, task)
    }

    /// Starts a spoke agent of `service` with `role`, serving `port`, logging to `logger`.
    func startSpoke(
        service: String = "dev", role: String = SpokeRole.servant, port: Int32 = 40_000, logger: Logger = quietLogger
    ) async throws -> (SpokeAgent, Task<Void, any Error>) {
        let agent = try SpokeAgent(
            hub: endpoint,
            registration: .current(port: port, threads: 2, service: service, role: role, endpoint: "tcp://*:\(port)"),
            heartbeatInterval: Self.heartbeat, livenessTimeout: Self.liveness, logger: logger)
        let task = Task { try await agent.run() }
        return (agent, task)
    }

    /// A spoke started by ``startSpoke(service:role:port:logger:)`` and registered: its agent,
    /// the task running it and its spoke id.
    typealias RegisteredSpoke = (agent: SpokeAgent, task: Task<Void, any Error>, id: Int64)

    /// Starts a hub heartbeating every 200 ms with a 2 s liveness, logging to `logger`, and a
    /// registered spoke serving each of `ports`: for tests of what the hub does as spokes go
    /// silent or leave.
    mutating func startFastHub(
        logger: Logger, spokesServing ports: [Int32]
    ) async throws -> (hub: Hub, task: Task<Void, any Error>, spokes: [RegisteredSpoke]) {
        configuration.heartbeatInterval = .milliseconds(200)
        configuration.livenessTimeout = .seconds(2)
        let (hub, hubTask) = try await startHub(logger: logger)
        var spokes: [RegisteredSpoke] = []
        for port in ports {
            let (agent, task) = try await startSpoke(port: port)
            spokes.append((agent, task, try await agent.waitUntilRegistered(timeout: .seconds(15))))
        }
        return (hub, hubTask, spokes)
    }

    /// A client of the hub that sends the admin token of its directory (read once the hub
    /// started) with the commands that edit, as the operator's commands do.
    var client: HubClient {
        var client = plainClient
        client.adminToken = HubAdminToken.read(directory: directory)
        return client
    }

    /// A client of the hub without its admin token: any peer that reaches the port.
    var plainClient: HubClient { HubClient(endpoint: endpoint, timeout: Self.answerTimeout) }

    /// A client of the hub, with its admin token, that gives up after ``noAnswerTimeout``: for
    /// a check that no answer comes.
    var impatientClient: HubClient {
        var impatient = client
        impatient.timeout = Self.noAnswerTimeout
        return impatient
    }

    /// Runs `body` with a started hub secured by a new key pair (given to `body`; the hub's own
    /// key, the one that may allow and revoke), then stops the hub and waits for it to end.
    /// `liveness`, when given, replaces the fixture's short one.
    static func withSecuredHub(
        liveness: Duration? = nil, _ body: (HubFixture, ZMQCurveKeyPair) async throws -> Void
    ) async throws {
        let hubKeys = try ZMQCurveKeyPair.generate()
        try await with(curve: hubKeys) { fixture in
            var fixture = fixture
            if let liveness { fixture.configuration.livenessTimeout = liveness }
            let (hub, task) = try await fixture.startHub()
            try await body(fixture, hubKeys)
            hub.stop()
            try await task.value
        }
    }

    /// A new key pair, allowed under `name` in `role` by the hub's own key (`hubKeys`).
    func allowedKey(_ name: String, role: KeyRole, by hubKeys: ZMQCurveKeyPair) async throws -> ZMQCurveKeyPair {
        let keys = try ZMQCurveKeyPair.generate()
        _ = try await curveClient(hubKeys).allow(name: name, key: keys.publicKey, role: role)
        return keys
    }

    /// A client speaking CURVE with `keys` to this fixture's secured hub, pinned to its key.
    func curveClient(_ keys: ZMQCurveKeyPair, timeout: Duration = Self.answerTimeout) -> HubClient {
        var client = HubClient(endpoint: endpoint, timeout: timeout)
        client.curve = ZMQCurveClientKeys(serverPublicKey: configuration.curve!.publicKey, keyPair: keys)
        return client
    }
}

/// What stops the hubs a fixture started, each run before its directory is removed.
final class HubStoppers: Sendable {
    private let stoppers = Mutex<[@Sendable () async -> Void]>([])

    func add(_ stop: @escaping @Sendable () async -> Void) { stoppers.withLock { $0.append(stop) } }

    /// Stops every hub and returns once each has ended.
    func stopAll() async {
        for stop in stoppers.withLock({ $0 }) { await stop() }
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "mserve.hub.tests")
    logger.logLevel = .critical
    return logger
}()

extension QTable {
    /// The column `name`.
    func column(_ name: String) -> QValue? {
        columns.firstIndex(of: name).map { values[$0] }
    }

    /// The number of rows.
    var rowCount: Int {
        switch values.first {
        case .vector(let vector, _)?: return vector.atoms.count
        case .list(let items, _)?: return items.count
        default: return 0
        }
    }

    /// The long column `name` (empty when missing or of another type).
    func longs(_ name: String) -> [Int64] {
        if case .vector(.long(let values), _)? = column(name) { return values }
        return []
    }

    /// The timestamp column `name`.
    func timestamps(_ name: String) -> [Int64] {
        if case .vector(.timestamp(let values), _)? = column(name) { return values }
        return []
    }

    /// The symbol column `name`.
    func symbols(_ name: String) -> [String] {
        if case .vector(.symbol(let values), _)? = column(name) { return values }
        return []
    }
}

extension HubPeerSocket {
    /// The next well-formed message within `timeout`, or nil; waited for without holding a
    /// thread of the concurrency pool (two threads on two cores, shared by every test running
    /// at once): looks without waiting, with short sleeps between.
    func receive(within timeout: Duration) async -> HubMessage? {
        let giveUp = ContinuousClock.now + timeout
        while true {
            if let message = receive() { return message }
            if ContinuousClock.now >= giveUp { return nil }
            await idle(for: .milliseconds(2))
        }
    }
}
