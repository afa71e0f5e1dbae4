import Foundation
import MServeClient
import MServeProtocol
import MServeTestSupport
import POSIXSockets
import QData
import Testing
import ZeroMQ

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension IntegrationTests {
    /// A ZeroMQ client that sends queries and does not read the replies costs the broker a bounded
    /// amount (`--client-reply-buffer`): replies beyond it are dropped, counted and logged, and
    /// the broker goes on answering its other clients.
    @Suite struct ClientReplyBoundTests {
        /// The value of the `/metrics` sample whose line starts with `series` (name and labels as
        /// the broker writes them); nil when absent.
        static func sample(_ metrics: String, _ series: String) -> Double? {
            for line in metrics.split(separator: "\n") where line.hasPrefix(series + " ") {
                return Double(line.dropFirst(series.count + 1))
            }
            return nil
        }

        static func metrics(_ port: Int) async -> String {
            (try? await MonitoringTests.get(port, "/metrics").body) ?? ""
        }

        static let answeredSeries = #"mserve_broker_queries_total{service="default",outcome="answered"}"#
        static let droppedSeries = #"mserve_broker_client_messages_total{service="default",direction="dropped"}"#

        /// Waits until the broker at HTTP `port` has answered `queries` queries; returns the
        /// replies it dropped then, after checking it dropped some.
        static func droppedOnceAnswered(_ queries: Int, http port: Int) async -> Int {
            var metrics = ""
            let settled = await eventually(timeout: .seconds(600)) {
                metrics = await Self.metrics(port)
                return (Self.sample(metrics, answeredSeries) ?? 0) >= Double(queries)
            }
            #expect(settled, "\(metrics)")
            let dropped = Int(Self.sample(metrics, droppedSeries) ?? -1)
            #expect(dropped > 0, "\(metrics)")
            return dropped
        }

        /// `(id; (`echo; bytes))`: a query whose reply carries `bytes` back.
        static func echoQuery(id: Int64, bytes: Int) -> [UInt8] {
            ClientQuery(
                id: .atom(.long(id)),
                query: .list([.atom(.symbol("echo")), .vector(.byte([UInt8](repeating: 7, count: bytes)))])
            ).encoded()
        }

        @Test func repliesBeyondTheBoundAreDroppedAndCountedWhileOtherClientsAreAnswered() async throws {
            let http = LoopbackPort.free()
            let bound = 1 << 20
            let cluster = try await ProcessCluster.start(
                servants: 1, brokerArguments: ["--http", "127.0.0.1:\(http)"],
                environment: ["MSERVE_CLIENT_REPLY_BUFFER": "\(bound)"])
            defer { cluster.stop() }
            #expect(await cluster.allServantsReady())

            // 300 replies of 100 KB, 30 MB in all: far more than the bound, the kernel's socket
            // buffers and the one message the client's libzmq takes ahead together.
            let queries = 300
            let context = try ZMQContext()
            defer { context.terminate() }
            let silent = try ZMQSocket(context: context, type: .dealer)
            defer { silent.close() }
            try silent.setReceiveHighWaterMark(1)
            try silent.setLinger(milliseconds: 0)
            try silent.connect(cluster.broker.endpoint)
            for id in 0..<queries { try silent.send(Self.echoQuery(id: Int64(id), bytes: 100_000)) }

            // Every query of the silent client is answered by its servant, and replies are dropped.
            let dropped = await Self.droppedOnceAnswered(queries, http: http)
            #expect(cluster.broker.logs.contains("replies dropped for a client that is not reading"), "\(cluster.broker.logs)")
            #expect(!cluster.broker.logs.contains("is below --client-reply-buffer"), "the total stays over the bound")

            // While the silent client's replies stay held, another client is answered, a reply
            // larger than the bound included: a reply is dropped only for a client whose held
            // replies reach the bound.
            let client = try QueryClient(endpoint: cluster.broker.endpoint)
            defer { client.close() }
            let large = try await client.send(query: .list([.atom(.symbol("echo")), .vector(.byte([UInt8](repeating: 1, count: 2 * bound)))]))
            #expect(large.result == .vector(.byte([UInt8](repeating: 1, count: 2 * bound))))
            #expect(try await client.send("echo 7").result == .atom(.long(7)))
            #expect(Int(Self.sample(await Self.metrics(http), Self.droppedSeries) ?? -1) == dropped)

            // What the silent client reads now is what was kept: every reply was either kept or
            // dropped, none both.
            var received = 0
            while try await silent.receiveFrames(within: .seconds(5)) != nil { received += 1 }
            #expect(received > 0)
            #expect(received + dropped == queries, "received \(received), dropped \(dropped)")
            let droppedBytes = Self.sample(await Self.metrics(http), #"mserve_broker_client_bytes_total{service="default",direction="dropped"}"#) ?? 0
            #expect(droppedBytes >= Double(dropped * 100_000))
        }

        /// The bytes held for all the clients together are bounded too
        /// (`--client-reply-buffer-total`): with the per-client bound far above what the silent
        /// clients are sent, replies are dropped once the total is reached, and a client that
        /// reads is still answered. A total below the per-client bound is warned of at start.
        @Test func repliesBeyondTheTotalBoundAreDroppedWhileAReadingClientIsAnswered() async throws {
            let http = LoopbackPort.free()
            let cluster = try await ProcessCluster.start(
                servants: 1, brokerArguments: ["--http", "127.0.0.1:\(http)", "--client-reply-buffer-total", "\(4 << 20)"])
            defer { cluster.stop() }
            #expect(await cluster.allServantsReady())

            // Two silent clients, 150 replies of 100 KB each: 30 MB, under the per-client 64 MiB.
            let perClient = 150
            let context = try ZMQContext()
            defer { context.terminate() }
            var silent: [ZMQSocket] = []
            defer { silent.forEach { $0.close() } }
            for _ in 0..<2 {
                let socket = try ZMQSocket(context: context, type: .dealer)
                try socket.setReceiveHighWaterMark(1)
                try socket.setLinger(milliseconds: 0)
                try socket.connect(cluster.broker.endpoint)
                silent.append(socket)
            }
            for id in 0..<perClient {
                for socket in silent { try socket.send(Self.echoQuery(id: Int64(id), bytes: 100_000)) }
            }
            let dropped = await Self.droppedOnceAnswered(2 * perClient, http: http)
            #expect(cluster.broker.logs.contains("allClientsLimitBytes=4194304"), "\(cluster.broker.logs)")
            // 4 MiB in all is below the per-client 64 MiB: it bounds each client too, and the
            // broker said so at start.
            #expect(
                cluster.broker.logs.contains("--client-reply-buffer-total is below --client-reply-buffer"),
                "\(cluster.broker.logs)")

            let client = try QueryClient(endpoint: cluster.broker.endpoint)
            defer { client.close() }
            #expect(try await client.send("echo 7").result == .atom(.long(7)))

            var received = 0
            for socket in silent {
                while try await socket.receiveFrames(within: .seconds(5)) != nil { received += 1 }
            }
            #expect(received + dropped == 2 * perClient, "received \(received), dropped \(dropped)")
        }
    }
}
