import Foundation
import MServeClient
import MServeHub
import MServeTestSupport
import POSIXSockets
import QData
import Testing

extension IntegrationTests {
    /// A broker following its service through the hub, with real processes on loopback: a hub
    /// with a short liveness, a servant started without `--hub` (it never registers itself),
    /// and its registration made here, by a spoke agent that then goes silent as a cut link
    /// would make it, so that the hub drops the servant after its liveness and tells the
    /// broker.
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
    }
}
