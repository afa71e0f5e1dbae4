import Foundation
import Glibc
import MServeClient
import MServeTestSupport
import MServeTesting
import POSIXSockets
import QData
import Testing

extension IntegrationTests {
    /// A servant given to the broker with `--servant` that is stopped with SIGTERM drains and
    /// says goodbye: the broker shows it as `left`, not `lost`, in `.mserve.servants[]` and in
    /// its metrics (an alert on lost servants would fire at every clean restart), counts no
    /// loss, and uses it again once it is back on its port.
    @Suite struct ServantCleanStopTests {
        static func stateSample(_ metrics: String, _ state: String) -> Double? {
            ClientReplyBoundTests.sample(metrics, #"mserve_broker_servants{service="default",state="\#(state)"}"#)
        }

        /// The state of each servant in `.mserve.servants[]`.
        static func states(_ client: QueryClient) async throws -> [String] {
            let reply = try await client.send(".mserve.servants[]")
            guard case .table(let table, _) = reply.result, case .vector(.symbol(let states), _)? = table.column(named: "state")
            else { return [] }
            return states
        }

        @Test func aServantStoppedCleanlyIsShownAsLeftAndIsUsedAgainWhenBack() async throws {
            let port = LoopbackPort.free()
            let endpoint = "tcp://127.0.0.1:\(port)"
            let servant = try await MServeProcess("servant", ["servant", "--bind", endpoint])
            let http = LoopbackPort.free()
            let broker = try await MServeProcess(
                "broker",
                ["broker", "--clients", "tcp://127.0.0.1:0", "--servant", endpoint, "--http", "127.0.0.1:\(http)"])
            defer { broker.stop() }
            var configuration = ClientConfiguration()
            configuration.deadline = .seconds(60)
            let client = try QueryClient(endpoint: broker.endpoint, configuration: configuration)
            defer { client.close() }
            #expect(try await client.send("echo 1").result == .atom(.long(1)))

            #expect(await servant.stop() == 0, "\(servant.logs)")
            #expect(await eventually { broker.logs.contains("servant left") }, "\(broker.logs)")
            #expect(try await Self.states(client) == ["left"])
            var metrics = await ClientReplyBoundTests.metrics(http)
            #expect(await eventually {
                metrics = await ClientReplyBoundTests.metrics(http)
                return Self.stateSample(metrics, "left") == 1
            }, "\(metrics)")
            #expect(Self.stateSample(metrics, "lost") == 0, "\(metrics)")
            #expect(
                ClientReplyBoundTests.sample(metrics, #"mserve_broker_servant_lost_total{service="default",servant="127.0.0.1:\#(port)"}"#)
                    == 0, "\(metrics)")
            #expect(!broker.logs.contains("servant lost"), "\(broker.logs)")

            // Back on its port, it is greeted and used again.
            let restarted = try await MServeProcess("restarted servant", ["servant", "--bind", endpoint])
            defer { restarted.stop() }
            #expect(try await client.send("echo 2").result == .atom(.long(2)))
            #expect(try await Self.states(client) == ["ready"])
        }

        /// A rolling restart's step as it happens under load: SIGTERM reaches an idle servant
        /// just as queries stream in, one perhaps on its way to it as it sends its DRAIN. The
        /// broker acknowledges the DRAIN and the servant says goodbye only after reading that,
        /// so such a query is handed back, not charged as a dispatch: with `--redispatch 0`,
        /// where a charged one fails (`servant … left (said goodbye) while running the query`),
        /// every query still gets its answer. A few rounds: the crossing is a matter of timing.
        @Test func anIdleServantStoppedAsQueriesStreamInCostsNoQuery() async throws {
            for _ in 0..<3 {
                let cluster = try await ProcessCluster.start(servants: 2, threads: 2, brokerArguments: ["--redispatch", "0"])
                defer { cluster.stop() }
                try #require(await cluster.allServantsReady(), "\(cluster.broker.logs)")
                var configuration = ClientConfiguration()
                configuration.deadline = .seconds(120)
                let client = try QueryClient(endpoint: cluster.broker.endpoint, configuration: configuration)
                defer { client.close() }
                let stopping = cluster.servants[0]
                let failures = await withTaskGroup(of: String?.self) { group in
                    for index in 0..<40 {
                        group.addTask {
                            do {
                                let reply = try await client.send("echo \(index)")
                                return reply.result == .atom(.long(Int64(index))) ? nil : "\(index): \(reply.result)"
                            } catch {
                                return "\(index): \(error)"
                            }
                        }
                        // Right after the first query: the servant is idle, and the next ones
                        // are on their way.
                        if index == 0 { kill(stopping.pid, SIGTERM) }
                        await idle(for: .milliseconds(5))
                    }
                    var failures: [String] = []
                    for await failure in group { if let failure { failures.append(failure) } }
                    return failures
                }
                #expect(failures.isEmpty, "\(failures)\n\(cluster.broker.logs)")
                #expect(await stopping.stop(timeout: 60) == 0, "\(stopping.logs)")
                #expect(!cluster.broker.logs.contains("servant left with queries still running"), "\(cluster.broker.logs)")
            }
        }
    }
}
