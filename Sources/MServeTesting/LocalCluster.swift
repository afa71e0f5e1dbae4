public import Logging
public import MServeBroker
public import MServeClient
public import MServePlugin
public import MServeServant
import ServiceLifecycle

/// A broker and servants running in this process on loopback, with a client connected:
/// the whole MServe path for an integration test of your servant functions.
///
/// ```swift
/// try await LocalCluster.run(functions: myRegistry, servants: 2) { cluster in
///     let reply = try await cluster.client.send("proc1 `IBM")
///     #expect(reply.servant != nil)
/// }
/// ```
public struct LocalCluster: Sendable {
    /// A client connected to the broker.
    public let client: QueryClient
    /// The broker's client endpoint.
    public let brokerEndpoint: String
    /// The servants' endpoints.
    public let servantEndpoints: [String]
    /// The broker itself (for snapshots, adding or removing servants).
    public let broker: Broker

    /// Starts the cluster, runs `body`, then shuts everything down gracefully.
    /// - Parameters:
    ///   - functions: what every servant serves.
    ///   - servants: how many servants to start.
    ///   - threads: worker threads per servant.
    ///   - configuration: the broker's configuration; its endpoints are replaced by loopback ones.
    ///   - algorithm: makes the dispatch algorithm; by default, the first free servant.
    public static func run<Result: Sendable>(
        functions: FunctionRegistry,
        servants: Int = 2,
        threads: Int = 1,
        configuration: BrokerConfiguration = BrokerConfiguration(),
        logger: Logger = Logger(label: "mserve.test", factory: { _ in SwiftLogNoOpLogHandler() }),
        algorithm: @escaping Broker.AlgorithmFactory = { _ in InProcessFirstFreeAlgorithm() },
        _ body: @Sendable (LocalCluster) async throws -> Result
    ) async throws -> Result {
        var servantServices: [Servant] = []
        for _ in 0..<servants {
            var servantConfiguration = ServantConfiguration()
            servantConfiguration.endpoint = "tcp://127.0.0.1:0"
            servantConfiguration.threads = threads
            servantServices.append(try Servant(configuration: servantConfiguration, functions: functions, logger: logger))
        }
        var brokerConfiguration = configuration
        brokerConfiguration.clients.endpoint = "tcp://127.0.0.1:0"
        brokerConfiguration.servants.endpoints = []
        let broker = try Broker(configuration: brokerConfiguration, logger: logger, algorithms: algorithm)
        let group = ServiceGroup(services: servantServices + [broker], logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            var endpoints: [String] = []
            for servant in servantServices {
                let endpoint = try await servant.endpoint
                endpoints.append(endpoint)
                broker.addServant(endpoint: endpoint)
            }
            let brokerEndpoint = try await broker.clientEndpoint
            let client = try QueryClient(endpoint: brokerEndpoint)
            let cluster = LocalCluster(
                client: client, brokerEndpoint: brokerEndpoint, servantEndpoints: endpoints, broker: broker)
            do {
                let result = try await body(cluster)
                client.close()
                await group.triggerGracefulShutdown()
                try await tasks.next()
                return result
            } catch {
                client.close()
                await group.triggerGracefulShutdown()
                _ = try? await tasks.next()
                throw error
            }
        }
    }
}

/// The simplest dispatch algorithm: the first free servant from the top (like `orig`), a
/// `DispatchAlgorithm` in the test process rather than a plugin. Used by ``LocalCluster`` so
/// tests need no plugin files; named apart from a plugin class a reader writes (PLUGINS.md's
/// `FirstFreeAlgorithm`), which a test imports beside this module.
public final class InProcessFirstFreeAlgorithm: DispatchAlgorithm {
    /// Creates the algorithm.
    public init() {}
    /// `first-free`.
    public var name: String { "first-free" }
    /// The first free servant from the top; nil (wait) when none is free.
    public func choose(routing: String, servants: [ServantView]) -> Int? {
        servants.firstIndex(where: \.isFree)
    }
    /// Keeps no state.
    public func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}
    /// Leaves the routing string as the routing spec made it.
    public func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
        nil
    }
}
