import Dispatch
import Foundation
import Synchronization

/// The child processes a benchmark runs (servants, brokers, peers), so that a benchmark
/// stopped with SIGINT or SIGTERM (Ctrl-C, `timeout`) stops them too instead of leaving them
/// running without a parent.
enum BenchChildren {
    private static let running = Mutex<Set<Int32>>([])

    /// A child was started.
    static func started(_ pid: Int32) { _ = running.withLock { $0.insert(pid) } }

    /// A child was stopped and reaped.
    static func ended(_ pid: Int32) { _ = running.withLock { $0.remove(pid) } }

    /// From now on SIGINT and SIGTERM stop every running child (SIGTERM, then SIGKILL after a
    /// second) and then end the benchmark with status 128 + the signal.
    static func stopOnSignals() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                stopAll()
                exit(128 + signalNumber)
            }
            source.resume()
            // Kept for the life of the process: a source let go stops watching.
            _ = Unmanaged.passRetained(source as AnyObject)
        }
    }

    /// Stops every running child: SIGTERM, then SIGKILL to those still there after a second.
    static func stopAll() {
        let pids = running.withLock { $0 }
        for pid in pids { kill(pid, SIGTERM) }
        let giveUp = Date().addingTimeInterval(1)
        while Date() < giveUp, pids.contains(where: { kill($0, 0) == 0 && !isZombie($0) }) {
            Thread.sleep(forTimeInterval: 0.02)
        }
        for pid in pids where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }

    /// Whether `pid` has exited and waits to be reaped.
    private static func isZombie(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = status.lastIndex(of: ")")
        else { return true }
        return status[status.index(close, offsetBy: 2)...].hasPrefix("Z")
    }
}
