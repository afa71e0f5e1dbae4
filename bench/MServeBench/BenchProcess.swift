import Foundation
import MServeProtocol
import Synchronization

/// Why a benchmark could not run.
struct BenchError: Error, CustomStringConvertible {
    /// What kind of failure.
    struct Code: Hashable, Sendable {
        /// The code's name.
        let name: String
        /// A child process did not start or did not announce its endpoint.
        static let process = Code(name: "process")
        /// A load run could not set up its sockets or clients.
        static let setup = Code(name: "setup")
        /// Results could not be written.
        static let output = Code(name: "output")
    }

    /// What kind of failure.
    var code: Code
    /// What happened, for the user: what failed and, where it helps, what to do.
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { message }
}

/// A child process (a servant or the broker) whose first line of standard output is its
/// endpoint. Its logs go to an unlinked temporary file, so that no full pipe can ever stall
/// it, and a child that stops before announcing its endpoint is reported with its last words.
final class BenchProcess: Sendable {
    private let process: Process
    /// What the child is, for messages ("servant 1").
    let role: String
    /// The endpoint the child announced.
    let endpoint: String

    /// The directory of the running binary: `mserve` and the plugins are built next to it.
    static var buildDirectory: URL {
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent()
    }

    /// The running benchmark binary.
    static var benchExecutable: URL {
        URL(fileURLWithPath:
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    }

    /// The `mserve` binary of the same build.
    static var mserveExecutable: URL { buildDirectory.appendingPathComponent("mserve") }

    /// Starts `executable arguments` and waits (up to `timeout`) for its endpoint line.
    init(role: String, executable: URL, arguments: [String], timeout: Duration = .seconds(20)) throws {
        self.role = role
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw BenchError(.process, "\(role): \(executable.path) is missing; run `swift build -c release` first")
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let output = Pipe()
        let logPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("mserve-bench-\(getpid())-\(UUID().uuidString).log").path
        guard FileManager.default.createFile(atPath: logPath, contents: nil),
            let log = FileHandle(forWritingAtPath: logPath), let errors = FileHandle(forReadingAtPath: logPath)
        else {
            throw BenchError(.process, "\(role): cannot make a log file at \(logPath)")
        }
        unlink(logPath)
        defer { try? log.close() }
        process.standardOutput = output
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try BenchChildren.run(process)
        self.process = process
        switch EndpointLine.readBlocking(from: output.fileHandleForReading, timeout: timeout) {
        case .line(let text):
            endpoint = text.trimmingCharacters(in: .whitespaces)
            return
        case .ended:
            process.waitUntilExit()
            BenchChildren.ended(process.processIdentifier)
            throw BenchError(.process, "\(role) exited before announcing its endpoint\(Self.lastWords(errors))")
        case .timedOut:
            break
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        BenchChildren.ended(process.processIdentifier)
        throw BenchError(.process, "\(role) did not announce its endpoint within \(timeout)\(Self.lastWords(errors))")
    }

    /// `: ` and the last lines a child wrote to standard error, or nothing when it wrote none.
    private static func lastWords(_ errors: FileHandle) -> String {
        let text = String(decoding: (try? errors.readToEnd()) ?? Data(), as: UTF8.self)
        // A child's own "Error: " prefix would read as a second error inside this one.
        let lines = text.split(separator: "\n").map { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("Error: ") ? String(trimmed.dropFirst("Error: ".count)) : trimmed
        }.filter { !$0.isEmpty }
        return lines.isEmpty ? "" : ": " + lines.suffix(2).joined(separator: " / ")
    }

    /// The child's process id.
    var processIdentifier: Int32 { process.processIdentifier }

    /// Whether the child is still running.
    var isRunning: Bool { process.isRunning }

    /// The TCP port of the announced endpoint.
    var port: Int? { endpoint.split(separator: ":").last.flatMap { Int($0) } }

    /// Kills the child at once (SIGKILL) and reaps it: a crash, for the chaos run.
    func crash() {
        defer { BenchChildren.ended(process.processIdentifier) }
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Sends SIGTERM and waits for the child to exit (SIGKILL after five seconds).
    func stop() {
        defer { BenchChildren.ended(process.processIdentifier) }
        guard process.isRunning else { return }
        process.terminate()
        let giveUp = Date().addingTimeInterval(5)
        while process.isRunning && Date() < giveUp { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// The child's resident set size in kilobytes (VmRSS in /proc/PID/status), if readable.
    var residentKilobytes: Int? { statusKilobytes("VmRSS:") }

    /// The process's peak resident memory so far (VmHWM), in kB; nil once it has exited.
    var peakResidentKilobytes: Int? { statusKilobytes("VmHWM:") }

    /// A kB field of /proc/PID/status.
    private func statusKilobytes(_ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(processIdentifier)/status", encoding: .utf8) else {
            return nil
        }
        for line in status.split(separator: "\n") where line.hasPrefix(field) {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }
}

/// A value shared between threads behind a lock (a class, so closures can capture it).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    /// Runs `body` with the value locked.
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try mutex.withLock { value in try body(&value) }
    }

    /// The current value.
    var value: Value { mutex.withLock { $0 } }
}
