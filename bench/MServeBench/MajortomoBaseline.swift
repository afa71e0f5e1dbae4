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

    /// Runs the driver with one echo worker per servant; returns its figures or why it was skipped.
    static func run(clients: Int, workers: Int = 2, duration: Double) -> Result<LoadResult, SkipReason> {
        let driver = "bench/majortomo_driver.py"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return .failure(SkipReason("no virtualenv at \(python) (run scripts/setup, then pip install majortomo six)"))
        }
        guard FileManager.default.fileExists(atPath: driver) else {
            return .failure(SkipReason("\(driver) not found: run from the package root"))
        }
        let check = runProcess([python, "-c", "import majortomo, six"])
        guard check.status == 0 else {
            return .failure(SkipReason("majortomo is not installed (\(python) -m pip install majortomo six)"))
        }
        let outcome = runProcess([
            python, driver, "--clients", "\(clients)", "--workers", "\(workers)", "--duration", "\(duration)",
        ])
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

    /// Why the majortomo row was skipped.
    struct SkipReason: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    private static func runProcess(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return (-1, "")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
