import Foundation
import QData
import POSIXSockets

/// The baselines a broker is compared with on the echo workload. Two use the same servant
/// processes the broker runs use (`mserve-bench serve`, which answers `(id; query)` sent to
/// it directly), reached either through libzmq's `zmq_proxy` in a C process of its own (a
/// ROUTER in front, a DEALER behind, connected to every servant: a byte forwarder, the floor
/// for a front process's CPU per query, which keeps any number of queries at a servant and
/// sends each as a message of its own) or straight from the clients (no broker at all). The third is the peer under
/// mserve's rule (one query per servant thread at a time): the ZeroMQ guide's load-balancing
/// broker in C with C echo workers (``CProgram``).
enum Baselines {
    /// How the clients reach the servants.
    enum Path: String, Sendable {
        /// Client DEALER → ROUTER `zmq_proxy` DEALER → servant ROUTER.
        case forwarder = "zmq_proxy"
        /// Client DEALER → servant ROUTER.
        case direct
        /// Client DEALER → C lbbroker ROUTER … ROUTER → C REQ echo workers (one process,
        /// as many workers as the servants have threads in all).
        case lbbroker
    }

    /// Starts `servants` echo servants (or the C workers), puts `path` in front of them, and
    /// drives them like the broker benchmark. The run's CPU per query is measured for the
    /// processes in front (`proxy`, `lbbroker`) and behind (`servants`).
    static func run(
        path: Path, servants: Int, threads: Int, clients: Int, inFlight: Int, duration: Double,
        warmUp: Double = 0.5
    ) throws -> LoadResult {
        if path == .lbbroker {
            let backend = "tcp://127.0.0.1:\(LoopbackPort.free())"
            let broker = try CProgram.lbbroker.start(role: "lbbroker", arguments: [backend])
            defer { broker.stop() }
            let workers = try CProgram.echoworker.start(role: "echo workers", arguments: [backend, "\(servants * threads)"])
            defer { workers.stop() }
            let probe = CPUProbe(["lbbroker": [broker.processIdentifier], "servants": [workers.processIdentifier]])
            return try DealerLoad.run(
                endpoints: [broker.endpoint], workload: .echo, clients: clients, inFlight: inFlight, duration: duration,
                warmUp: warmUp, probe: probe)
        }
        let processes = try BrokerRun.startServants(workload: .echo, count: servants, threads: threads, cache: 1)
        defer { processes.forEach { $0.stop() } }
        let servantEndpoints = processes.map(\.endpoint)
        let servantIDs = processes.map(\.processIdentifier)
        switch path {
        case .direct, .lbbroker:
            return try DealerLoad.run(
                endpoints: servantEndpoints, workload: .echo, clients: clients, inFlight: inFlight, duration: duration,
                warmUp: warmUp, probe: CPUProbe(["servants": servantIDs]))
        case .forwarder:
            let proxy = try CProgram.proxy.start(role: "zmq_proxy", arguments: servantEndpoints)
            defer { proxy.stop() }
            return try DealerLoad.run(
                endpoints: [proxy.endpoint], workload: .echo, clients: clients, inFlight: inFlight, duration: duration,
                warmUp: warmUp, probe: CPUProbe(["proxy": [proxy.processIdentifier], "servants": servantIDs]))
        }
    }
}
