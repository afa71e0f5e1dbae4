// MServeTestSupport: what the integration tests share to run real mserve processes (the
// binaries built next to the test runner): start and stop them, read their endpoint line and
// logs, run a command to completion, and wait for a condition.

public import Foundation
import MServeProtocol
import Synchronization

/// A real `mserve` process started by a test (from the build directory next to the tests).
public final class MServeProcess: Sendable {
    private let process: SpawnedProcess
    private let errorText = ByteCollector()
    /// What it is, for messages.
    public let role: String
    /// The endpoint it printed on its first line.
    public let endpoint: String

    /// The directory holding the built `mserve` binary and plugins: the one next to the test
    /// runner (the build `swift test` made), or the one `MSERVE_TEST_BINARIES` names (a path,
    /// relative to the package root unless absolute), so that these tests also run against
    /// another build of the same sources: `MSERVE_TEST_BINARIES=.build/release swift test
    /// --skip-build` after `swift build -c release` tests the release binaries.
    public static var buildDirectory: URL {
        if let directory = ProcessInfo.processInfo.environment["MSERVE_TEST_BINARIES"], !directory.isEmpty {
            let path = directory.hasPrefix("/") ? directory : packageRoot + "/" + directory
            return URL(fileURLWithPath: path).resolvingSymlinksInPath()
        }
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// The `mserve` binary.
    public static var executable: URL { buildDirectory.appendingPathComponent("mserve") }

    /// Starts `mserve ARGUMENTS` (or another binary of the build, `executable`) and waits for
    /// its endpoint line.
    public init(
        _ role: String, _ arguments: [String], environment: [String: String] = [:],
        executable: URL = MServeProcess.executable
    ) async throws {
        self.role = role
        var env = ProcessInfo.processInfo.environment
        env["MSERVE_LOG_LEVEL"] = env["MSERVE_TEST_LOG_LEVEL"] ?? "info"
        for (key, value) in environment { env[key] = value }
        let process = try SpawnedProcess(executable: executable, arguments: arguments, environment: env)
        self.process = process
        errorText.collect(from: process.standardError)
        endpoint = try await Self.firstLine(of: process.standardOutput, role: role, process: process)
    }

    /// How long a process may take to print its endpoint: about a second alone, far more on a
    /// loaded machine running a whole suite.
    public static let startTimeout: Duration = .seconds(60)

    private static func firstLine(of handle: FileHandle, role: String, process: SpawnedProcess) async throws -> String {
        switch await EndpointLine.read(from: handle, timeout: Self.startTimeout) {
        case .line(let text): return text
        case .ended: throw TestFailure("\(role) exited before printing its endpoint")
        case .timedOut:
            process.terminate()
            throw TestFailure("\(role) printed no endpoint within \(Self.startTimeout)")
        }
    }

    /// Everything it wrote to standard error so far (its logs).
    public var logs: String { String(decoding: errorText.bytes, as: UTF8.self) }

    /// Its process id.
    public var pid: Int32 { process.pid }

    /// Whether it is still running.
    public var isRunning: Bool { process.isRunning }

    /// SIGTERM, then waits up to `timeout` for it to exit; returns its exit status once
    /// ``logs`` holds all it wrote. Blocks the calling thread: in a `defer`, where nothing can
    /// be awaited. Elsewhere in async code the overload that waits without a thread is chosen.
    @discardableResult
    public func stop(timeout: TimeInterval = 10) -> Int32 {
        if process.isRunning { process.terminate() }
        let giveUp = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < giveUp { Thread.sleep(forTimeInterval: 0.01) }
        process.kill()
        process.waitUntilExit()
        errorText.waitForEnd(timeout: Self.logsTimeout)
        return process.terminationStatus
    }

    /// SIGTERM, then waits up to `timeout` seconds for it to exit; returns its exit status once
    /// ``logs`` holds all it wrote. Waits without holding a thread of the concurrency pool (two
    /// threads on two cores, shared by every test running at once): a process stopping on a
    /// loaded machine takes seconds.
    @discardableResult
    public func stop(timeout: TimeInterval = 10) async -> Int32 {
        if process.isRunning { process.terminate() }
        let giveUp = ContinuousClock.now + .milliseconds(Int(timeout * 1_000))
        while process.isRunning && ContinuousClock.now < giveUp { await idle(for: .milliseconds(10)) }
        process.kill()
        await process.waitUntilExit()
        await errorText.waitForEnd(timeout: Self.logsTimeout)
        return process.terminationStatus
    }

    /// SIGKILL: a crash. Returns once ``logs`` holds all it wrote. Blocks the calling thread: in
    /// a `defer`; elsewhere in async code the overload that waits without a thread is chosen.
    public func crash() {
        process.kill()
        process.waitUntilExit()
        errorText.waitForEnd(timeout: Self.logsTimeout)
    }

    /// SIGKILL: a crash. Returns once ``logs`` holds all it wrote, waiting without holding a
    /// thread of the concurrency pool.
    public func crash() async {
        process.kill()
        await process.waitUntilExit()
        await errorText.waitForEnd(timeout: Self.logsTimeout)
    }

    /// How long a stop waits, once the process has exited, for the reader of its standard error
    /// to reach the end: a process that has exited may have written lines that a loaded machine
    /// has not read yet (a servant's last "servant stopped answered=3" was missing from its logs
    /// once). The wait ends at once when they are read; the bound only guards against a pipe
    /// some other process holds open.
    private static let logsTimeout: TimeInterval = 30

    deinit {
        process.kill()
    }
}

/// A failure with a message, for test support code.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Servants and a broker, as real processes.
public struct ProcessCluster: Sendable {
    /// The servant processes.
    public let servants: [MServeProcess]
    /// The broker process.
    public let broker: MServeProcess

    /// Starts `servants` servant processes (each with `threads` and `servantArguments`, in
    /// `servantEnvironment`) and a broker connected to them (with `brokerArguments`, in `environment`).
    public static func start(
        servants count: Int = 2, threads: Int = 1, servantArguments: [String] = [],
        servantEnvironment: [String: String] = [:], brokerArguments: [String] = [],
        environment: [String: String] = [:]
    ) async throws -> ProcessCluster {
        var servants: [MServeProcess] = []
        for index in 0..<count {
            servants.append(
                try await MServeProcess(
                    "servant \(index + 1)",
                    ["servant", "--bind", "tcp://127.0.0.1:0", "--threads", "\(threads)"] + servantArguments,
                    environment: servantEnvironment))
        }
        let broker = try await MServeProcess(
            "broker",
            ["broker", "--clients", "tcp://127.0.0.1:0"] + servants.flatMap { ["--servant", $0.endpoint] }
                + brokerArguments,
            environment: environment)
        return ProcessCluster(servants: servants, broker: broker)
    }

    /// Whether the broker has logged every servant ready (waiting up to `timeout`): dispatch
    /// has the whole list to choose from.
    public func allServantsReady(timeout: Duration = .seconds(60)) async -> Bool {
        await eventually(timeout: timeout) { broker.logs.occurrences(of: "servant ready") >= servants.count }
    }

    /// Stops everything, broker first. Blocks the calling thread: in a `defer`; elsewhere in
    /// async code the overload that waits without a thread is chosen.
    public func stop() {
        broker.stop()
        for servant in servants { servant.stop() }
    }

    /// Stops everything, broker first, waiting without holding a thread of the concurrency pool.
    public func stop() async {
        await broker.stop()
        for servant in servants { await servant.stop() }
    }

    /// The servants' names as the info dictionary shows them (`host:port`).
    public var servantNames: Set<String> {
        Set(servants.map { $0.endpoint.replacingOccurrences(of: "tcp://", with: "") })
    }
}
