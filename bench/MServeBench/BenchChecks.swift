import ArgumentParser
import Foundation
import MServePlugin

/// Checks of option values that can only be made against the machine (the plugins built,
/// the file system), made before any measurement so that a mistake costs no run: each throws
/// a `ValidationError` (exit 64) naming the option.
enum BenchChecks {
    /// Upper bounds of counts and durations: a run on a big machine fits, while a value that
    /// would exhaust memory or overflow a computation is refused before anything starts.
    enum Limit {
        /// Client connections.
        static let clients = 10_000
        /// Queries in flight per client.
        static let inFlight = 100_000
        /// Queries in flight over all clients (each holds its send time and its reply).
        static let totalInFlight = 1_000_000
        /// Servant processes started (each is a process of its own).
        static let servantProcesses = 1_000
        /// Worker threads per servant.
        static let threads = 1_024
        /// Queries the broker may keep at each servant.
        static let capacity = 1_000_000
        /// Rounds of a suite.
        static let rounds = 10_000
        /// Symbols: a warm cache's size, or the K workloads draw from.
        static let symbols = 1_000_000
        /// Seconds of an idle wait or between crashes: a day.
        static let seconds = 86_400.0
        /// Iterations of an in-process measurement.
        static let iterations = 10_000_000_000
        /// Longs in one `memory --large` vector, and bytes in its string: each echoed as one
        /// message under the broker's default 64 MiB limit (header included).
        static let longs = 8_000_000
        static let stringBytes = 64_000_000
    }

    /// An option that has meaning only with another one (`--plot-dir` with `--plot`) or only
    /// without it (`memory --queries`, for the run without `--large`). Given where it has none,
    /// it would be ignored: ``checkDependencies(_:)`` refuses it instead.
    struct OptionDependency {
        /// How the option depends on the other one.
        enum Kind {
            case onlyWith, onlyWithout
        }

        /// The option, as typed: `--plot-dir`.
        var option: String
        /// Whether the command line gave it.
        var isGiven: Bool
        /// What it does, completing "OPTION …": "says where --plot writes its PNGs".
        var purpose: String
        /// Whether the option needs `other`, or has no meaning with it.
        var kind: Kind
        /// The other option, as the message names it: `--plot`, `--csv DIR`.
        var other: String
        /// Whether the command line gave the other option.
        var isOtherGiven: Bool

        /// `option` (given or not: `isGiven`) has meaning only with `other`.
        static func onlyWith(
            _ option: String, given isGiven: Bool, _ purpose: String, other: String, otherGiven: Bool
        ) -> Self {
            Self(option: option, isGiven: isGiven, purpose: purpose, kind: .onlyWith, other: other, isOtherGiven: otherGiven)
        }

        /// `option` (given or not: `isGiven`) has no meaning with `other`.
        static func onlyWithout(
            _ option: String, given isGiven: Bool, _ purpose: String, other: String, otherGiven: Bool
        ) -> Self {
            Self(option: option, isGiven: isGiven, purpose: purpose, kind: .onlyWithout, other: other, isOtherGiven: otherGiven)
        }

        /// The message refusing the option, or nil when it is not given or has its meaning:
        /// `OPTION PURPOSE: give OTHER with it`, or `…: give it without OTHER`.
        var refusal: String? {
            guard isGiven else { return nil }
            switch kind {
            case .onlyWith: return isOtherGiven ? nil : "\(option) \(purpose): give \(other) with it"
            case .onlyWithout: return isOtherGiven ? "\(option) \(purpose): give it without \(other)" : nil
            }
        }
    }

    /// Refuses the first option of `dependencies` given where it has no meaning (without the
    /// option it needs, or with one it has no meaning with), so that no option given is
    /// silently ignored. Every suite checks its options' dependencies here, first of all.
    static func checkDependencies(_ dependencies: [OptionDependency]) throws {
        if let refusal = dependencies.lazy.compactMap(\.refusal).first { throw ValidationError(refusal) }
    }

    /// The dependencies of `--plot` and `--plot-dir` (`broker`, `warm-sweep`): `--plot-dir`
    /// only with `--plot`, and `--plot` only with `--csv`, whose files it draws (`drawsFrom`).
    static func plotDependencies(plot: Bool, plotDirectory: String?, csv: String?, drawsFrom: String) -> [OptionDependency] {
        [
            .onlyWith("--plot-dir", given: plotDirectory != nil, "says where --plot writes its PNGs", other: "--plot", otherGiven: plot),
            .onlyWith("--plot", given: plot, "draws from \(drawsFrom)", other: "--csv DIR", otherGiven: csv != nil),
        ]
    }

    /// Refuses the first of `options` (name, value) outside `range`, naming it and its value.
    static func checkRange(_ range: ClosedRange<Int>, _ options: (String, Int)...) throws {
        for (option, value) in options { try checkRange(value, range, option: option) }
    }

    /// Refuses a number of clients or of queries in flight per client out of its range, and
    /// more queries in flight over all clients than ``Limit/totalInFlight``.
    static func checkClientLoad(clients: Int, inFlight: Int) throws {
        try checkRange(clients, 1...Limit.clients, option: "--clients")
        try checkRange(inFlight, 1...Limit.inFlight, option: "--in-flight")
        let (total, overflow) = clients.multipliedReportingOverflow(by: inFlight)
        guard !overflow, total <= Limit.totalInFlight else {
            throw ValidationError(
                "--clients × --in-flight must be at most \(Limit.totalInFlight) queries in flight, got \(clients) × \(inFlight)")
        }
    }

    /// Refuses a number of seconds that is not finite, below 0 (or at 0 unless `zeroAllowed`),
    /// or above a day, naming the option and the value.
    static func checkSeconds(_ value: Double, option: String, zeroAllowed: Bool) throws {
        guard value.isFinite, zeroAllowed ? value >= 0 : value > 0, value <= Limit.seconds else {
            throw ValidationError(
                "\(option) must be a number of seconds \(zeroAllowed ? "from 0" : "more than 0") to \(Int(Limit.seconds)) (a day), got \(value)")
        }
    }

    /// The counts of a comma-separated list, each in `range`, none missing; else refused
    /// naming the option and the value (`example`: a good value).
    static func parseCounts(_ text: String, option: String, range: ClosedRange<Int>, example: String) throws -> [Int] {
        let counts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        guard !counts.isEmpty, counts.allSatisfy({ $0.map(range.contains) ?? false }) else {
            throw ValidationError(
                "\(option) must list counts from \(range.lowerBound) to \(range.upperBound), e.g. \(example), got '\(text)'")
        }
        return counts.compactMap { $0 }
    }

    /// Refuses `value` outside `range`, naming the option and the value.
    static func checkRange(_ value: Int, _ range: ClosedRange<Int>, option: String) throws {
        guard range.contains(value) else {
            throw ValidationError("\(option) must be from \(range.lowerBound) to \(range.upperBound), got \(value)")
        }
    }

    /// Refuses a `--duration` that is not more than 0 and at most 120 seconds.
    static func checkDuration(_ duration: Double, option: String = "--duration") throws {
        guard duration > 0, duration <= 120 else {
            throw ValidationError("\(option) must be more than 0 and at most 120 seconds, got \(duration)")
        }
    }

    /// The plugin files `MSERVE_PLUGINS` lists (colon-separated paths), which the brokers the
    /// bench starts load too (they inherit its environment).
    static var extraPluginPaths: [String] {
        ProcessInfo.processInfo.environment["MSERVE_PLUGINS"]?.split(separator: ":").map(String.init) ?? []
    }

    /// The dispatch plugins a suite may use, as the broker loads them: those next to the bench
    /// (and `mserve`), then those of `MSERVE_PLUGINS`.
    static func pluginRegistry() throws(PluginError) -> DispatchPluginRegistry {
        try DispatchPluginRegistry(directories: [BenchProcess.buildDirectory.path], extraPaths: extraPluginPaths)
    }

    /// Refuses a dispatch algorithm (`name` or `name:config`) that no plugin the broker would
    /// load provides (``pluginRegistry()``), naming the plugins found and how to add one.
    static func checkAlgorithms(_ specs: [String], option: String) throws {
        guard specs.contains(where: { !$0.isEmpty }) else {
            throw ValidationError("\(option) must name at least one dispatch algorithm, e.g. orig,match")
        }
        guard specs.allSatisfy({ !$0.isEmpty }) else {
            throw ValidationError("\(option) has an empty item, got '\(specs.joined(separator: ","))'")
        }
        let directory = BenchProcess.buildDirectory.path
        let extra = extraPluginPaths
        let names: [String]
        do {
            names = try pluginRegistry().plugins.map(\.name)
        } catch {
            throw ValidationError("\(option): \(error)")
        }
        for spec in specs {
            let name = String(spec.prefix { $0 != ":" })
            guard names.contains(name) else {
                let found = names.isEmpty ? "none" : names.sorted().joined(separator: ", ")
                let prefix = DispatchPluginRegistry.fileNamePrefix
                let suffix = DispatchPluginRegistry.fileNameSuffix
                throw ValidationError(
                    "\(option): unknown dispatch algorithm \"\(name)\"; the plugins (\(prefix)*\(suffix)) in \(directory)\(extra.isEmpty ? "" : " and MSERVE_PLUGINS") provide: \(found). To add one, list its plugin file in MSERVE_PLUGINS (colon-separated paths), or put its plugin file, named \(prefix)NAME\(suffix), in \(directory)."
                )
            }
        }
    }

    /// Refuses a `--csv` file the run could not write at its end: a directory, or a file in a
    /// directory that cannot be made or written.
    static func checkOutputFile(_ path: String, option: String = "--csv") throws {
        try checkNotBlank(path, option: option, what: "a file")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { throw ValidationError("\(option) '\(path)' is a directory; give a file name") }
            guard access(path, W_OK) == 0 else { throw ValidationError("\(option) '\(path)' cannot be written") }
            return
        }
        try checkDirectoryCanBeMade(parentDirectory(of: path), for: path, option: option)
    }

    /// Refuses a `--csv` directory the run could not write its files in: a file, or a
    /// directory that cannot be made or written.
    static func checkOutputDirectory(_ path: String, option: String = "--csv") throws {
        try checkNotBlank(path, option: option, what: "a directory")
        try checkDirectoryCanBeMade(path, for: path, option: option)
    }

    /// Refuses an empty or blank path: there is nothing to write to.
    private static func checkNotBlank(_ path: String, option: String, what: String) throws {
        guard path.contains(where: { !$0.isWhitespace }) else {
            throw ValidationError("\(option) must name \(what), got '\(path)'")
        }
    }

    /// Makes the directory a `--csv` file is to be written in, if it is missing.
    static func makeParentDirectory(of path: String) throws {
        let parent = parentDirectory(of: path)
        guard !parent.isEmpty else { return }
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
    }

    /// Refuses a directory that is not there, or that the run could not write its files in
    /// (`--plot-dir`: the run makes no directory for its plots). `note`, when given, follows
    /// the reason (what the default is, say).
    static func checkExistingDirectory(_ path: String, option: String, note: String? = nil) throws {
        let suffix = note.map { " (\($0))" } ?? ""
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ValidationError("\(option) '\(path)' does not exist\(suffix)")
        }
        guard isDirectory.boolValue else {
            throw ValidationError("\(option) '\(path)' is not a directory\(suffix)")
        }
        guard canWrite(inDirectory: path) else {
            throw ValidationError("\(option) '\(path)': cannot write in the directory\(suffix)")
        }
    }

    /// Whether an executable named `name` is in a directory of `PATH`, where `/usr/bin/env`
    /// (which the bench starts its tools with) looks for it.
    static func isOnPath(_ name: String) -> Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":", omittingEmptySubsequences: false).contains { directory in
            FileManager.default.isExecutableFile(atPath: (directory.isEmpty ? "." : String(directory)) + "/" + name)
        }
    }

    /// Whether `directory` is a writable directory, or could be made in a writable one.
    private static func checkDirectoryCanBeMade(_ directory: String, for path: String, option: String) throws {
        var existing = directory.isEmpty ? "." : directory
        var isDirectory: ObjCBool = false
        while !FileManager.default.fileExists(atPath: existing, isDirectory: &isDirectory) {
            let parent = parentDirectory(of: existing)
            existing = parent.isEmpty ? "." : parent
        }
        guard isDirectory.boolValue else {
            throw ValidationError("\(option) '\(path)': '\(existing)' is a file, not a directory")
        }
        guard canWrite(inDirectory: existing) else {
            throw ValidationError("\(option) '\(path)': cannot write in the directory '\(existing)'")
        }
    }

    /// The directory `path` is in: what comes before its last "/" ("" for a bare name in the
    /// current directory, "/" for a name at the root), trailing slashes aside. Split by hand:
    /// Foundation's `deletingLastPathComponent` traps on some one-character names.
    static func parentDirectory(of path: String) -> String {
        var name = Substring(path)
        while name.count > 1, name.hasSuffix("/") { name = name.dropLast() }
        guard let slash = name.lastIndex(of: "/") else { return "" }
        var parent = name[..<slash]
        while parent.count > 1, parent.hasSuffix("/") { parent = parent.dropLast() }
        return parent.isEmpty ? "/" : String(parent)
    }

    /// Whether a file can be made in the existing `directory`: tried rather than asked
    /// (access(2) says yes to root, even on /proc).
    private static func canWrite(inDirectory directory: String) -> Bool {
        let probe = (directory.hasSuffix("/") ? directory : directory + "/") + ".mserve-bench-\(getpid()).probe"
        guard FileManager.default.createFile(atPath: probe, contents: nil) else { return false }
        unlink(probe)
        return true
    }
}
