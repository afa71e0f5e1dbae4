import Foundation
import MServeClient
import MServeTestSupport
import POSIXSockets
import Testing

extension IntegrationTests {
    /// The hub and kdb+: the door's users kept in the hub (`--users hub`), and q servants
    /// registered with the hub by the `mserve hub register` sidecar.
    @Suite struct HubKdbTests {
        /// A hub without keys in `directory`.
        static func startHub(directory: String) async throws -> MServeProcess {
            try await MServeProcess(
                "hub", ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory, "--liveness", "2"])
        }

        /// Whether pykx logs in as `user` with `password` and gets its queries answered.
        static func logsIn(_ python: String, port: Int, _ user: String, _ password: String) async throws -> Bool {
            let (status, _) = try await KdbDoorTests.run(
                python, "kdb_pykx_client.py", ["127.0.0.1", "\(port)", user, password])
            return status == 0
        }

        @Test func aBrokerTakesItsKdbUsersFromTheHub() async throws {
            guard let python = KdbDoorTests.requirePython() else { return }
            try await withTemporaryDirectory("mserve-hub") { hubDirectory in
                let hub = try await Self.startHub(directory: hubDirectory)
                defer { hub.stop() }
                let (cluster, port) = try await KdbDoorTests.startCluster(
                    doorArguments: ["--users", "hub", "--hub", hub.endpoint])
                defer { cluster.stop() }
                #expect(await eventually { cluster.broker.logs.contains("kdb+ users updated from the hub") })
                #expect(try await !Self.logsIn(python, port: port, "alice", "wonderland"))

                let added = try await CommandRun.mserve(
                    ["hub", "user", "add", "alice", "--password", "wonderland", "--hub", hub.endpoint, "--dir", hubDirectory])
                #expect(added.status == 0, "\(added.errors)")
                let listed = try await CommandRun.mserve(["hub", "users", "--hub", hub.endpoint])
                #expect(listed.output == "alice\tpbkdf2-sha256\n")

                #expect(try await eventually(timeout: .seconds(60)) { try await Self.logsIn(python, port: port, "alice", "wonderland") })
                #expect(try await !Self.logsIn(python, port: port, "alice", "guess"))

                let removed = try await CommandRun.mserve(["hub", "user", "remove", "alice", "--hub", hub.endpoint, "--dir", hubDirectory])
                #expect(removed.status == 0, "\(removed.errors)")
                #expect(try await eventually(timeout: .seconds(60)) { try await !Self.logsIn(python, port: port, "alice", "wonderland") })
            }
        }

        /// With `--users hub`, wrong passwords sent in a loop from one address take at most
        /// their address's share of the password checks: users logging in from another
        /// address, none of them logged in before, still get in (Tests/Interop/kdb_login_flood.py).
        @Test func aFloodOfWrongPasswordsFromOneAddressLocksNoOtherAddressOut() async throws {
            guard let python = KdbDoorTests.requirePython() else { return }
            try await withTemporaryDirectory("mserve-hub") { hubDirectory in
                let hub = try await Self.startHub(directory: hubDirectory)
                defer { hub.stop() }
                for (user, password) in [("alice", "wonderland"), ("bob", "builder"), ("carol", "singer"), ("dave", "digger")] {
                    let added = try await CommandRun.mserve(
                        ["hub", "user", "add", user, "--password", password, "--hub", hub.endpoint, "--dir", hubDirectory])
                    #expect(added.status == 0, "\(added.errors)")
                }
                let (cluster, port) = try await KdbDoorTests.startCluster(
                    doorArguments: ["--users", "hub", "--hub", hub.endpoint])
                defer { cluster.stop() }
                #expect(await eventually { cluster.broker.logs.contains("kdb+ users updated from the hub") })
                let (status, text) = try await KdbDoorTests.run(
                    python, "kdb_login_flood.py", ["127.0.0.1", "\(port)", "alice", "bob:builder", "carol:singer", "dave:digger"])
                #expect(status == 0, "\(text)")
                #expect(text.contains("all checks passed"), "\(text)")
                #expect(cluster.broker.isRunning, "the broker died")
            }
        }

        /// A user removed from the hub loses the connections it already has, not only new
        /// logins: a pykx client served on its open handle is cut within the refresh. So is a
        /// user whose password changed; a user left alone is served on.
        @Test func aUserRemovedFromTheHubLosesItsOpenConnections() async throws {
            guard let python = KdbDoorTests.requirePython() else { return }
            try await withTemporaryDirectory("mserve-hub") { hubDirectory in
                let hub = try await Self.startHub(directory: hubDirectory)
                defer { hub.stop() }
                let (cluster, port) = try await KdbDoorTests.startCluster(
                    doorArguments: ["--users", "hub", "--hub", hub.endpoint])
                defer { cluster.stop() }
                for (user, password) in [("alice", "wonderland"), ("bob", "builder"), ("carol", "hopper")] {
                    let added = try await CommandRun.mserve(
                        ["hub", "user", "add", user, "--password", password, "--hub", hub.endpoint, "--dir", hubDirectory])
                    #expect(added.status == 0, "\(added.errors)")
                }
                #expect(try await eventually(timeout: .seconds(60)) { try await Self.logsIn(python, port: port, "alice", "wonderland") })

                try await withTemporaryDirectory("mserve-held") { directory in
                    func hold(_ user: String, _ password: String) -> Task<(Int32, String), any Error> {
                        Task {
                            try await KdbDoorTests.run(
                                python, "kdb_held_connection.py",
                                ["127.0.0.1", "\(port)", user, password, "\(directory)/\(user).ready", "15"])
                        }
                    }
                    let alice = hold("alice", "wonderland")
                    let bob = hold("bob", "builder")
                    let carol = hold("carol", "hopper")
                    #expect(await eventually(timeout: .seconds(60)) {
                        ["alice", "bob", "carol"].allSatisfy { FileManager.default.fileExists(atPath: "\(directory)/\($0).ready") }
                    })
                    let removed = try await CommandRun.mserve(["hub", "user", "remove", "alice", "--hub", hub.endpoint, "--dir", hubDirectory])
                    #expect(removed.status == 0, "\(removed.errors)")
                    let changed = try await CommandRun.mserve(
                        ["hub", "user", "add", "carol", "--password", "grace", "--hub", hub.endpoint, "--dir", hubDirectory])
                    #expect(changed.status == 0, "\(changed.errors)")

                    let (aliceStatus, aliceText) = try await alice.value
                    #expect(aliceStatus == 0, "\(aliceText)")
                    #expect(aliceText.contains("then cut"), "\(aliceText)")
                    let (carolStatus, carolText) = try await carol.value
                    #expect(carolStatus == 0, "\(carolText)")
                    #expect(carolText.contains("then cut"), "\(carolText)")
                    #expect(cluster.broker.logs.contains("was removed from the hub"), "\(cluster.broker.logs)")
                    // Bob, still a user, is served to the end.
                    let (bobStatus, bobText) = try await bob.value
                    #expect(bobStatus == 1, "\(bobText)")
                    #expect(bobText.contains("still served"), "\(bobText)")
                }
            }
        }

        /// The kdb+ handshakes a listener at a port registered with the hub as a q servant
        /// receives from a broker following the hub, started with `brokerArguments`: the bytes
        /// each connection sent up to its NUL (the sidecar's probes send none), and the broker's
        /// log once it holds `logLine` (the broker may write its line after the handshake).
        static func handshakesAtAHubListedQServant(
            _ brokerArguments: [String], logLine: String? = nil
        ) async throws -> (handshakes: [String], brokerLogs: String) {
            return try await withTemporaryDirectory("mserve-hub") { hubDirectory in
                let hub = try await Self.startHub(directory: hubDirectory)
                defer { hub.stop() }
                let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
                defer { TCPSocket.close(listener.descriptor) }
                let sidecar = try await MServeProcess(
                    "sidecar", ["hub", "register", "kdb://127.0.0.1:\(listener.port)", "--hub", hub.endpoint])
                defer { sidecar.stop() }
                let broker = try await MServeProcess(
                    "broker", ["broker", "--clients", "tcp://127.0.0.1:0", "--hub", hub.endpoint] + brokerArguments)
                defer { broker.stop() }
                var connections: [(descriptor: Int32, bytes: [UInt8])] = []
                defer { for connection in connections { TCPSocket.close(connection.descriptor) } }
                var handshakes: [String] = []
                _ = await eventually(timeout: .seconds(60)) {
                    while let accepted = TCPSocket.accept(listener.descriptor) { connections.append((accepted.descriptor, [])) }
                    for index in connections.indices {
                        _ = TCPSocket.read(connections[index].descriptor, into: &connections[index].bytes, limit: 4_096)
                    }
                    handshakes = connections.compactMap { connection in
                        connection.bytes.firstIndex(of: 0).map { String(decoding: connection.bytes[..<$0], as: UTF8.self) }
                    }
                    return !handshakes.isEmpty
                }
                if let logLine { _ = await eventually { broker.logs.contains(logLine) } }
                return (handshakes, broker.logs)
            }
        }

        /// Anyone who can register with a hub without keys can list a q servant of their own:
        /// the broker sends `--servant-auth` only to the q servants it was given, unless
        /// `--servant-auth-hub` says the hub's get it too.
        @Test func theServantPasswordGoesToHubListedQServantsOnlyWhenAsked() async throws {
            let notice = "logging in to a q servant the broker was not given without --servant-auth's credentials"
            let withheld = try await Self.handshakesAtAHubListedQServant(["--servant-auth", "alice:secret"], logLine: notice)
            #expect(withheld.handshakes == ["\u{3}"], "\(withheld.handshakes)")
            #expect(withheld.brokerLogs.contains(notice), "\(withheld.brokerLogs)")
            let sent = try await Self.handshakesAtAHubListedQServant(["--servant-auth", "alice:secret", "--servant-auth-hub"])
            #expect(sent.handshakes == ["alice:secret\u{3}"], "\(sent.handshakes)")
        }

        @Test func aQServantRegisteredWithTheHubServesTheBrokerFollowingItsService() async throws {
            guard let python = KdbDoorTests.requirePython() else { return }
            // Killed below; its deinit kills it when the test ends early.
            let standIn = try await QServantTests.StandIn(python: python)
            try await withTemporaryDirectory("mserve-hub") { hubDirectory in
                let hub = try await Self.startHub(directory: hubDirectory)
                defer { hub.stop() }
                let sidecar = try await MServeProcess(
                    "sidecar",
                    [
                        "hub", "register", "kdb://127.0.0.1:\(standIn.port)", "--service", "qdev", "--name", "rdb1",
                        "--hub", hub.endpoint,
                    ])
                defer { sidecar.stop() }
                let broker = try await MServeProcess(
                    "broker", ["broker", "--clients", "tcp://127.0.0.1:0", "--hub", hub.endpoint, "--service", "qdev"])
                defer { broker.stop() }
                let client = try QueryClient(endpoint: broker.endpoint)
                defer { client.close() }
                let name = "127.0.0.1:\(standIn.port)"

                var reply: QueryReply?
                #expect(await eventually(timeout: .seconds(60)) {
                    reply = try? await client.send("proc1 `IBM")
                    return reply != nil
                })
                if let reply {
                    QServantTests.checkTrades(reply.result, sym: "IBM")
                    QServantTests.checkInfo(reply, routing: "IBM", servant: name)
                }
                let spokes = try await CommandRun.mserve(["hub", "spokes", "--hub", hub.endpoint])
                #expect(spokes.output.contains("kdb://\(name)"))
                #expect(spokes.output.contains("rdb1"))

                // The q process goes: the hub has it down with the reason; SIGTERM deregisters cleanly.
                standIn.crash()
                #expect(try await eventually {
                    try await CommandRun.mserve(["hub", "down", "--hub", hub.endpoint]).output.contains("does not accept connections")
                })
                #expect(await sidecar.stop() == 0)
            }
        }
    }
}
