import Foundation

/// The Majordomo (MDP 0.2) broker of PyPI `majortomo` on the echo workload, driven by
/// bench/majortomo_driver.py in the virtualenv at `$MSERVE_VENV` (default
/// `~/.cache/mserve/venv`). Never fails the harness: a missing venv or package is a reason.
enum MajortomoBaseline {
    /// The virtualenv's Python.
    static var python: String {
        let venv =
            ProcessInfo.processInfo.environment["MSERVE_VENV"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "\(NSHomeDirectory())/.cache/mserve/venv"
        return "\(venv)/bin/python"
    }

    /// Runs the driver with one echo worker per servant and `clients` × `inFlight` queries in
    /// flight (one MDP client per query in flight: an MDP client has one request outstanding);
    /// returns its figures or why it was skipped.
    static func run(clients: Int, inFlight: Int, workers: Int = 2, duration: Double) -> Result<LoadResult, SkipReason> {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return .failure(SkipReason("no virtualenv at \(python) (run scripts/setup, then pip install majortomo six)"))
        }
        guard let driver = driverPath else {
            return .failure(
                SkipReason(
                    "\(driverName) not found under \(FileManager.default.currentDirectoryPath) nor the package root above \(BenchProcess.buildDirectory.path)"
                ))
        }
        let check = runProcess([python, "-c", "import majortomo, six"], timeout: 30)
        guard check.status == 0 else {
            return .failure(SkipReason("majortomo is not installed (\(python) -m pip install majortomo six)"))
        }
        let outcome = runProcess([
            python, driver, "--clients", "\(clients)", "--in-flight", "\(inFlight)", "--workers", "\(workers)",
            "--duration", "\(duration)",
        ], processGroup: true, timeout: duration + 60)
        guard outcome.status == 0, let line = outcome.output.split(separator: "\n").last,
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else {
            return .failure(SkipReason("the majortomo driver failed (status \(outcome.status))"))
        }
        func number(_ key: String) -> Double { (object[key] as? NSNumber)?.doubleValue ?? 0 }
        var result = LoadResult()
        result.completed = Int(number("queries"))
        result.errors = Int(number("errors"))
        result.seconds = number("seconds")
        result.externalMean = number("mean_us")
        result.externalPercentiles = [
            50: number("p50_us"), 90: number("p90_us"), 99: number("p99_us"), 99.9: number("p999_us"),
        ]
        return .success(result)
    }

    /// The driver, as the package keeps it.
    static let driverName = "bench/majortomo_driver.py"

    /// The driver: under the working directory, else under the package the bench was built
    /// in (`.build/<triple>/release/mserve-bench` is three directories below its root).
    static var driverPath: String? {
        var candidates = [driverName]
        var directory = BenchProcess.buildDirectory
        for _ in 0..<4 {
            directory.deleteLastPathComponent()
            candidates.append(directory.appendingPathComponent(driverName).path)
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Why the majortomo row was skipped.
    struct SkipReason: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs a command with its output in a temporary file (forked children that outlive it
    /// cannot hold a pipe open); kills it (and its process group, for `processGroup`: a
    /// command that makes one of its own) after `timeout` seconds.
    private static func runProcess(
        _ arguments: [String], processGroup: Bool = false, timeout: Double = 90
    ) -> (status: Int32, output: String) {
        let outputPath = NSTemporaryDirectory() + "mserve-bench-majortomo-\(getpid()).out"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        guard let output = FileHandle(forWritingAtPath: outputPath) else { return (-1, "") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        // The driver makes a process group of its own (its broker, workers and clients are in
        // it): the benchmark stops the whole group when it ends, fails or is stopped.
        do {
            try BenchChildren.run(process, processGroup: processGroup)
        } catch {
            return (-1, "")
        }
        defer { BenchChildren.ended(process.processIdentifier) }
        let giveUp = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < giveUp { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            kill(processGroup ? -process.processIdentifier : process.processIdentifier, SIGKILL)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return (-1, "")
        }
        try? output.close()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (process.terminationStatus, text)
    }
}
