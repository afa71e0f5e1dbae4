import Dispatch
import Foundation
import Synchronization

/// The child processes a benchmark runs (servants, brokers, peers, the majortomo driver), so
/// that a benchmark that ends, fails, or is stopped with SIGINT or SIGTERM (Ctrl-C, `timeout`)
/// stops them too instead of leaving them running without a parent.
///
/// Every child is started through ``run(_:processGroup:)``, which starts it and records it in
/// one step: once the benchmark is stopping, no child can start unrecorded, and one that
/// starts then is refused.
enum BenchChildren {
    private struct State {
        /// Running children: process id → whether the child leads a process group of its own
        /// (its own children are stopped with it).
        var running: [Int32: Bool] = [:]
        /// The signal that stops the benchmark (0: stopping because it ended or failed).
        var stoppingSignal: Int32?
    }

    private static let state = Mutex(State())

    /// Starts `process` and records it. A child that leads a process group (`processGroup`:
    /// it calls `setpgid(0, 0)` itself, as bench/majortomo_driver.py does) is stopped with
    /// its whole group. Refused once the benchmark is stopping.
    ///
    /// The child also dies with the benchmark when nothing of the benchmark's runs to stop it
    /// (SIGKILL, a crash): it is started through `setpriv --pdeathsig KILL` where there is one.
    /// The kernel sends that signal when the *thread* that started the child ends, so every
    /// child is started from one thread that lasts as long as the benchmark (``spawner``).
    /// The child keeps its process id through `setpriv`'s exec, so what is measured of it by
    /// its id is the program's own.
    static func run(_ process: Process, processGroup: Bool = false) throws {
        diesWithTheBenchmark(process)
        try spawner.perform {
            try state.withLock { state in
                guard state.stoppingSignal == nil else {
                    throw BenchError(.process, "not started: the benchmark is stopping")
                }
                try process.run()
                state.running[process.processIdentifier] = processGroup
            }
        }
    }

    /// `setpriv` (util-linux), which sets the parent-death signal and runs the program.
    static let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Makes `process` run its program through `setpriv --pdeathsig KILL`, when there is one.
    private static func diesWithTheBenchmark(_ process: Process) {
        guard let setpriv, let program = process.executableURL else { return }
        process.arguments = ["--pdeathsig", "KILL", "--", program.path] + (process.arguments ?? [])
        process.executableURL = URL(fileURLWithPath: setpriv)
    }

    /// The thread every child is started from.
    private static let spawner = Spawner()

    /// One thread that runs what it is given, one at a time, for the life of the process.
    private final class Spawner: Sendable {
        private let jobs = Mutex<[@Sendable () -> Void]>([])
        private let waiting = DispatchSemaphore(value: 0)

        init() {
            let thread = Thread { [self] in
                while true {
                    waiting.wait()
                    let job = jobs.withLock { $0.removeFirst() }
                    job()
                }
            }
            thread.name = "mserve-bench spawner"
            thread.start()
        }

        /// Runs `body` on the thread, waits for it, and throws what it threw.
        func perform(_ body: @escaping @Sendable () throws -> Void) throws {
            let done = DispatchSemaphore(value: 0)
            let failure = Mutex<(any Error)?>(nil)
            jobs.withLock {
                $0.append {
                    do { try body() } catch { failure.withLock { $0 = error } }
                    done.signal()
                }
            }
            waiting.signal()
            done.wait()
            if let error = failure.withLock({ $0 }) { throw error }
        }
    }

    /// A child was stopped and reaped.
    static func ended(_ pid: Int32) { _ = state.withLock { $0.running.removeValue(forKey: pid) } }

    /// Whether the benchmark was stopped by SIGINT or SIGTERM: its figures are not to be shown.
    static var isInterrupted: Bool { state.withLock { ($0.stoppingSignal ?? 0) != 0 } }

    /// Writes out what was printed, and stops the benchmark as SIGPIPE would (every child
    /// stopped, status 141) when the reader of its output has gone (`| head`). SIGPIPE itself
    /// never arrives for the bench's own writes: it is ignored so that the signal source can
    /// watch it, and a write to a closed pipe then fails with EPIPE instead. Called at each
    /// line a suite prints as it goes (a round's), before any file is written (a suite whose
    /// reader went writes no CSV for the run), and four times a second (``stopOnSignals()``).
    static func flushOutput() {
        fflush(nil)
        var output = pollfd(fd: STDOUT_FILENO, events: 0, revents: 0)
        // A pipe whose reader closed polls as an error; a socket as hung up.
        guard poll(&output, 1, 0) == 1, output.revents & Int16(POLLERR | POLLHUP) != 0 else { return }
        stopAll(signal: SIGPIPE)
        exit(128 + SIGPIPE)
    }

    /// Prints `line` and writes it out at once (``flushOutput()``): for a suite that prints
    /// each figure as it is measured, so that `| head` gets it while the rest runs, and the
    /// suite stops when its reader goes.
    static func printNow(_ line: String) {
        print(line)
        flushOutput()
    }

    /// From now on SIGINT, SIGTERM and SIGPIPE (the reader of the benchmark's output went, as
    /// `| head` does, when a signal is sent: a write to it is caught by ``flushOutput()``)
    /// stop every running child (SIGTERM, then SIGKILL after a second) and then end the
    /// benchmark with status 128 + the signal.
    static func stopOnSignals() {
        for signalNumber in [SIGINT, SIGTERM, SIGPIPE] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                stopAll(signal: signalNumber)
                exit(128 + signalNumber)
            }
            source.resume()
            // Kept for the life of the process: a source let go stops watching.
            _ = Unmanaged.passRetained(source as AnyObject)
        }
        // A suite may print nothing for a while (chaos until its end): its output is written
        // out and its reader looked at four times a second, so one that goes is noticed.
        let outputWatch = DispatchSource.makeTimerSource(queue: .global())
        outputWatch.schedule(deadline: .now() + .milliseconds(250), repeating: .milliseconds(250))
        outputWatch.setEventHandler { flushOutput() }
        outputWatch.resume()
        _ = Unmanaged.passRetained(outputWatch as AnyObject)
    }

    /// Stops every running child: SIGTERM, then SIGKILL to those still there after a second.
    /// After this no child starts: call it only when the benchmark ends (`signal` 0), fails,
    /// or is stopped by `signal`.
    static func stopAll(signal: Int32 = 0) {
        let children = state.withLock { state in
            if state.stoppingSignal == nil || state.stoppingSignal == 0 { state.stoppingSignal = signal }
            return state.running
        }
        guard !children.isEmpty else { return }
        for (pid, group) in children { send(SIGTERM, to: pid, group: group) }
        let giveUp = Date().addingTimeInterval(1)
        while Date() < giveUp, children.contains(where: { isAlive($0.key, group: $0.value) }) {
            Thread.sleep(forTimeInterval: 0.02)
        }
        for (pid, group) in children where isAlive(pid, group: group) { send(SIGKILL, to: pid, group: group) }
    }

    /// Sends `signalNumber` to the child, and to its process group when it leads one (or to
    /// the child alone if it has not made its group yet).
    private static func send(_ signalNumber: Int32, to pid: Int32, group: Bool) {
        if group, kill(-pid, signalNumber) == 0 { return }
        kill(pid, signalNumber)
    }

    /// Whether the child (or a member of its group) is still running.
    private static func isAlive(_ pid: Int32, group: Bool) -> Bool {
        if group, kill(-pid, 0) == 0 { return true }
        return kill(pid, 0) == 0 && !isZombie(pid)
    }

    /// Whether `pid` has exited and waits to be reaped.
    private static func isZombie(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = status.lastIndex(of: ")")
        else { return true }
        return status[status.index(close, offsetBy: 2)...].hasPrefix("Z")
    }
}
