public import Foundation
import MServeProtocol

/// The outcome of running `mserve ARGUMENTS` to completion.
public struct CommandRun: Sendable {
    /// The exit status.
    public var status: Int32
    /// Everything written to standard output.
    public var output: String
    /// Everything written to standard error.
    public var errors: String

    /// Runs `mserve ARGUMENTS` and waits for it to exit (killing it after `timeout` seconds, a
    /// guard against a hang that a loaded machine must not reach); `input`, when given, is its
    /// standard input.
    public static func mserve(
        _ arguments: [String], environment: [String: String] = [:], input: String? = nil, timeout: TimeInterval = 60
    ) async throws -> CommandRun {
        try await run(MServeProcess.executable, arguments, environment: environment, input: input, timeout: timeout)
    }

    /// Runs `executable ARGUMENTS` and waits for it to exit (killing it after `timeout` seconds);
    /// `input`, when given, is its standard input.
    public static func run(
        _ executable: URL, _ arguments: [String], environment: [String: String] = [:], input: String? = nil,
        timeout: TimeInterval = 60
    ) async throws -> CommandRun {
        let process = try SpawnedProcess(
            executable: executable, arguments: arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, input: input != nil)
        let outputBytes = ByteCollector()
        let errorBytes = ByteCollector()
        if let input, let writer = process.standardInput {
            // On a thread of its own: a child that reads slowly must not block the test.
            Thread.detachNewThread {
                try? writer.write(contentsOf: Data(input.utf8))
                try? writer.close()
            }
        }
        outputBytes.collect(from: process.standardOutput)
        errorBytes.collect(from: process.standardError)
        let giveUp = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < giveUp { try await Task.sleep(for: .milliseconds(10)) }
        process.kill()
        await process.waitUntilExit()
        await outputBytes.waitForEnd()
        await errorBytes.waitForEnd()
        return CommandRun(
            status: process.terminationStatus,
            output: String(decoding: outputBytes.bytes, as: UTF8.self),
            errors: String(decoding: errorBytes.bytes, as: UTF8.self))
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
/// The default is generous: a wait that ends as soon as the condition holds costs nothing, and
/// a suite on two loaded cores can run ten times slower than alone.
public func eventually(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

extension String {
    /// How many times `text` occurs.
    public func occurrences(of text: String) -> Int { components(separatedBy: text).count - 1 }
}

/// The package root, from this file's path.
public let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
