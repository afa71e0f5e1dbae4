import Foundation
import MServeBroker
import MServeClient
@testable import MServeMonitoring
import MServeServant
import MServeTesting
import MServeTestSupport
import Prometheus
import QData
import Testing

/// The broker's loop counts each query once, by how it ended, with its times; what the HTTP side
/// emits at `/metrics` shows it.
struct BrokerMetricsTests {
    static func functions() -> FunctionRegistry {
        var functions = FunctionRegistry()
        functions.register("echo") { (arguments: [QValue]) throws -> QValue in arguments.first ?? .identity }
        functions.register("fail") { (_: [QValue]) throws -> QValue in throw ServantError("on purpose") }
        functions.register("pause") { (arguments: [QValue]) throws -> QValue in
            if case .atom(.long(let milliseconds)) = arguments.first {
                Thread.sleep(forTimeInterval: Double(milliseconds) / 1_000)
            }
            return .atom(.long(0))
        }
        return functions
    }

    @Test func queriesAreCountedByOutcomeWithTheirTimes() async throws {
        var configuration = BrokerConfiguration()
        configuration.dispatch.queueCapacity = 0
        // Two seconds, not 300 ms: the answered queries must beat it on a loaded machine.
        configuration.dispatch.queryDeadline = .seconds(2)
        configuration.dispatch.algorithm = "orig"
        let text = try await LocalCluster.run(
            functions: Self.functions(), servants: 1, configuration: configuration
        ) { cluster in
            // With no queue, a query sent before the servant is ready would be refused.
            _ = await eventually { await cluster.broker.snapshot().servants.first?.state == "ready" }
            for value in 1...3 { _ = try await cluster.client.send("echo \(value)") }
            await #expect(throws: (any Error).self) { try await cluster.client.send("fail 1") }
            // Not a query the broker can parse: refused before it is queued.
            await #expect(throws: (any Error).self) { try await cluster.client.send("echo (") }
            // The only servant runs past the deadline; the query behind it finds no free
            // servant and no room in the queue (capacity 0). The pause lasts long enough for
            // that query to come while it runs, however late this task gets to send it.
            async let late = try? cluster.client.send("pause 4000")
            try await Task.sleep(for: .milliseconds(100))
            await #expect(throws: (any Error).self) { try await cluster.client.send("echo 4") }
            #expect(await late == nil)
            let monitor = BrokerMonitor(broker: cluster.broker, service: "test")
            // Published once and again: the counters show the totals, not their sum.
            _ = await monitor.refresh()
            return String(decoding: await monitor.metrics(), as: UTF8.self)
        }
        func outcome(_ name: String) -> Double? {
            sample(text, "mserve_broker_queries_total", ["service": "test", "outcome": name])
        }
        #expect(outcome("answered") == 3)
        #expect(outcome("servant_error") == 1)
        #expect(outcome("refused") == 1)
        #expect(outcome("queue_full") == 1)
        #expect(outcome("deadline") == 1)
        #expect(outcome("servant_lost") == 0)
        // The servant's late answer to the query past its deadline is not answered again.
        #expect(sample(text, "mserve_broker_query_elapsed_seconds_count", ["service": "test", "algorithm": "orig"]) == 4)
        #expect(sample(text, "mserve_broker_query_execution_seconds_count", ["service": "test", "algorithm": "orig"]) == 4)
        #expect(sample(text, "mserve_broker_query_queued_seconds_count", ["service": "test", "algorithm": "orig"]) == 4)
        #expect(sample(text, "mserve_broker_client_messages_total", ["service": "test", "direction": "received"]) == 7)
        #expect(sample(text, "mserve_broker_client_messages_total", ["service": "test", "direction": "sent"]) == 7)
        #expect((sample(text, "mserve_broker_client_bytes_total", ["service": "test", "direction": "received"]) ?? 0) > 0)
        // Every bucket is cumulative: all four took less than the largest bound.
        #expect(sample(text, "mserve_broker_query_elapsed_seconds_bucket", ["service": "test", "algorithm": "orig", "le": "+Inf"]) == 4)
        #expect(sample(text, "mserve_broker_query_elapsed_seconds_bucket", ["service": "test", "algorithm": "orig", "le": "60.0"]) == 4)
        #expect((sample(text, "mserve_broker_query_elapsed_seconds_sum", ["service": "test", "algorithm": "orig"]) ?? 0) > 0)
        #expect(text.contains("# TYPE mserve_broker_query_elapsed_seconds histogram"))
        #expect(text.contains("# TYPE mserve_broker_queries_total counter"))
    }

    @Test func aQueryWhoseServantIsLostIsCountedAsRedispatched() async throws {
        // The query holds its servant until the test lets it go, so the servant is removed
        // while it runs, however long the test is held back.
        let hold = HeldFunction()
        defer { hold.release(2) }  // a failing test leaves no worker held
        var functions = Self.functions()
        hold.register(in: &functions)
        let text = try await LocalCluster.run(functions: functions, servants: 2) { cluster in
            _ = try await cluster.client.send("echo 1")
            // The first free servant takes the query; it is removed while running it: the
            // query goes to the other.
            async let answer = cluster.client.send("hold 1")
            #expect(await eventually { hold.startedCount == 1 }, "the query never started")
            let busy = try #require(await cluster.broker.snapshot().servants.first { $0.inFlight > 0 })
            cluster.broker.removeServant(endpoint: busy.endpoint)
            #expect(await eventually { hold.startedCount == 2 }, "the query was never sent again")
            hold.release(2)
            _ = try await answer
            return String(decoding: await BrokerMonitor(broker: cluster.broker, service: "test").metrics(), as: UTF8.self)
        }
        #expect(sample(text, "mserve_broker_queries_redispatched_total", ["service": "test"]) == 1)
        #expect(sample(text, "mserve_broker_queries_total", ["service": "test", "outcome": "answered"]) == 2)
    }

    /// Servants sharing a name (`--name db1` on two servants) share its series: the gauges add
    /// them up, and the counters count what each answered, once: scrapes without traffic
    /// change nothing, and one of them leaving takes nothing back.
    @Test func servantsSharingANameAreCountedOnceEach() throws {
        let broker = try Broker(configuration: BrokerConfiguration()) { _ in InProcessFirstFreeAlgorithm() }
        let monitor = BrokerMonitor(broker: broker, service: "test")
        func servant(_ port: Int, served: UInt64, state: String = "ready", lost: UInt64 = 0) -> ServantStatus {
            ServantStatus(
                endpoint: "tcp://127.0.0.1:\(port)", name: "db1", state: state, inFlight: 1, capacity: 1, served: served,
                lost: lost)
        }
        func scrape(_ servants: [ServantStatus]) -> String {
            monitor.publish(
                BrokerSnapshot(
                    servants: servants, queued: 0, inFlight: 0, answered: 0, clientEndpoint: "tcp://127.0.0.1:5570"))
            return String(decoding: monitor.registry.emitToBuffer(), as: UTF8.self)
        }
        let labels = ["service": "test", "servant": "db1"]
        let both = [servant(1, served: 5), servant(2, served: 0, state: "lost", lost: 1)]
        for _ in 1...4 {
            let text = scrape(both)
            #expect(sample(text, "mserve_broker_servant_served_total", labels) == 5)
            #expect(sample(text, "mserve_broker_servant_lost_total", labels) == 1)
            #expect(sample(text, "mserve_broker_servant_in_flight", labels) == 2)
            #expect(sample(text, "mserve_broker_servant_state", labels.merging(["state": "ready"]) { $1 }) == 1)
            #expect(sample(text, "mserve_broker_servant_state", labels.merging(["state": "lost"]) { $1 }) == 1)
            #expect(sample(text, "mserve_broker_servant_state", labels.merging(["state": "draining"]) { $1 }) == 0)
        }
        let grown = scrape([servant(1, served: 7), servant(2, served: 3, lost: 1)])
        #expect(sample(grown, "mserve_broker_servant_served_total", labels) == 10)
        // The one that served 7 leaves: the other's count goes on from the total.
        let oneLeft = scrape([servant(2, served: 4, lost: 1)])
        #expect(sample(oneLeft, "mserve_broker_servant_served_total", labels) == 11)
        #expect(sample(oneLeft, "mserve_broker_servant_state", labels.merging(["state": "ready"]) { $1 }) == 1)
        #expect(sample(scrape([servant(2, served: 4, lost: 1)]), "mserve_broker_servant_served_total", labels) == 11)
    }
}
