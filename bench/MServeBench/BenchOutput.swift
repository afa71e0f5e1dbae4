import Foundation
import ArgumentParser

/// Writes the broker benchmark's CSV files and renders its plots.
///
/// - `broker.csv`: every row (broker runs through either door, and baselines).
/// - `targets.csv`: the issue's targets and whether this run met them.
/// - `throughput.dat`, `latency-p50.dat`, `latency-p99.dat`, `latency-mean.dat`: algorithm ×
///   workload matrices the gnuplot sources in img/ read.
///
/// The two CSV files end every row with the run's settings (``BenchCSV``); the matrices do not.
enum BenchOutput {
    static func write(rows: [BenchRow], targets: Targets, directory: String, settings: [BenchCSV.Setting]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try save(brokerCSV(rows: rows, settings: settings).text, directory, "broker.csv")
        var targetsCSV = BenchCSV(columns: ["target", "value", "goal", "met"], settings: settings)
        for (name, value, goal, met) in targets.entries {
            targetsCSV.append([name, format(value, 3), goal, goal == "report" ? "" : (met ? "yes" : "no")])
        }
        try save(targetsCSV.text, directory, "targets.csv")
        let brokerRows = rows.filter { $0.kind == "broker" }
        let workloads = ordered(brokerRows.map(\.workload))
        let names = ordered(brokerRows.map(\.name))
        let matrices: [(String, (LoadResult) -> Double)] = [
            ("throughput.dat", { $0.throughput }),
            ("latency-mean.dat", { $0.meanMicroseconds }),
            ("latency-p50.dat", { $0.percentileMicroseconds(50) }),
            ("latency-p99.dat", { $0.percentileMicroseconds(99) }),
        ]
        for (file, metric) in matrices {
            var text = "algorithm " + workloads.joined(separator: " ") + "\n"
            for name in names {
                let values = workloads.map { workload in
                    brokerRows.first { $0.workload == workload && $0.name == name }.map { format(metric($0.result), 1) }
                        ?? "NaN"
                }
                text += name + " " + values.joined(separator: " ") + "\n"
            }
            try save(text, directory, file)
        }
        var echo = "path throughput p50 p99\n"
        for row in rows where row.workload == "echo" {
            let label =
                switch row.kind {
                case BrokerDoor.zmq.rowKind: "broker-\(row.name)"
                // "match (kdb door)" → "kdb-door-match": one word, for gnuplot's columns.
                case BrokerDoor.kdb.rowKind: "kdb-door-\(row.name.prefix { $0 != " " })"
                default: row.name
                }
            echo +=
                "\(label) \(format(row.result.throughput, 0)) \(format(row.result.percentileMicroseconds(50), 1)) \(format(row.result.percentileMicroseconds(99), 1))\n"
        }
        try save(echo, directory, "echo-paths.dat")
    }

    /// `broker.csv`: a line per row, with the run's settings.
    static func brokerCSV(rows: [BenchRow], settings: [BenchCSV.Setting]) -> BenchCSV {
        var csv = BenchCSV(columns: BenchRow.csvColumns, settings: settings)
        for row in rows { csv.append(row.csvFields) }
        return csv
    }

    /// The broker run's plots (`broker --plot`): the sources in img/ that read its files.
    static let brokerPlots = ["bench-throughput.gp", "bench-latency.gp", "bench-latency-p99.gp", "bench-echo.gp"]

    /// The warm-sweep run's plot (`warm-sweep --plot`).
    static let warmSweepPlot = "bench-warm-sweep.gp"

    /// Where `--plot` writes its PNGs when given no `--plot-dir`: the plots bench/README.md shows.
    static let defaultPlotDirectory = "img"

    /// Checks, before anything is measured, what `--plot` needs at the end of the run, so that
    /// a mistake costs no run: the gnuplot `scripts` in img/ under the working directory, a
    /// plot directory (`--plot-dir`, else img/) that is there and can be written in, and
    /// gnuplot on `PATH`. (A `--plot-dir` without `--plot` is refused by
    /// ``BenchChecks/plotDependencies(plot:plotDirectory:csv:drawsFrom:)``.)
    /// A wrong directory is a usage error (`ValidationError`, exit 64, naming the option and
    /// the path); a missing gnuplot is a missing tool, reported as the bench reports a missing
    /// C compiler (`BenchError`, exit 1, with what to install).
    static func checkPlot(_ plot: Bool, directory given: String?, scripts: [String]) throws {
        guard plot else { return }
        let directory = given ?? defaultPlotDirectory
        if let missing = scripts.first(where: { !FileManager.default.fileExists(atPath: "img/\($0)") }) {
            throw ValidationError(
                "--plot draws with img/\(missing), which is not under \(FileManager.default.currentDirectoryPath): run from the package root"
            )
        }
        try BenchChecks.checkExistingDirectory(
            directory, option: "--plot-dir",
            note: given == nil ? "the default; give --plot-dir DIR to plot elsewhere" : nil)
        guard BenchChecks.isOnPath("gnuplot") else {
            throw BenchError(.setup, "--plot needs gnuplot, which is not on PATH (install gnuplot-nox: scripts/setup)")
        }
    }

    /// Runs gnuplot on `scripts` in img/ with `results` set to `directory`, each into a file
    /// beside its PNG in `output` that replaces the PNG only when gnuplot succeeded: a failed
    /// plot (a file it needs is missing, say) leaves the PNG there as it was, never emptied.
    /// gnuplot's own messages are shown only when it fails. `setup` (the run's servants and
    /// load, for the titles) is passed to the scripts that show it.
    static func plot(directory: String, scripts: [String], into output: String = "img", setup: String? = nil) {
        guard scripts.allSatisfy({ FileManager.default.fileExists(atPath: "img/\($0)") }) else {
            print("no img/\(scripts.first ?? "bench-*.gp") here: run from the package root to plot")
            return
        }
        for source in scripts {
            let png = "\(output)/\(source.dropLast(3)).png"
            let partial = "\(png).partial"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments =
                ["gnuplot", "-e", "results='\(directory)'", "-e", "plotfile='\(partial)'"]
                + (setup.map { ["-e", "setup='\($0.replacingOccurrences(of: "'", with: ""))'"] } ?? []) + ["img/\(source)"]
            let errors = Pipe()
            process.standardError = errors
            do {
                try BenchChildren.run(process)
            } catch {
                print("gnuplot is not available (\(error)); install gnuplot-nox to plot")
                return
            }
            let messages = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            BenchChildren.ended(process.processIdentifier)
            if process.terminationStatus == 0, (try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? Int) ?? 0 > 0 {
                // rename(2) replaces the PNG in one step: it is never missing, whatever happens.
                if rename(partial, png) == 0 {
                    print("plotted \(png)")
                } else {
                    print("cannot write \(png): \(String(cString: strerror(errno))); it was left as it was")
                    try? FileManager.default.removeItem(atPath: partial)
                }
            } else {
                try? FileManager.default.removeItem(atPath: partial)
                print("gnuplot failed on img/\(source); \(png) left as it was")
                if !messages.isEmpty { print(messages.trimmingCharacters(in: .whitespacesAndNewlines)) }
            }
        }
    }

    private static func ordered(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }

    private static func save(_ text: String, _ directory: String, _ file: String) throws {
        BenchChildren.flushOutput()
        do {
            try text.write(toFile: "\(directory)/\(file)", atomically: true, encoding: .utf8)
        } catch {
            throw BenchError(.output, "cannot write \(directory)/\(file): \(error)")
        }
    }
}
