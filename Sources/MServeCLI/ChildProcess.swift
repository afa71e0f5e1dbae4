import Foundation
import MServeProtocol
import Synchronization

/// A child `mserve` process whose first line of standard output is its endpoint.
final class ChildProcess: Sendable {
    private let process: Process
    /// What the child is, for messages ("servant 1").
    let role: String

    /// Starts `mserve ARGUMENTS` from the running binary.
    init(role: String, arguments: [String], environment: [String: String] = [:], quietLogs: Bool) throws {
        self.role = role
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ChildProcess.executablePath)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = Pipe()
        if quietLogs { process.standardError = FileHandle.nullDevice }
        try process.run()
        self.process = process
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
            throw DemoError("\(role) exited before it was ready (status \(process.isRunning ? 0 : process.terminationStatus))")
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
