import Foundation
import MServeClient
import MServeHub
import MServeTestSupport
import POSIXSockets
import QData
import Testing

extension IntegrationTests {
    /// A broker following its service through the hub, when the hub stops listing a servant
    /// that still answers the broker: a cut between the hub and the servants, or a hub cut
    /// from everyone that answers the broker's WATCH before the servants registered again.
    /// Real processes on loopback: a hub with a short liveness, a servant started without
    /// `--hub` (it never registers itself), and its registration made here, by a spoke agent
    /// that then goes silent as a cut link would make it, so that the hub drops the servant
    /// after its liveness and tells the broker.
    @Suite struct HubUnlistedServantTests {
        /// A hub, a broker following the default service through it (with `--http`), and the
        /// servants, each registered with the hub by an agent of the test's.
        final class Cluster {
            let hub: MServeProcess
            let broker: MServeProcess
            let http: Int
            let client: QueryClient

            init(directory: String) async throws {
                hub = try await MServeProcess(
                    "hub", ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory, "--liveness", "2"])
                http = LoopbackPort.free()
                broker = try await MServeProcess(
                    "broker",
                    ["broker", "--clients", "tcp://127.0.0.1:0", "--hub", hub.endpoint, "--http", "127.0.0.1:\(http)"])
                var configuration = ClientConfiguration()
                configuration.deadline = .seconds(60)
                client = try QueryClient(endpoint: broker.endpoint, configuration: configuration)
            }

            /// Stops everything, broker first.
            func stop() async {
                client.close()
                await broker.stop()
                await hub.stop()
            }

            /// A servant process that does not register itself (no `--hub`), named `name`.
            static func servant(_ name: String, at endpoint: String = "tcp://127.0.0.1:0") async throws -> MServeProcess {
                try await MServeProcess(name, ["servant", "--bind", endpoint, "--name", name])
            }

            /// Registers the servant at `endpoint` with the hub, as a servant of the default
            /// service, and keeps it registered until the agent is stopped; returns once the
            /// hub confirmed it.
            func register(_ endpoint: String) async throws -> (SpokeAgent, Task<Void, any Error>) {
                let agent = try SpokeAgent(
                    hub: hub.endpoint,
                    registration: .current(boundAt: endpoint, service: "default", role: SpokeRole.servant),
                    heartbeatInterval: .milliseconds(200), livenessTimeout: .seconds(60))
                let task = Task { try await agent.run() }
                _ = try await agent.waitUntilRegistered(timeout: .seconds(60))
                return (agent, task)
            }

            /// The agent goes silent without deregistering, as a cut between the hub and the
            /// servant makes it: the hub drops the servant after its liveness.
            static func silence(_ agent: (SpokeAgent, Task<Void, any Error>)) async {
                agent.0.stop(deregister: false)
                _ = try? await agent.1.value
            }

            /// The broker's servants as `/status.json` lists them.
            func servants() async -> [[String: Any]] {
                guard let body = try? await MonitoringTests.get(http, "/status.json").body,
                    let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                    let servants = json["servants"] as? [[String: Any]]
                else { return [] }
                return servants
            }

            /// The broker's `/metrics`.
            func metrics() async -> String { await ClientReplyBoundTests.metrics(http) }

            /// Waits until the broker logged `line` at least `count` times.
            func brokerLogs(_ line: String, times count: Int = 1) async -> Bool {
                await eventually(timeout: .seconds(60)) { broker.logs.occurrences(of: line) >= count }
            }

            /// Waits until the hub's word that it no longer lists a servant has reached the
            /// broker: kept (the notice) or removed.
            func hubDropReached(times count: Int = 1) async -> Bool {
                await eventually(timeout: .seconds(60)) {
                    broker.logs.occurrences(of: Self.keptNotice) + broker.logs.occurrences(of: Self.removedLine) >= count
                }
            }

            static let keptNotice = "which still answers this broker: kept until it stops answering or says goodbye"
            static let removedLine = "servant removed: the hub no longer lists it"
        }

        static func withCluster(_ body: (Cluster) async throws -> Void) async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let cluster = try await Cluster(directory: directory)
                do {
                    try await body(cluster)
                } catch {
                    await cluster.stop()
                    throw error
                }
                await cluster.stop()
            }
        }

        /// The hub stops listing a ready servant that still answers the broker: the broker
        /// keeps it in dispatch, says so once, stays ready, and its queries are answered.
        @Test func aServantTheHubNoLongerListsButThatAnswersStaysInDispatch() async throws {
            try await Self.withCluster { cluster in
                let servant = try await Cluster.servant("kept")
                defer { servant.stop() }
                let agent = try await cluster.register(servant.endpoint)
                #expect(try await cluster.client.send("echo 1").servant == "kept")

                await Cluster.silence(agent)
                #expect(await cluster.hubDropReached(), "\(cluster.broker.logs)")
                #expect(
                    cluster.broker.logs.contains("the hub no longer lists servant kept, \(Cluster.keptNotice)"),
                    "\(cluster.broker.logs)")
                #expect(!cluster.broker.logs.contains(Cluster.removedLine), "\(cluster.broker.logs)")

                for index in 2...6 {
                    let reply = try await cluster.client.send("echo \(index)")
                    #expect(reply.result == .atom(.long(Int64(index))))
                    #expect(reply.servant == "kept")
                }
                let servants = await cluster.servants()
                #expect(servants.map { $0["state"] as? String } == ["ready"], "\(servants)")
                #expect((try? await MonitoringTests.get(cluster.http, "/readyz").status) == 200)
                #expect(cluster.broker.logs.occurrences(of: Cluster.keptNotice) == 1, "\(cluster.broker.logs)")
                #expect(!cluster.broker.logs.contains("servant lost"), "\(cluster.broker.logs)")
            }
        }

        /// Kept though the hub no longer lists them, a servant stopped with SIGTERM and one
        /// killed are removed once their own link to the broker ends, and not connected to
        /// again: a servant started on the killed one's port later is not used.
        @Test func aKeptServantIsRemovedWhenItStopsOrIsKilledAndNotConnectedToAgain() async throws {
            try await Self.withCluster { cluster in
                let stopped = try await Cluster.servant("stopped")
                defer { stopped.stop() }
                let killed = try await Cluster.servant("killed")
                defer { killed.stop() }
                let agents = [try await cluster.register(stopped.endpoint), try await cluster.register(killed.endpoint)]
                #expect(await cluster.brokerLogs("servant ready", times: 2), "\(cluster.broker.logs)")

                for agent in agents { await Cluster.silence(agent) }
                #expect(await cluster.hubDropReached(times: 2), "\(cluster.broker.logs)")
                #expect(cluster.broker.logs.occurrences(of: Cluster.keptNotice) == 2, "\(cluster.broker.logs)")
                #expect(await cluster.servants().map { $0["state"] as? String } == ["ready", "ready"])

                // SIGTERM: it drains and says goodbye, then goes.
                #expect(await stopped.stop() == 0, "\(stopped.logs)")
                #expect(await cluster.brokerLogs("servant left"), "\(cluster.broker.logs)")
                #expect(await cluster.brokerLogs(Cluster.removedLine), "\(cluster.broker.logs)")
                #expect(await eventually { await cluster.servants().map { $0["name"] as? String } == ["killed"] })
                #expect(try await cluster.client.send("echo 7").servant == "killed")

                // Killed: its connection ends, it is lost, then removed.
                let endpoint = killed.endpoint
                await killed.crash()
                #expect(await cluster.brokerLogs("servant lost"), "\(cluster.broker.logs)")
                #expect(await cluster.brokerLogs(Cluster.removedLine, times: 2), "\(cluster.broker.logs)")
                #expect(await eventually { await cluster.servants().isEmpty }, "\(cluster.broker.logs)")
                let lost = cluster.broker.logs.split(separator: "\n").filter { $0.contains("servant lost") }
                #expect(lost.count == 1 && lost[0].contains("reason=disconnected"), "\(lost)")

                // Not connected to again: a servant on its port, for longer than the broker
                // takes to greet a servant it knows, is not taken.
                let successor = try await Cluster.servant("successor", at: endpoint)
                defer { successor.stop() }
                try await Task.sleep(for: .seconds(4))
                #expect(await cluster.servants().isEmpty, "\(cluster.broker.logs)")
                #expect(cluster.broker.logs.occurrences(of: "servant ready") == 2, "\(cluster.broker.logs)")
                #expect(cluster.broker.logs.occurrences(of: "servant added") == 2, "\(cluster.broker.logs)")
            }
        }

        /// Listed again (its registration back once the hub hears from it), a kept servant
        /// stays the same servant: no second record, and its per-servant series go on.
        @Test func aKeptServantListedAgainKeepsItsRecordAndItsSeries() async throws {
            try await Self.withCluster { cluster in
                let servant = try await Cluster.servant("relisted")
                defer { servant.stop() }
                let agent = try await cluster.register(servant.endpoint)
                for index in 1...3 { #expect(try await cluster.client.send("echo \(index)").servant == "relisted") }
                let series = #"mserve_broker_servant_served_total{service="default",servant="relisted"}"#
                #expect(ClientReplyBoundTests.sample(await cluster.metrics(), series) == 3)

                await Cluster.silence(agent)
                #expect(await cluster.hubDropReached(), "\(cluster.broker.logs)")
                let again = try await cluster.register(servant.endpoint)
                defer { again.0.stop() }
                #expect(await cluster.brokerLogs("the hub lists the servant again"), "\(cluster.broker.logs)")

                #expect(try await cluster.client.send("echo 4").servant == "relisted")
                #expect(cluster.broker.logs.occurrences(of: "servant added") == 1, "\(cluster.broker.logs)")
                #expect(cluster.broker.logs.occurrences(of: "servant ready") == 1, "\(cluster.broker.logs)")
                #expect(!cluster.broker.logs.contains(Cluster.removedLine), "\(cluster.broker.logs)")
                let servants = await cluster.servants()
                #expect(servants.count == 1 && servants.first?["served"] as? Int == 4, "\(servants)")
                #expect(ClientReplyBoundTests.sample(await cluster.metrics(), series) == 4)

                // The mark is gone: dropped again, it is kept again, and said so again.
                await Cluster.silence(again)
                #expect(
                    await cluster.brokerLogs(Cluster.keptNotice, times: 2), "\(cluster.broker.logs)")
                #expect(try await cluster.client.send("echo 5").servant == "relisted")
            }
        }

        /// `mserve_broker_servants_lost_total` counts a servant lost in session, and keeps the
        /// count once the servant is removed (the hub dropped it), when its own series go.
        @Test func theBrokerWideLossCountOutlivesTheServant() async throws {
            try await Self.withCluster { cluster in
                let servant = try await Cluster.servant("doomed")
                let agent = try await cluster.register(servant.endpoint)
                #expect(try await cluster.client.send("echo 1").servant == "doomed")
                let lostSeries = #"mserve_broker_servants_lost_total{service="default",reason="disconnected"}"#
                let ownSeries = #"mserve_broker_servant_lost_total{service="default",servant="doomed"}"#
                var metrics = await cluster.metrics()
                #expect(ClientReplyBoundTests.sample(metrics, lostSeries) == 0, "\(metrics)")
                #expect(
                    ClientReplyBoundTests.sample(metrics, #"mserve_broker_servants_lost_total{service="default",reason="missed_heartbeats"}"#)
                        == 0, "\(metrics)")

                await servant.crash()
                #expect(await cluster.brokerLogs("servant lost"), "\(cluster.broker.logs)")
                #expect(await eventually {
                    metrics = await cluster.metrics()
                    return ClientReplyBoundTests.sample(metrics, ownSeries) == 1
                }, "\(metrics)")
                #expect(ClientReplyBoundTests.sample(metrics, lostSeries) == 1, "\(metrics)")

                await Cluster.silence(agent)
                #expect(await cluster.brokerLogs(Cluster.removedLine), "\(cluster.broker.logs)")
                #expect(await eventually {
                    metrics = await cluster.metrics()
                    return ClientReplyBoundTests.sample(metrics, ownSeries) == nil
                }, "\(metrics)")
                #expect(ClientReplyBoundTests.sample(metrics, lostSeries) == 1, "\(metrics)")
            }
        }

        /// A servant that was in session with the broker, lost and dropped by the hub, then
        /// listed again while its new connection carries nothing back (here stopped with
        /// SIGSTOP; after a cut link heals, it still holds the broker's earlier connection):
        /// the broker says it answered as a servant before, and connects to it again without
        /// the wrong endpoint's back-off; it is used again once it answers.
        @Test func aFormerServantSilentOnItsNewConnectionIsSaidToHaveAnsweredBefore() async throws {
            try await Self.withCluster { cluster in
                let servant = try await Cluster.servant("paused")
                defer {
                    kill(servant.pid, SIGCONT)
                    servant.stop()
                }
                let agent = try await cluster.register(servant.endpoint)
                #expect(try await cluster.client.send("echo 1").servant == "paused")

                kill(servant.pid, SIGSTOP)
                #expect(await cluster.brokerLogs("servant lost"), "\(cluster.broker.logs)")
                await Cluster.silence(agent)
                #expect(await cluster.brokerLogs(Cluster.removedLine), "\(cluster.broker.logs)")
                let again = try await cluster.register(servant.endpoint)
                defer { again.0.stop() }
                #expect(await cluster.brokerLogs("servant added", times: 2), "\(cluster.broker.logs)")

                let silent = "servant endpoint took the connection but answered nothing for the liveness time"
                #expect(await cluster.brokerLogs(silent), "\(cluster.broker.logs)")
                let line = cluster.broker.logs.split(separator: "\n").first { $0.contains(silent) } ?? ""
                #expect(
                    line.contains(
                        "\(silent): it answered as a servant of this broker before, so it likely still holds this broker's earlier connection (a cut link healed, and the servant's side of the old connection is not closed yet)"),
                    "\(line)")
                #expect(line.contains("connecting again every few seconds until a servant answers there"), "\(line)")
                #expect(!line.contains("growing intervals"), "\(line)")

                kill(servant.pid, SIGCONT)
                #expect(await cluster.brokerLogs("servant ready", times: 2), "\(cluster.broker.logs)")
                #expect(try await cluster.client.send("echo 2").servant == "paused")
            }
        }
    }
}
