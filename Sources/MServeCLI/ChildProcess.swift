import Foundation
import MServeProtocol
import Synchronization

/// A child `mserve` process whose first line of standard output is its endpoint.
final class ChildProcess: Sendable {
    private let process: Process
    /// What the child is, for messages ("servant 1").
    let role: String
    /// The end of what a quiet child wrote to standard error, to say why it stopped.
    private let errorTail = Mutex<[UInt8]>([])
    private static let errorTailBytes = 4_096
    /// Signalled once the child's standard error has ended (quiet logs only): its last words
    /// are read by a handler that may run after the exit is seen.
    private let errorEnded = DispatchSemaphore(value: 0)
    private let keepsErrors: Bool

    /// Starts `mserve ARGUMENTS` from the running binary, in this process's environment
    /// without its MServe settings (see ``inheritedEnvironment``), plus `environment`.
    init(role: String, arguments: [String], environment: [String: String] = [:], quietLogs: Bool) throws {
        self.role = role
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ChildProcess.executablePath)
        process.arguments = arguments
        process.environment = Self.inheritedEnvironment.merging(environment) { $1 }
        process.standardOutput = Pipe()
        self.process = process
        self.keepsErrors = quietLogs
        if quietLogs {
            // Not shown, but kept (its end only): a child that stops at start says why in it.
            let errors = Pipe()
            process.standardError = errors
            errors.fileHandleForReading.readabilityHandler = { [self] handle in
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
        guard let pipe = process.standardOutput as? Pipe else { throw DemoError("\(role): no output pipe") }
        switch await EndpointLine.read(from: pipe.fileHandleForReading, timeout: timeout) {
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

    /// Sends SIGTERM and waits for the child to exit (SIGKILL after five seconds).
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
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
