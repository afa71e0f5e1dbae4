import CCloseOnExec
import Foundation
import MServeProtocol
import Synchronization

/// A child `mserve` process whose first line of standard output is its endpoint.
final class ChildProcess: Sendable {
    private let process: Process
    /// The read end of the child's standard output.
    private let output: FileHandle
    /// The read end of the child's standard error, when quiet logs are kept: held here, so
    /// that it stays open for its reader as long as the child runs.
    private let errorOutput: FileHandle?
    /// What the child is, for messages ("servant 1").
    let role: String
    /// The end of what a quiet child wrote to standard error, to say why it stopped.
    private let errorTail = Mutex<[UInt8]>([])
    private static let errorTailBytes = 4_096
    /// Signalled once the child's standard error has ended (quiet logs only): its last words
    /// are read by a handler that may run after the exit is seen.
    private let errorEnded = DispatchSemaphore(value: 0)
    private let keepsErrors: Bool
    /// Whether SIGTERM was sent (``terminate()``).
    private let terminated = Mutex(false)

    /// Starts `mserve ARGUMENTS` from the running binary, in this process's environment
    /// without its MServe settings (see ``inheritedEnvironment``), plus `environment`.
    init(role: String, arguments: [String], environment: [String: String] = [:], quietLogs: Bool) throws {
        self.role = role
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ChildProcess.executablePath)
        process.arguments = arguments
        process.environment = Self.inheritedEnvironment.merging(environment) { $1 }
        let output = try Self.pipe()
        process.standardOutput = output.write
        // Not shown, but kept (its end only): a child that stops at start says why in it.
        let errors = quietLogs ? try Self.pipe() : nil
        if let errors { process.standardError = errors.write }
        self.output = output.read
        self.errorOutput = errors?.read
        self.process = process
        self.keepsErrors = quietLogs
        if let errors {
            errors.read.readabilityHandler = { [self] handle in
                let data = handle.availableData
                if data.isEmpty {
                    handle.readabilityHandler = nil
                    self.errorEnded.signal()
                    return
                }
                self.errorTail.withLock {
                    $0.append(contentsOf: data)
                    if $0.count > Self.errorTailBytes { $0.removeFirst($0.count - Self.errorTailBytes) }
                }
            }
        }
        try process.run()
        // This process's write ends: the child has its own copies.
        try? output.write.close()
        try? errors?.write.close()
    }

    /// A pipe whose ends are both closed on exec, as every descriptor of MServe's is: the child
    /// gets the write end as its standard output or error (a copy, which exec keeps), and no
    /// other process this one starts (the next child, the Swift runtime's crash reporter)
    /// inherits either end.
    private static func pipe() throws -> (read: FileHandle, write: FileHandle) {
        var ends: [Int32] = [-1, -1]
        guard mserve_pipe_cloexec(&ends) == 0 else {
            throw DemoError("cannot make a pipe for a child process: \(String(cString: strerror(errno)))")
        }
        return (FileHandle(fileDescriptor: ends[0], closeOnDealloc: true), FileHandle(fileDescriptor: ends[1], closeOnDealloc: true))
    }

    /// The child's `Error:` lines, or else its last line of standard error; "" when quiet logs
    /// were not kept or it wrote none.
    private var lastWords: String {
        let lines = String(decoding: errorTail.withLock { $0 }, as: UTF8.self)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let errors = lines.filter { $0.hasPrefix("Error: ") }.map { $0.dropFirst("Error: ".count) }
        return (errors.isEmpty ? lines.suffix(1).map { $0[...] } : errors).joined(separator: " ")
    }

    /// This process's environment without the MSERVE_* variables but MSERVE_LOG_LEVEL, and
    /// without Q_PLUGINS (read as MSERVE_SERVANT_PLUGINS): the children are set up by their
    /// parent, and the caller's keys, servants, algorithm or plugins would change what they do.
    static var inheritedEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { name, _ in
            name == "MSERVE_LOG_LEVEL" || !(name.hasPrefix("MSERVE_") || name == "Q_PLUGINS")
        }
    }

    /// The running mserve binary.
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Reads the endpoint line the child prints once it is up; throws if it exits or takes too long.
    func endpoint(timeout: Duration = .seconds(15)) async throws -> String {
        switch await EndpointLine.read(from: output, timeout: timeout) {
        case .line(let text): return text
        case .ended:
            process.waitUntilExit()
            // Bounded: a grandchild could hold the pipe open.
            if keepsErrors { _ = errorEnded.wait(timeout: .now() + 5) }
            let words = lastWords
            throw DemoError(
                "\(role) exited before it was ready (status \(process.terminationStatus))"
                    + (words.isEmpty ? "" : ": \(words)"))
        case .timedOut: break
        }
        throw DemoError("\(role) was not ready within \(timeout)")
    }

    /// Sends SIGTERM (a graceful stop), once; ``stop()`` waits for the exit.
    func terminate() {
        let first = terminated.withLock { sent in
            defer { sent = true }
            return !sent
        }
        if first, process.isRunning { process.terminate() }
    }

    /// Sends SIGTERM (unless ``terminate()`` did) and waits for the child to exit (SIGKILL
    /// five seconds after this call).
    func stop() {
        guard process.isRunning else { return }
        terminate()
        let giveUp = Date().addingTimeInterval(5)
        while process.isRunning && Date() < giveUp { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

struct DemoError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
