import Foundation

/// CPU time a process spent, read from `/proc/PID/stat` (user + system), in total and by
/// thread (`/proc/PID/task/TID/stat`).
struct CPUSample: Sendable {
    /// Seconds of CPU the whole process spent (threads that already exited included).
    var total = 0.0
    /// Seconds of CPU and wake-ups by thread (process and thread id), with the thread's name,
    /// for the threads alive at the sample.
    var threads: [ThreadKey: (name: String, seconds: Double, wakeUps: Int)] = [:]
    /// Times the process's threads alive at the sample went to sleep waiting for something
    /// (`voluntary_ctxt_switches` in `/proc/PID/task/TID/status`): its wake-ups.
    var wakeUps = 0

    /// A thread of a process.
    struct ThreadKey: Hashable, Sendable {
        var pid: Int32
        var tid: String
    }

    /// Clock ticks per second of the `/proc` figures.
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// The process's CPU time so far, or nil when it is gone.
    static func read(pid: Int32) -> CPUSample? {
        guard let (_, total) = stat("/proc/\(pid)/stat") else { return nil }
        var sample = CPUSample(total: total)
        let taskDirectory = "/proc/\(pid)/task"
        for task in (try? FileManager.default.contentsOfDirectory(atPath: taskDirectory)) ?? [] {
            let wakeUps = voluntarySwitches("\(taskDirectory)/\(task)/status")
            if let (name, seconds) = stat("\(taskDirectory)/\(task)/stat") {
                sample.threads[ThreadKey(pid: pid, tid: task)] = (name, seconds, wakeUps)
            }
            sample.wakeUps += wakeUps
        }
        return sample
    }

    /// The name (`comm`) and user + system seconds of a `stat` file.
    private static func stat(_ path: String) -> (String, Double)? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")")
        else { return nil }
        let name = String(text[text.index(after: open)..<close])
        // After the name: state (field 3), …, utime (field 14), stime (field 15).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (name, (user + system) / ticksPerSecond)
    }

    /// The `voluntary_ctxt_switches` of a `status` file (0 when unreadable).
    private static func voluntarySwitches(_ path: String) -> Int {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") {
            return Int(line.split(separator: "\t").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "") ?? 0
        }
        return 0
    }

    /// Adds another process's sample into this one.
    mutating func add(_ other: CPUSample) {
        wakeUps += other.wakeUps
        total += other.total
        threads.merge(other.threads) { first, _ in first }
    }

    /// What was spent between `earlier` and this sample (a thread born since counts whole).
    func since(_ earlier: CPUSample) -> CPUSample {
        var threads = self.threads
        for (key, thread) in threads {
            threads[key]?.seconds = max(0, thread.seconds - (earlier.threads[key]?.seconds ?? 0))
            threads[key]?.wakeUps = max(0, thread.wakeUps - (earlier.threads[key]?.wakeUps ?? 0))
        }
        return CPUSample(total: max(0, total - earlier.total), threads: threads, wakeUps: max(0, wakeUps - earlier.wakeUps))
    }

    /// Seconds spent, and wake-ups, by the threads whose name starts with `prefix`.
    func threads(prefix: String) -> (seconds: Double, wakeUps: Int) {
        threads.values.filter { $0.name.hasPrefix(prefix) }.reduce((0, 0)) { ($0.0 + $1.seconds, $0.1 + $1.wakeUps) }
    }

    /// Seconds spent, and wake-ups, by the busiest thread whose name does not start with
    /// `prefix`.
    func busiestThread(notNamed prefix: String) -> (seconds: Double, wakeUps: Int) {
        let busiest = threads.values.filter { !$0.name.hasPrefix(prefix) }.max { $0.seconds < $1.seconds }
        return busiest.map { ($0.seconds, $0.wakeUps) } ?? (0, 0)
    }
}

/// The CPU time processes spent during a load run's measured window: sampled when the
/// window opens and when it closes, on a thread of its own.
final class CPUProbe: Sendable {
    /// The processes watched, by role (`broker`, `proxy`, `servants`: a role may name several
    /// processes, whose times are added up).
    let processes: [String: [Int32]]
    private let outcome = Locked<[String: CPUSample]?>(nil)

    init(_ processes: [String: [Int32]]) { self.processes = processes }

    /// Samples at `start` and at `end` (monotonic nanoseconds) from a new thread.
    func watch(from start: UInt64, to end: UInt64) {
        let processes = processes
        let outcome = outcome
        let thread = Thread {
            func sleep(until time: UInt64) {
                let now = monotonicNanoseconds()
                if time > now { Thread.sleep(forTimeInterval: Double(time - now) / 1e9) }
            }
            func sampleAll() -> [String: CPUSample] {
                processes.mapValues { pids in
                    pids.compactMap { CPUSample.read(pid: $0) }.reduce(into: CPUSample()) { $0.add($1) }
                }
            }
            sleep(until: start)
            let first = sampleAll()
            sleep(until: end)
            let last = sampleAll()
            outcome.withLock { value in
                value = last.reduce(into: [:]) { spent, entry in
                    spent[entry.key] = first[entry.key].map { entry.value.since($0) }
                }
            }
        }
        thread.name = "bench-cpu-probe"
        thread.start()
    }

    /// What each role spent in the window (waits for the closing sample, at most 5 s).
    func spent() -> [String: CPUSample] {
        let giveUp = Date().addingTimeInterval(5)
        while Date() < giveUp {
            if let value = outcome.value { return value }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return [:]
    }
}

/// CPU per query, in microseconds, of what a load run's processes spent in its window.
struct CPUCost: Sendable {
    /// Seconds by role and part: `broker`, `broker.loop` (the event loop thread),
    /// `broker.io` (libzmq's I/O threads), `proxy`, `proxy.loop`, `proxy.io`, `lbbroker`,
    /// `lbbroker.loop`, `lbbroker.io`, `servants`, …
    var seconds: [String: Double] = [:]
    /// Wake-ups by role and part, as ``seconds`` (see ``CPUSample/wakeUps``).
    var wakeUps: [String: Int] = [:]
    /// Queries answered in the window.
    var queries = 0

    init() {}

    /// The roles whose process is split into its loop and its I/O threads.
    static let splitRoles: Set = ["broker", "proxy", "lbbroker"]

    /// Converts what `probe` saw. Of a broker's, a proxy's or an lbbroker's threads, libzmq's
    /// I/O threads are named `ZMQbg/IO/N` (`ROLE.io`); the thread that moves the messages
    /// (`ROLE.loop`: the broker's event loop, which keeps the name of the thread that started
    /// it, or the C peer's main thread) is taken as the busiest of the others (the rest idle
    /// under load: the main thread and Swift's concurrency threads wait for signals).
    init(_ spent: [String: CPUSample], queries: Int) {
        self.queries = queries
        for (role, sample) in spent {
            seconds[role] = sample.total
            wakeUps[role] = sample.wakeUps
            if Self.splitRoles.contains(role) {
                (seconds["\(role).loop"], wakeUps["\(role).loop"]) = sample.busiestThread(notNamed: "ZMQbg/")
                (seconds["\(role).io"], wakeUps["\(role).io"]) = sample.threads(prefix: "ZMQbg/IO")
            }
        }
    }

    /// Microseconds of CPU per query of `part`, or nil when it was not measured.
    func perQuery(_ part: String) -> Double? {
        guard let spent = seconds[part], queries > 0 else { return nil }
        return spent / Double(queries) * 1e6
    }

    /// Wake-ups per query of `role`'s threads, or nil when it was not measured.
    func wakeUpsPerQuery(_ role: String) -> Double? {
        guard let count = wakeUps[role], queries > 0 else { return nil }
        return Double(count) / Double(queries)
    }

    /// The process the row is about: the broker, else the proxy or the lbbroker.
    var front: Double? { perQuery("broker") ?? perQuery("proxy") ?? perQuery("lbbroker") }
}
