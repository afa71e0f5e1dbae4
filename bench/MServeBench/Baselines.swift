import Foundation
import QData
import Synchronization
import ZeroMQ

/// The baselines a broker is compared with on the echo workload, with the same servant
/// processes the broker runs uses (`mserve-bench serve`, which answers `(id; query)` sent
/// to it directly): reached either through libzmq's `zmq_proxy` in this process (a ROUTER in
/// front, a DEALER behind, connected to every servant: the ceiling for any broker here) or
/// straight from the clients (no broker at all).
enum Baselines {
    /// How the clients reach the servants.
    enum Path: String, Sendable {
        /// Client DEALER → ROUTER `zmq_proxy` DEALER → servant ROUTER.
        case forwarder = "zmq_proxy"
        /// Client DEALER → servant ROUTER.
        case direct
    }

    /// Starts `servants` echo servants, puts `path` in front of them, and drives them like
    /// the broker benchmark.
    static func run(
        path: Path, servants: Int, threads: Int, clients: Int, inFlight: Int, duration: Double,
        warmUp: Double = 0.5
    ) throws -> LoadResult {
        let processes = try BrokerRun.startServants(workload: .echo, count: servants, threads: threads, cache: 1)
        defer { processes.forEach { $0.stop() } }
        let servantEndpoints = processes.map(\.endpoint)
        switch path {
        case .direct:
            return try DealerLoad.run(
                endpoints: servantEndpoints, workload: .echo, clients: clients, inFlight: inFlight, duration: duration, warmUp: warmUp)
        case .forwarder:
            let context = try ZMQContext(ioThreads: 1)
            let finished = Locked(false)
            let frontend = try startProxy(context: context, servants: servantEndpoints, finished: finished)
            defer {
                context.shutdown()
                while !finished.value { Thread.sleep(forTimeInterval: 0.005) }
                context.terminate()
            }
            return try DealerLoad.run(
                endpoints: [frontend], workload: .echo, clients: clients, inFlight: inFlight, duration: duration, warmUp: warmUp)
        }
    }

    /// Starts the forwarder thread, its DEALER connected to every servant; returns the
    /// endpoint its ROUTER bound.
    private static func startProxy(context: ZMQContext, servants: [String], finished: Locked<Bool>) throws -> String {
        let bound = Locked<Result<String, any Error>?>(nil)
        let thread = Thread {
            do {
                let frontend = try ZMQSocket(context: context, type: .router)
                let backend = try ZMQSocket(context: context, type: .dealer)
                for socket in [frontend, backend] {
                    try socket.setSendHighWaterMark(0)
                    try socket.setReceiveHighWaterMark(0)
                    try socket.setLinger(milliseconds: 0)
                }
                try frontend.bind("tcp://127.0.0.1:*")
                for servant in servants { try backend.connect(servant) }
                let endpoint = try frontend.lastEndpoint
                bound.withLock { $0 = .success(endpoint) }
                try ZMQ.proxy(frontend: frontend, backend: backend)
                frontend.close()
                backend.close()
            } catch {
                bound.withLock { $0 = $0 ?? .failure(error) }
            }
            finished.withLock { $0 = true }
        }
        thread.name = "bench-proxy"
        thread.start()
        return try waitFor(bound)
    }

    private static func waitFor<Value>(_ slot: Locked<Result<Value, any Error>?>) throws -> Value {
        let giveUp = Date().addingTimeInterval(10)
        while Date() < giveUp {
            if let result = slot.withLock({ $0 }) { return try result.get() }
            Thread.sleep(forTimeInterval: 0.001)
        }
        throw BenchError(.setup, "a baseline thread did not start")
    }
}

