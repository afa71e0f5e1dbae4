import Foundation
import QData
import Synchronization
import ZeroMQ

/// The baselines a broker is compared with on the echo workload, all in this process:
/// echo workers that bounce every message back unchanged, reached either through libzmq's
/// `zmq_proxy` (a ROUTER in front, a DEALER behind: the ceiling for any broker here) or
/// straight from the clients (no broker at all).
enum Baselines {
    /// How the clients reach the echo workers.
    enum Path: String, Sendable {
        /// Client DEALER → ROUTER `zmq_proxy` DEALER → echo worker DEALER.
        case forwarder = "zmq_proxy"
        /// Client DEALER → echo worker ROUTER.
        case direct
    }

    /// Runs `workers` echo workers behind `path` and drives them like the broker benchmark.
    static func run(
        path: Path, workers: Int, clients: Int, inFlight: Int, duration: Double, warmUp: Double = 0.5
    ) throws -> LoadResult {
        let workerContext = try ZMQContext(ioThreads: 1)
        var threads: [Thread] = []
        let finished = Locked(0)
        var clientEndpoints: [String] = []
        var proxyContext: ZMQContext? = nil
        switch path {
        case .forwarder:
            let context = try ZMQContext(ioThreads: 1)
            proxyContext = context
            let endpoints = try startProxy(context: context, finished: finished, threads: &threads)
            clientEndpoints = [endpoints.frontend]
            for _ in 0..<workers {
                _ = try startEchoWorker(context: workerContext, connectTo: endpoints.backend, finished: finished, threads: &threads)
            }
        case .direct:
            for _ in 0..<workers {
                clientEndpoints.append(
                    try startEchoWorker(context: workerContext, connectTo: nil, finished: finished, threads: &threads))
            }
        }
        defer {
            proxyContext?.shutdown()
            workerContext.shutdown()
            while finished.value < threads.count { Thread.sleep(forTimeInterval: 0.005) }
            proxyContext?.terminate()
            workerContext.terminate()
        }
        return try RawLoad.run(endpoints: clientEndpoints, clients: clients, inFlight: inFlight, duration: duration, warmUp: warmUp)
    }

    /// Starts the forwarder thread; returns the endpoints it bound.
    private static func startProxy(
        context: ZMQContext, finished: Locked<Int>, threads: inout [Thread]
    ) throws -> (frontend: String, backend: String) {
        let bound = Locked<Result<(String, String), any Error>?>(nil)
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
                try backend.bind("tcp://127.0.0.1:*")
                let endpoints = (try frontend.lastEndpoint, try backend.lastEndpoint)
                bound.withLock { $0 = .success(endpoints) }
                try ZMQ.proxy(frontend: frontend, backend: backend)
                frontend.close()
                backend.close()
            } catch {
                bound.withLock { $0 = $0 ?? .failure(error) }
            }
            finished.withLock { $0 += 1 }
        }
        thread.name = "bench-proxy"
        thread.start()
        threads.append(thread)
        let endpoints = try waitFor(bound)
        return (endpoints.0, endpoints.1)
    }

    /// Starts an echo worker thread: with `connectTo`, a DEALER connected to a forwarder;
    /// otherwise a ROUTER bound to a free port. Returns the worker's endpoint (or the forwarder's).
    private static func startEchoWorker(
        context: ZMQContext, connectTo: String?, finished: Locked<Int>, threads: inout [Thread]
    ) throws -> String {
        let bound = Locked<Result<String, any Error>?>(nil)
        let thread = Thread {
            do {
                let socket = try ZMQSocket(context: context, type: connectTo == nil ? .router : .dealer)
                try socket.setSendHighWaterMark(0)
                try socket.setReceiveHighWaterMark(0)
                try socket.setLinger(milliseconds: 0)
                if let connectTo {
                    try socket.connect(connectTo)
                    bound.withLock { $0 = .success(connectTo) }
                } else {
                    try socket.bind("tcp://127.0.0.1:*")
                    let endpoint = try socket.lastEndpoint
                    bound.withLock { $0 = .success(endpoint) }
                }
                while let frames = try socket.receiveMultipartBytes() {
                    try socket.send(multipart: frames)
                }
                socket.close()
            } catch {
                bound.withLock { $0 = $0 ?? .failure(error) }
            }
            finished.withLock { $0 += 1 }
        }
        thread.name = "bench-echo"
        thread.start()
        threads.append(thread)
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

/// Drives raw DEALER clients: each sends `[send time; (id; "echo 1")]` frames, keeps
/// `inFlight` outstanding, and measures the round trip from the echoed send time.
enum RawLoad {
    static func run(
        endpoints: [String], clients: Int, inFlight: Int, duration: Double, warmUp: Double
    ) throws -> LoadResult {
        let context = try ZMQContext(ioThreads: 1)
        defer { context.terminate() }
        let payload = QIPC.encode(.list([.atom(.long(1)), .string("echo 1")]), messageType: .async)
        let start = monotonicNanoseconds()
        let measureFrom = start + UInt64(warmUp * 1e9)
        let end = measureFrom + UInt64(duration * 1e9)
        let results = Locked<[Result<LoadResult, any Error>]>([])
        var threads: [Thread] = []
        for _ in 0..<clients {
            let thread = Thread {
                let outcome = Result { () throws -> LoadResult in
                    let socket = try ZMQSocket(context: context, type: .dealer)
                    defer { socket.close() }
                    try socket.setSendHighWaterMark(0)
                    try socket.setReceiveHighWaterMark(0)
                    try socket.setLinger(milliseconds: 0)
                    try socket.setReceiveTimeout(milliseconds: 2_000)
                    for endpoint in endpoints { try socket.connect(endpoint) }
                    var result = LoadResult()
                    var outstanding = 0
                    func sendOne() throws {
                        var stamp = monotonicNanoseconds().littleEndian
                        let stampBytes = withUnsafeBytes(of: &stamp) { Array($0) }
                        try socket.send(multipart: [stampBytes, payload])
                        outstanding += 1
                    }
                    for _ in 0..<inFlight { try sendOne() }
                    while outstanding > 0 {
                        guard let frames = try socket.receiveMultipartBytes() else { break }
                        outstanding -= 1
                        let received = monotonicNanoseconds()
                        guard let stampBytes = frames.first, stampBytes.count == 8 else { result.errors += 1; continue }
                        let sent = stampBytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
                        if sent >= measureFrom && received <= end { result.record(nanoseconds: received - sent) }
                        if received < end { try sendOne() }
                    }
                    return result
                }
                results.withLock { $0.append(outcome) }
            }
            thread.name = "bench-client"
            thread.start()
            threads.append(thread)
        }
        while results.withLock({ $0.count }) < clients { Thread.sleep(forTimeInterval: 0.01) }
        var total = LoadResult()
        total.seconds = duration
        for outcome in results.withLock({ $0 }) { total.merge(try outcome.get()) }
        return total
    }
}
