import Foundation
import MServeClient
import MServeTestSupport
import POSIXSockets
import Testing
import ZeroMQ

extension IntegrationTests {
/// With `--keys`, only keys the hub allows take part, each in its role: an unknown client gets
/// no answer, an unknown or keyless servant is never used, a revoked servant is dropped by the
/// broker, and a key allowed in one role is refused in another.
@Suite struct AdmissionTests {
    @Test func anUnknownClientIsRefused() async throws {
        try await SecuredCluster.with(servantKeys: ["servant"]) { cluster in

            let allowed = try await cluster.send(keyName: "client")
            #expect(allowed.status == 0, "an allowed client: \(allowed.errors)")
            try await Self.expectRefusedAsAClient(keyName: "stranger", by: cluster)
        }
    }

    /// A query sent with `keyName`'s key gets no answer: the client gets no connection and
    /// says the broker refused its key. The broker logs the refusal with that key.
    private static func expectRefusedAsAClient(keyName: String, by cluster: SecuredCluster) async throws {
        let sent = try await cluster.send(keyName: keyName, deadline: 10, connectTimeout: 1)
        #expect(sent.status != 0, "\(keyName)'s key sent a query: \(sent.output)")
        #expect(sent.errors.contains("no connection to the broker"), "\(sent.errors)")
        #expect(sent.errors.contains("it refused this client's key"), "\(sent.errors)")
        let key = try cluster.keys.publicKey(keyName)
        let logged = await eventually(timeout: .seconds(60)) {
            cluster.broker.logs.contains("refused a client: its key is not allowed as a client")
                && cluster.broker.logs.contains(key)
        }
        #expect(logged, "broker log: \(cluster.broker.logs)")
    }

    @Test func aServantServingWithAKeyNotItsOwnIsNeverUsed() async throws {
        // It reaches the hub with an allowed key, but registers another key to serve with.
        try await Self.expectTheHubRefusesARogue(
            connectingAs: ("insider", "servant"), servingWith: "stranger",
            refusal: "refused a registration naming a key other than its own")
    }

    /// Starts a secured cluster where `connectingAs.name`'s key is allowed as
    /// `connectingAs.role`; a rogue servant reaches the hub with that key and registers
    /// `servingWith`'s key to serve with. The hub must refuse it with `refusal` (logged with
    /// that key), never announce it, and no query may reach it.
    private static func expectTheHubRefusesARogue(
        connectingAs: (name: String, role: String), servingWith: String, refusal: String
    ) async throws {
        try await SecuredCluster.with(servantKeys: ["servant"], extraAllowed: [connectingAs]) { cluster in
            let rogue = try RogueServant(
                hub: cluster.hub.endpoint, hubKeys: try cluster.hubKeys(connectingAs.name),
                serverKeys: try cluster.keys.keyPair(servingWith))
            defer { rogue.stop() }
            let servedKey = try cluster.keys.publicKey(servingWith)
            let refused = await eventually {
                cluster.hub.logs.contains(refusal) && cluster.hub.logs.contains(servedKey)
            }
            #expect(refused, "hub log: \(cluster.hub.logs)")
            try await cluster.expectQueriesAvoid(rogue)
            #expect(!cluster.broker.logs.contains(rogue.endpoint), "the hub announced the rogue: \(cluster.broker.logs)")
        }
    }

    @Test func aRogueServantWithoutAKeyNeverReceivesAQuery() async throws {
        try await SecuredCluster.with(servantKeys: ["servant"], extraAllowed: [("insider", "servant")]) { cluster in
            let rogue = try RogueServant(
                hub: cluster.hub.endpoint, hubKeys: try cluster.hubKeys("insider"), serverKeys: nil)
            defer { rogue.stop() }
            let refused = await eventually {
                cluster.broker.logs.contains("refused a servant: it has no CURVE key")
                    && cluster.broker.logs.contains(rogue.endpoint)
            }
            #expect(refused, "broker log: \(cluster.broker.logs)")
            try await cluster.expectQueriesAvoid(rogue)
        }
    }

    @Test func aRevokedServantIsDropped() async throws {
        try await Self.expectServantOneDropped(logging: "dropped a servant: its key was revoked") { _ in
            ["hub", "revoke", "servant-one"]
        }
    }

    /// Starts a secured cluster with servants `servant-one` and `servant-two`, runs the `mserve`
    /// command that `command` makes (given the cluster; the keys and hub options are added) to
    /// take `servant-one`'s key out of the servant role, and checks that the broker logs
    /// `message` with that key and from then on sends every query to `servant-two`.
    private static func expectServantOneDropped(
        logging message: String, after command: (SecuredCluster) throws -> [String]
    ) async throws {
        try await SecuredCluster.with(servantKeys: ["servant-one", "servant-two"]) { cluster in
            let client = try cluster.client()
            defer { client.close() }
            let droppedPort = SecuredCluster.port(cluster.servants[0].endpoint)
            let keptPort = SecuredCluster.port(cluster.servants[1].endpoint)

            let run = try await CommandRun.mserve(
                try command(cluster) + ["--keys", cluster.keys.path, "--hub", cluster.hub.endpoint])
            #expect(run.status == 0, "\(run.errors)")
            let droppedKey = try cluster.keys.publicKey("servant-one")
            let dropped = await eventually(timeout: .seconds(60)) {
                cluster.broker.logs.contains(message) && cluster.broker.logs.contains(droppedKey)
            }
            #expect(dropped, "broker log: \(cluster.broker.logs)")
            var ports: Set<String> = []
            for _ in 0..<6 {
                async let one = client.send("sleep 20")
                async let two = client.send("sleep 20")
                for reply in [try await one, try await two] { ports.insert(SecuredCluster.port(reply.servant ?? "")) }
            }
            #expect(ports == [keptPort], "dropped servant on port \(droppedPort)")
        }
    }

    @Test func aRevokedClientIsNoLongerAnsweredOnTheConnectionItHas() async throws {
        try await SecuredCluster.with(servantKeys: ["servant"]) { cluster in
            let client = try cluster.client(deadline: .seconds(2))
            defer { client.close() }
            #expect(try await client.send("echo 1").servant != nil, "answered before the revoke")

            try await cluster.mserve(["hub", "revoke", "client"])
            // At the broker's next refresh of the list, the connection's next query is answered
            // with an error saying why, once …
            let told = await eventually(timeout: .seconds(60)) {
                do {
                    _ = try await client.send("echo 1")
                    return false
                } catch let error as ClientError {
                    return error.code == .queryFailed && error.message.contains("key is no longer allowed")
                } catch {
                    return false
                }
            }
            #expect(told, "broker log: \(cluster.broker.logs)")
            // … and from then on nothing is answered.
            for _ in 0..<2 {
                await #expect {
                    _ = try await client.send("echo 1")
                } throws: { error in
                    (error as? ClientError)?.code == .deadlineExceeded
                }
            }
            let key = try cluster.keys.publicKey("client")
            #expect(cluster.broker.logs.contains("refused a message from a client whose key is no longer allowed as a client"))
            #expect(cluster.broker.logs.contains(key), "broker log: \(cluster.broker.logs)")
        }
    }

    @Test func aServantStopsServingABrokerWhoseKeyIsRevoked() async throws {
        try await SecuredCluster.with(servantKeys: ["servant"]) { cluster in
            let client = try cluster.client(deadline: .seconds(2))
            defer { client.close() }
            #expect(try await client.send("echo 1").servant != nil, "served before the revoke")

            try await cluster.mserve(["hub", "revoke", "broker"])
            let brokerKey = try cluster.keys.publicKey("broker")
            let dropped = await eventually(timeout: .seconds(60)) {
                cluster.servants[0].logs.contains("dropped a message from a peer whose key is no longer allowed")
                    && cluster.servants[0].logs.contains(brokerKey)
            }
            #expect(dropped, "servant log: \(cluster.servants[0].logs)")
            // From the servant's refresh on, no query of the broker's is served: the queries the
            // broker sends after it are answered only with errors (the deadline), never a result.
            for _ in 0..<3 {
                await #expect(throws: ClientError.self) { _ = try await client.send("echo 1") }
            }
        }
    }

    @Test func plaintextPeersAtTheSecuredBrokerAndHubAreLoggedAndCounted() async throws {
        let http = (hub: LoopbackPort.free(), broker: LoopbackPort.free())
        try await SecuredCluster.with(servantKeys: [], http: http) { cluster in
            let sent = try await CommandRun.mserve(
                ["send", "--broker", cluster.broker.endpoint, "--deadline", "2", "--connect-timeout", "1", "echo 1"])
            #expect(sent.status != 0, "\(sent.output)")
            let spokes = try await CommandRun.mserve(["hub", "spokes", "--hub", cluster.hub.endpoint, "--timeout", "1"])
            #expect(spokes.status != 0, "\(spokes.output)")
            // Which side sees the mismatch first varies: the refusal says why, in either case.
            let refusal = "refused a peer: its handshake failed: "
            let logged = await eventually(timeout: .seconds(60)) {
                cluster.broker.logs.contains(refusal) && cluster.broker.logs.contains("door=clients")
                    && cluster.hub.logs.contains(refusal) && cluster.hub.logs.contains("door=hub")
            }
            #expect(logged, "broker log: \(cluster.broker.logs)\nhub log: \(cluster.hub.logs)")
            // And counted, for alerts: the failed handshakes, then a key the broker does not allow.
            try await Self.expectRefusedAsAClient(keyName: "stranger", by: cluster)
            let counted = try await eventually(timeout: .seconds(30)) {
                let broker = try await MonitoringTests.get(http.broker, "/metrics").body
                let hub = try await MonitoringTests.get(http.hub, "/metrics").body
                return Self.count(in: broker, #"mserve_broker_refused_peers_total{service="default",reason="handshake"}"#) >= 1
                    && Self.count(in: broker, #"mserve_broker_refused_peers_total{service="default",reason="key"}"#) >= 1
                    && Self.count(in: hub, #"mserve_hub_refused_total{reason="handshake"}"#) >= 1
            }
            let page = (try? await MonitoringTests.get(http.broker, "/metrics").body) ?? ""
            #expect(counted, "broker: \(page)")
        }
    }

    /// The value of the sample `series` (name and labels as printed) in a `/metrics` page; 0 when absent.
    private static func count(in page: String, _ series: String) -> Double {
        page.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    @Test func roleSeparatedKeysAnswerQueries() async throws {
        try await SecuredCluster.with(servantKeys: ["servant"]) { cluster in
            let sent = try await cluster.send(keyName: "client")
            #expect(sent.status == 0, "\(sent.errors)")
            #expect(sent.output.contains("1"), "\(sent.output)")
            let listed = try await CommandRun.mserve(["hub", "keys", "--keys", cluster.keys.path, "--hub", cluster.hub.endpoint])
            #expect(listed.status == 0, "\(listed.errors)")
            for (name, role) in [("broker", "broker"), ("client", "client"), ("servant", "servant")] {
                let line = "\(name)\t\(try cluster.keys.publicKey(name))\t\(role)"
                #expect(listed.output.contains(line), "\(listed.output)")
            }
        }
    }

    @Test func theHubsTablesAreReadWithAnAllowedKeyAndRefusedWithout() async throws {
        try await SecuredCluster.with(servantKeys: ["servant"]) { cluster in
            let hub = ["--hub", cluster.hub.endpoint, "--timeout", "1"]
            let spokes = try await CommandRun.mserve(["hub", "spokes", "--keys", cluster.keys.path] + hub)
            #expect(spokes.status == 0, "\(spokes.errors)")
            #expect(spokes.output.contains("servant"), "\(spokes.output)")
            let resolved = try await CommandRun.mserve(["hub", "resolve", "default", "--keys", cluster.keys.path] + hub)
            #expect(resolved.status == 0, "\(resolved.errors)")
            #expect(resolved.output.contains(cluster.servants[0].endpoint), "\(resolved.output)")
            // Without a key the secured hub does not answer; with a key it does not hold, a usage error.
            let keyless = try await CommandRun.mserve(["hub", "spokes"] + hub)
            #expect(keyless.status == 1)
            let unknown = try await CommandRun.mserve(["hub", "spokes", "--keys", cluster.keys.path, "--key-name", "nobody"] + hub)
            #expect(unknown.status == 64)
            #expect(unknown.errors.contains("--keys:"), "\(unknown.errors)")
        }
    }

    @Test func aClientKeyRegisteringAsAServantIsRefusedAndNeverQueried() async throws {
        // It connects to the hub with its own key, allowed as a client, and registers that key.
        try await Self.expectTheHubRefusesARogue(
            connectingAs: ("insider", "client"), servingWith: "insider",
            refusal: "refused a registration as a servant: its key's role is client")
    }

    @Test func aServantKeyCannotSendQueriesToTheBroker() async throws {
        try await SecuredCluster.with(servantKeys: ["servant"]) { cluster in
            try await Self.expectRefusedAsAClient(keyName: "servant", by: cluster)
        }
    }

    @Test func aServantWhoseKeyBecomesAClientKeyIsDropped() async throws {
        try await Self.expectServantOneDropped(
            logging: "dropped a servant: its key was revoked or is no longer allowed as a servant"
        ) { cluster in
            ["hub", "allow", "servant-one", cluster.keys.publicKeyPath("servant-one"), "--role", "client"]
        }
    }

    @Test func anUnknownRoleIsAClearError() async throws {
        try await SecuredCluster.with(servantKeys: []) { cluster in
            let allow = try await CommandRun.mserve(
                [
                    "hub", "allow", "odd", cluster.keys.publicKeyPath("stranger"), "--role", "admin",
                    "--keys", cluster.keys.path, "--hub", cluster.hub.endpoint,
                ])
            #expect(allow.status != 0)
            #expect(allow.errors.contains("'admin' is invalid for '--role"), "\(allow.errors)")
            let listed = try await CommandRun.mserve(["hub", "keys", "--keys", cluster.keys.path, "--hub", cluster.hub.endpoint])
            #expect(!listed.output.contains("odd"), "\(listed.output)")
        }
    }

    /// `allow` takes a public key file; a secret one (both are a Z85 line) is refused before
    /// anything is sent, so a slip of the extension cannot put a secret key on the hub.
    @Test func aSecretKeyFileIsRefusedBeforeItLeavesItsHost() async throws {
        try await SecuredCluster.with(servantKeys: []) { cluster in
            let secretKeyFile = cluster.keys.secretKeyPath("stranger")
            let allow = try await CommandRun.mserve(
                ["hub", "allow", "oops", secretKeyFile, "--keys", cluster.keys.path, "--hub", cluster.hub.endpoint])
            #expect(allow.status == 64)
            #expect(allow.errors.contains("\(secretKeyFile) is a secret key file: give the public key file"), "\(allow.errors)")
            let listed = try await CommandRun.mserve(["hub", "keys", "--keys", cluster.keys.path, "--hub", cluster.hub.endpoint])
            #expect(listed.status == 0)
            #expect(!listed.output.contains("oops"), "\(listed.output)")
        }
    }
}
}

/// A hub, servants and a broker all run with `--keys`, the hub allowing each key only in its
/// role: `broker` as broker, `client` as client and each servant's key as servant.
struct SecuredCluster {
    let directory: String
    let keys: ZMQKeyDirectory
    let hub: MServeProcess
    let servants: [MServeProcess]
    let broker: MServeProcess

    /// Runs `body` with a secured cluster in a new temporary directory, then stops its
    /// processes and removes the directory, whether `body` returns or throws. `extraAllowed`
    /// are more keys to allow, each with its role; `http`, the loopback ports of the hub's and
    /// the broker's HTTP sides (none: no HTTP side).
    static func with(
        servantKeys: [String], extraAllowed: [(name: String, role: String)] = [], http: (hub: Int, broker: Int)? = nil,
        _ body: (SecuredCluster) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory("mserve-admission") { directory in
            let keys = ZMQKeyDirectory(path: directory + "/keys")
            let allowed = [("broker", "broker"), ("client", "client")] + servantKeys.map { ($0, "servant") } + extraAllowed
            for name in ["hub", "stranger"] + allowed.map(\.0) { try keys.create(name) }
            let hub = try await MServeProcess(
                "hub",
                ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory + "/hub", "--keys", keys.path]
                    + (http.map { ["--http", "127.0.0.1:\($0.hub)"] } ?? []))
            defer { hub.stop() }
            for (name, role) in allowed {
                let run = try await CommandRun.mserve(
                    [
                        "hub", "allow", name, keys.publicKeyPath(name), "--role", role, "--keys", keys.path, "--hub",
                        hub.endpoint,
                    ])
                guard run.status == 0 else { throw TestFailure("cannot allow \(name): \(run.errors)") }
            }
            var servants: [MServeProcess] = []
            defer { for servant in servants { servant.stop() } }
            for name in servantKeys {
                servants.append(
                    try await MServeProcess(
                        name, ["servant", "--hub", hub.endpoint, "--keys", keys.path, "--key-name", name]))
            }
            let broker = try await MServeProcess(
                "broker",
                ["broker", "--clients", "tcp://127.0.0.1:0", "--hub", hub.endpoint, "--keys", keys.path, "--algorithm", "even"]
                    + (http.map { ["--http", "127.0.0.1:\($0.broker)"] } ?? []))
            defer { broker.stop() }
            let ready = await eventually { broker.logs.occurrences(of: "servant ready") >= servants.count }
            guard ready else { throw TestFailure("the servants never became ready: \(broker.logs)") }
            try await body(SecuredCluster(directory: directory, keys: keys, hub: hub, servants: servants, broker: broker))
        }
    }

    /// Keys for a connection to the hub made with the key `name`.
    func hubKeys(_ name: String) throws -> ZMQCurveClientKeys {
        ZMQCurveClientKeys(serverPublicKey: try keys.publicKey("hub"), keyPair: try keys.keyPair(name))
    }

    /// A client of the broker speaking with the `client` key.
    func client(deadline: Duration = .seconds(10)) throws -> QueryClient {
        var configuration = ClientConfiguration()
        configuration.deadline = deadline
        configuration.curve = ZMQCurveClientKeys(
            serverPublicKey: try keys.publicKey("broker"), keyPair: try keys.keyPair("client"))
        return try QueryClient(endpoint: broker.endpoint, configuration: configuration)
    }

    /// Runs `mserve ARGUMENTS --keys DIR --hub HUB`, which must succeed.
    func mserve(_ arguments: [String]) async throws {
        let run = try await CommandRun.mserve(arguments + ["--keys", keys.path, "--hub", hub.endpoint])
        guard run.status == 0 else { throw TestFailure("mserve \(arguments.joined(separator: " ")): \(run.errors)") }
    }

    /// `mserve send echo 1` with the key `keyName`, giving up after `deadline` seconds, or
    /// after `connectTimeout` seconds without a connection.
    func send(keyName: String, deadline: Int = 10, connectTimeout: Double = 5) async throws -> CommandRun {
        try await CommandRun.mserve(
            [
                "send", "--broker", broker.endpoint, "--keys", keys.path, "--key-name", keyName, "--deadline", "\(deadline)",
                "--connect-timeout", "\(connectTimeout)", "echo 1",
            ])
    }

    /// Queries are answered, none by `rogue`, and `rogue` hears nothing from the broker.
    func expectQueriesAvoid(_ rogue: RogueServant) async throws {
        let client = try client()
        defer { client.close() }
        for _ in 0..<6 {
            async let one = client.send("sleep 20")
            async let two = client.send("sleep 20")
            for reply in [try await one, try await two] {
                #expect(Self.port(reply.servant ?? "") != Self.port(rogue.endpoint))
            }
        }
        #expect(rogue.messagesReceived == 0)
        #expect(!broker.logs.contains("servant added endpoint=\(rogue.endpoint)"))
    }

    /// The port of `tcp://host:port` or `host:port`.
    static func port(_ endpoint: String) -> String { String(endpoint.split(separator: ":").last ?? "") }
}
