import Foundation
import MServeTestSupport
import Synchronization
import Testing

extension IntegrationTests {
    /// The benchmark's C peers work with this build: `mserve broker` behind `msvecho`, the C
    /// servant that speaks the servant protocol, answers every query (bench/README.md), and
    /// an option that makes no sense is refused with a reason.
    @Suite struct BenchBaselineTests {
        static let bench = MServeProcess.buildDirectory.appendingPathComponent("mserve-bench")

        @Test func theBrokerAnswersBehindCServants() async throws {
            try await withTemporaryDirectory("mserve-bench-csv") { directory in
                let csv = "\(directory)/echo-ratio.csv"
                let run = try await CommandRun.run(
                    Self.bench,
                    ["echo-ratio", "--peer", "lbbroker", "--servant-kind", "c", "--rounds", "1", "--duration", "0.5", "--csv", csv],
                    // The C programs it compiles go to $TMPDIR/mserve-bench-c-HASH: this test's directory.
                    environment: ["TMPDIR": directory], timeout: 120)
                #expect(run.status == 0, "\(run.errors)")
                #expect(run.output.contains("broker with C servants (msvecho)"), "\(run.output)")
                let median = try #require(
                    run.output.split(separator: "\n").first { $0.hasPrefix("median") }, "\(run.output)")
                let columns = median.split(separator: " ")
                // median, lbbroker q/s, broker q/s, …
                let brokerRate = try #require(columns.count > 2 ? Double(columns[2]) : nil, "\(median)")
                #expect(brokerRate > 0, "\(median)")
                // The by-thread table: the lbbroker's main and I/O threads are measured apart, as
                // the broker's loop and I/O thread are.
                let medians = run.output.split(separator: "\n").filter { $0.hasPrefix("median") }
                #expect(medians.count == 2, "\(run.output)")
                let byThread = try #require(medians.last).split(separator: " ").dropFirst().compactMap { Double($0) }
                #expect(byThread.count == 8, "\(run.output)")
                #expect(byThread.prefix(4).allSatisfy { $0 > 0 }, "CPU of each thread: \(byThread)")
                // The CSV records the run's settings on its row, after the figures.
                let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
                #expect(lines.count == 2, "\(lines)")
                #expect(
                    lines.first?.hasSuffix(",algorithm,servant_kind,servants,capacity,clients,in_flight,duration_s,rounds,http") == true,
                    "\(lines)")
                #expect(lines.last?.hasPrefix("1,lbbroker,") == true, "\(lines)")
                #expect(lines.last?.hasSuffix(",orig,c,2,1,4,16,0.5,1,no") == true, "\(lines)")
            }
        }

        /// `--plot-dir` draws the plot there and leaves the committed one in img/ alone;
        /// without `--plot` it is refused.
        @Test func plotDirWritesThePlotThere() async throws {
            try await withTemporaryDirectory("mserve-bench-plot") { directory in
                let committed = try FileManager.default.attributesOfItem(atPath: "img/bench-warm-sweep.png")[.modificationDate] as? Date
                let run = try await CommandRun.run(
                    Self.bench,
                    ["warm-sweep", "--symbols", "2", "--algorithms", "orig", "--duration", "0.5", "--csv", directory, "--plot", "--plot-dir", directory],
                    timeout: 120)
                #expect(run.status == 0, "\(run.errors)")
                #expect(run.output.contains("plotted \(directory)/bench-warm-sweep.png"), "\(run.output)")
                let size = try FileManager.default.attributesOfItem(atPath: "\(directory)/bench-warm-sweep.png")[.size] as? Int
                #expect((size ?? 0) > 0)
                #expect(try FileManager.default.attributesOfItem(atPath: "img/bench-warm-sweep.png")[.modificationDate] as? Date == committed)
                let alone = try await CommandRun.run(Self.bench, ["warm-sweep", "--plot-dir", directory], timeout: 60)
                #expect(alone.status == 64)
                #expect(alone.errors.contains("--plot-dir says where --plot writes its PNGs: give --plot with it"), "\(alone.errors)")
            }
        }

        /// An option value that can only be wrong against the machine (an algorithm no plugin
        /// provides, a CSV path that cannot be written) or that makes no sense is refused
        /// before anything is measured or started: status 64, one line naming the option, no
        /// source location, no error inside an error.
        @Test(arguments: [
            (["broker", "--workload", "echo", "--algorithms", "orig,bogus", "--no-baselines", "--duration", "0.5"], "--algorithms: unknown dispatch algorithm \"bogus\""),
            (["dispatch", "--algorithms", "orig,bogus", "--iterations", "1000"], "--algorithms: unknown dispatch algorithm \"bogus\""),
            (["echo-ratio", "--algorithm", "bogus", "--rounds", "1", "--duration", "0.5"], "--algorithm: unknown dispatch algorithm \"bogus\""),
            (["chaos", "--algorithm", "bogus", "--queries", "100"], "--algorithm: unknown dispatch algorithm \"bogus\""),
            (["memory", "--algorithm", "bogus", "--queries", "100"], "--algorithm: unknown dispatch algorithm \"bogus\""),
            (["echo-ratio", "--csv", "Package.swift/x.csv", "--rounds", "1", "--duration", "0.5"], "--csv 'Package.swift/x.csv': 'Package.swift' is a file, not a directory"),
            (["memory", "--csv", "/proc/mserve-bench.csv", "--queries", "100"], "--csv '/proc/mserve-bench.csv': cannot write in the directory '/proc'"),
            (["broker", "--workload", "echo", "--algorithms", "orig", "--no-baselines", "--duration", "0.5", "--csv", "Package.swift"], "--csv 'Package.swift': 'Package.swift' is a file, not a directory"),
            (["chaos", "--csv", "Sources", "--queries", "100"], "--csv 'Sources' is a directory; give a file name"),
            // An empty or blank --csv is refused before the run, not found unwritable at its end.
            (["chaos", "--csv", "", "--queries", "100"], "--csv must name a file, got ''"),
            (["memory", "--csv", " ", "--queries", "100"], "--csv must name a file, got ' '"),
            (["echo-ratio", "--csv", "", "--rounds", "1", "--duration", "0.5"], "--csv must name a file, got ''"),
            (["broker", "--workload", "echo", "--algorithms", "orig", "--no-baselines", "--duration", "0.5", "--csv", ""], "--csv must name a directory, got ''"),
            (["warm-sweep", "--symbols", "2", "--algorithms", "orig", "--duration", "0.5", "--csv", "  "], "--csv must name a directory, got '  '"),
            (["chaos", "--crash-every", "0"], "--crash-every must be a number of seconds more than 0"),
            (["broker", "--workload", "echo", "--algorithms", "orig", "--no-baselines", "--duration", "0.5", "--capacity", "0"], "--capacity must be from 1 to 1000000, got 0"),
            // A negative count is the option's value, refused by its range, not a missing value.
            (["broker", "--workload", "echo", "--servants", "-2"], "--servants must be from 1 to 1000, got -2"),
            (["broker", "--workload", "echo", "--threads", "0"], "--threads must be from 1 to 1024, got 0"),
            (["broker", "--workload", "echo", "--in-flight", "-1"], "--in-flight must be from 1 to 100000, got -1"),
            (["broker", "--workload", "echo", "--duration", "-1"], "--duration must be more than 0 and at most 120 seconds, got -1.0"),
            (["echo-ratio", "--clients", "-3"], "--clients must be from 1 to 10000, got -3"),
            (["warm-sweep", "--cache", "0"], "--cache must be from 1 to 1000000, got 0"),
            (["chaos", "--servants", "-2"], "--servants must be ≥ 2 (one is crashed while the others serve), got -2"),
            (["memory", "--queries", "-5"], "--queries must be from 1 to 100000000, got -5"),
            (["metrics", "--iterations", "-1"], "--iterations must be from 1 to 10000000000, got -1"),
            (["serve", "--threads", "-1"], "--threads must be from 1 to 1024, got -1"),
            // A count or duration too large to run (memory, overflow, a run for ages) is refused
            // before anything starts, not found by a crash mid-run.
            (["chaos", "--clients", "99999999999"], "--clients must be from 1 to 10000, got 99999999999"),
            (["chaos", "--servants", "99999999999"], "--servants must be from 2 to 1000, got 99999999999"),
            (["chaos", "--crash-every", "1e30"], "--crash-every must be a number of seconds more than 0 to 86400 (a day), got 1e+30"),
            (["chaos", "--clients", "10000", "--in-flight", "1000"], "--clients × --in-flight must be at most 1000000 queries in flight, got 10000 × 1000"),
            (["memory", "--clients", "99999999999"], "--clients must be from 1 to 10000, got 99999999999"),
            (["memory", "--every", "99999999999"], "--every must be from 1 to 100000000, got 99999999999"),
            (["memory", "--large", "--longs", "99999999999"], "--longs must be from 1 to 8000000, got 99999999999"),
            (["memory", "--large", "--string-bytes", "99999999999"], "--string-bytes must be from 1 to 64000000, got 99999999999"),
            (["memory", "--large", "--rounds", "99999999999"], "--rounds must be from 1 to 10000, got 99999999999"),
            (["memory", "--large", "--idle", "1e30"], "--idle must be a number of seconds from 0 to 86400 (a day), got 1e+30"),
            (["echo-ratio", "--in-flight", "99999999999"], "--in-flight must be from 1 to 100000, got 99999999999"),
            (["echo-ratio", "--rounds", "99999999999"], "--rounds must be from 1 to 10000, got 99999999999"),
            (["echo-ratio", "--capacity", "99999999999"], "--capacity must be from 1 to 1000000, got 99999999999"),
            (["broker", "--threads", "99999999999"], "--threads must be from 1 to 1024, got 99999999999"),
            (["broker", "--symbols", "99999999999"], "--symbols must be from 1 to 1000000, got 99999999999"),
            (["warm-sweep", "--servants", "99999999999"], "--servants must be from 1 to 1000, got 99999999999"),
            (["warm-sweep", "--symbols", "2,99999999999"], "--symbols must list counts from 1 to 1000000, e.g. 2,4,8, got '2,99999999999'"),
            (["dispatch", "--iterations", "99999999999"], "--iterations must be from 1000 to 10000000000, got 99999999999"),
            (["metrics", "--iterations", "99999999999"], "--iterations must be from 1 to 10000000000, got 99999999999"),
            (["serve", "--cache", "99999999999"], "--cache must be from 1 to 1000000, got 99999999999"),
            // An empty item in a list is refused, not dropped.
            (["dispatch", "--servants", "2,,16"], "--servants must list counts from 1 to 10000, e.g. 2,16, got '2,,16'"),
            (["dispatch", "--algorithms", "orig,,match"], "--algorithms has an empty item, got 'orig,,match'"),
            // --plot's needs are checked before the run, not found at its end.
            (["warm-sweep", "--symbols", "2", "--algorithms", "orig", "--duration", "0.5", "--csv", "/tmp/mserve-bench-unwritten", "--plot", "--plot-dir", "/proc"], "--plot-dir '/proc': cannot write in the directory"),
            (["broker", "--workload", "echo", "--algorithms", "orig", "--no-baselines", "--duration", "0.5", "--csv", "/tmp/mserve-bench-unwritten", "--plot", "--plot-dir", "/proc"], "--plot-dir '/proc': cannot write in the directory"),
            (["warm-sweep", "--symbols", "2", "--algorithms", "orig", "--duration", "0.5", "--csv", "/tmp/mserve-bench-unwritten", "--plot", "--plot-dir", "/nonexistent/plots"], "--plot-dir '/nonexistent/plots' does not exist"),
            (["warm-sweep", "--symbols", "2", "--algorithms", "orig", "--duration", "0.5", "--csv", "/tmp/mserve-bench-unwritten", "--plot", "--plot-dir", "/proc/version"], "--plot-dir '/proc/version' is not a directory"),
            // A word from a list of choices is named when it is none of them.
            (["broker", "--workload", "bogus"], "--workload must be echo, warm, skew, large or all, got 'bogus'"),
            (["broker", "--door", "bogus"], "--door must be zmq, kdb or both, got 'bogus'"),
            (["echo-ratio", "--peer", "bogus"], "--peer must be zmq_proxy or lbbroker, got 'bogus'"),
            (["echo-ratio", "--servant-kind", "bogus"], "--servant-kind must be mserve, or c with --peer lbbroker, got 'bogus'"),
            (["memory", "--large", "--servants", "bogus"], "--servants must be bench or shipped, got 'bogus'"),
            // An option that has meaning only with another is refused without it, not ignored
            // (each suite's are listed in BenchChecksTests).
            (["memory", "--rounds", "1", "--queries", "100"], "--rounds says how many rounds --large runs: give --large with it"),
            (["memory", "--large", "--queries", "100", "--rounds", "1", "--longs", "10", "--string-bytes", "10", "--idle", "0"], "--queries is for the run of small queries (--large runs its own): give it without --large"),
            (["warm-sweep", "--plot-dir", "img", "--symbols", "2", "--algorithms", "orig", "--duration", "0.5"], "--plot-dir says where --plot writes its PNGs: give --plot with it"),
            (["broker", "--plot", "--workload", "echo", "--algorithms", "orig", "--no-baselines", "--duration", "0.5"], "--plot draws from the files --csv writes: give --csv DIR with it"),
        ])
        func wrongOptionValuesAreRefusedFirst(arguments: [String], message: String) async throws {
            let run = try await CommandRun.run(Self.bench, arguments, timeout: 60)
            #expect(run.status == 64, "\(run.output)\(run.errors)")
            #expect(run.errors.contains(message), "\(run.errors)")
            #expect(run.output.isEmpty, "nothing measured: \(run.output)")
            #expect(!run.errors.contains(".swift:"), "\(run.errors)")
            #expect(run.errors.components(separatedBy: "Error:").count <= 2, "\(run.errors)")
        }

        /// A suite whose output reader goes (`| head -1`) stops as for SIGPIPE: status 141, and
        /// no CSV for the run, though the run would have gone on for long.
        @Test func aSuiteStopsWhenItsReaderGoes() async throws {
            try await withTemporaryDirectory("mserve-bench-pipe") { directory in
                let csv = "\(directory)/chaos.csv"
                let (first, status) = try await Self.readFirstLineAndGo(["chaos", "--queries", "100000", "--csv", csv])
                #expect(first.hasPrefix("mserve-bench chaos:"))
                #expect(status == 141)
                #expect(!FileManager.default.fileExists(atPath: csv))
            }
        }

        /// The in-process suites print each figure as it is measured, so `| head -1` has its
        /// line at once and stops them (status 141) while the rest would still run: before,
        /// they printed everything at their end and `codec | head -1` exited 0 after it all.
        @Test(arguments: [(["codec"], "codec: 1M long vector"), (["query"], "query: parse + route")])
        func anInProcessSuiteStopsWhenItsReaderGoes(arguments: [String], firstLine: String) async throws {
            let (first, status) = try await Self.readFirstLineAndGo(arguments)
            #expect(first.hasPrefix(firstLine), "\(first)")
            #expect(status == 141)
        }

        /// Runs `mserve-bench ARGUMENTS`, reads the first line of its output, then closes the
        /// reading end as `head -1` does; returns the line and the bench's exit status (nil
        /// when it was still running a minute later and had to be stopped, or died by a signal).
        /// A benchmark killed with SIGKILL runs none of its own cleanup: its children (broker,
        /// servants) die with it all the same (their parent-death signal), instead of running
        /// on without a parent.
        @Test func theChildrenOfAKilledBenchmarkDieWithIt() async throws {
            // No crash for an hour: the children the test sees are the run's.
            let process = try SpawnedProcess(
                executable: Self.bench, arguments: ["chaos", "--queries", "10000000", "--crash-every", "3600"],
                environment: ProcessInfo.processInfo.environment)
            // Read to their end, so that a full pipe never holds the run.
            ByteCollector().collect(from: process.standardOutput)
            ByteCollector().collect(from: process.standardError)
            func children() -> [Int32] {
                let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.pid)/task")) ?? []
                return tasks.flatMap { task in
                    ((try? String(contentsOfFile: "/proc/\(process.pid)/task/\(task)/children", encoding: .utf8)) ?? "")
                        .split(separator: " ").compactMap { Int32($0) }
                }
            }
            /// CPU seconds `pid` has used.
            func cpuSeconds(_ pid: Int32) -> Double {
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { return 0 }
                let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
                guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
                return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
            }
            // The broker and its three servants, every one past its start (a child still
            // writing its endpoint line would die of the closed pipe whatever else happens):
            // the broker is answering queries.
            var started: [Int32] = []
            let allStarted = await eventually(timeout: .seconds(120)) {
                started = children()
                return started.count >= 4 && cpuSeconds(started.min() ?? 0) > 0.5
            }
            process.kill()
            await process.waitUntilExit()
            #expect(allStarted, "children: \(started)")
            func running(_ pid: Int32) -> Bool {
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { return false }
                return !stat[stat.index(close, offsetBy: 2)...].hasPrefix("Z")
            }
            let gone = await eventually(timeout: .seconds(20)) { !started.contains(where: running) }
            for pid in started where running(pid) { kill(pid, SIGKILL) }
            #expect(gone, "still running: \(started.filter(running))")
        }

        static func readFirstLineAndGo(_ arguments: [String]) async throws -> (firstLine: String, status: Int32?) {
            let process = try SpawnedProcess(
                executable: Self.bench, arguments: arguments, environment: ProcessInfo.processInfo.environment)
            ByteCollector().collect(from: process.standardError)
            // Read on a thread of its own, as blocking reads: the first line may take seconds on
            // a loaded machine, and a blocked thread of the concurrency pool stalls every test.
            let reader = process.standardOutput
            let read = Mutex<Result<Data, any Error>?>(nil)
            Thread.detachNewThread {
                let outcome = Result { () throws -> Data in
                    var first = Data()
                    while !first.contains(UInt8(ascii: "\n")), let chunk = try reader.read(upToCount: 1) {
                        first.append(chunk)
                    }
                    try reader.close()
                    return first
                }
                read.withLock { $0 = outcome }
            }
            while read.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(5)) }
            let first = try read.withLock { $0 }!.get()
            let giveUp = Date().addingTimeInterval(60)
            while process.isRunning, Date() < giveUp { try await Task.sleep(for: .milliseconds(50)) }
            let stillRunning = process.isRunning
            if stillRunning { process.terminate() }
            await process.waitUntilExit()
            let status = stillRunning ? nil : process.exitCode
            return (String(decoding: first, as: UTF8.self), status)
        }

        /// `--plot` without gnuplot on PATH is refused before the run, as a missing tool:
        /// status 1 and what to install, as for a missing C compiler, and nothing measured.
        @Test func plotWithoutGnuplotIsRefusedFirst() async throws {
            try await withTemporaryDirectory("mserve-bench-path") { emptyPath in
                try await withTemporaryDirectory("mserve-bench-plot") { directory in
                    let run = try await CommandRun.run(
                        Self.bench,
                        ["warm-sweep", "--symbols", "2", "--algorithms", "orig", "--duration", "0.5", "--csv", directory, "--plot", "--plot-dir", directory],
                        environment: ["PATH": emptyPath], timeout: 60)
                    #expect(run.status == 1, "\(run.output)\(run.errors)")
                    #expect(run.errors.contains("Error: --plot needs gnuplot, which is not on PATH (install gnuplot-nox: scripts/setup)"), "\(run.errors)")
                    #expect(run.output.isEmpty, "nothing measured: \(run.output)")
                }
            }
        }

        /// The unknown-algorithm message says where the plugins were looked for, and how to
        /// add one.
        @Test func anUnknownAlgorithmNamesThePluginDirectory() async throws {
            let run = try await CommandRun.run(Self.bench, ["dispatch", "--algorithms", "bogus"], timeout: 60)
            #expect(run.status == 64)
            #expect(run.errors.contains("libmserve-algorithm-*.so) in \(MServeProcess.buildDirectory.path)"), "\(run.errors)")
            #expect(run.errors.contains("To add one, list its plugin file in MSERVE_PLUGINS"), "\(run.errors)")
        }

        /// `dispatch` prints a shipped plugin's long name whole, apart from the servant count
        /// (before: `route-by-functio2`).
        @Test func dispatchKeepsALongAlgorithmNameWhole() async throws {
            let run = try await CommandRun.run(
                Self.bench, ["dispatch", "--algorithms", "orig,route-by-function", "--servants", "2", "--iterations", "1000"],
                timeout: 60)
            #expect(run.status == 0, "\(run.errors)")
            let lines = run.output.split(separator: "\n")
            #expect(lines.contains { $0.hasPrefix("algorithm          servants   ns/iteration") }, "\(run.output)")
            #expect(lines.contains { $0.hasPrefix("route-by-function  2          ") }, "\(run.output)")
        }

        /// `broker` prints a long row name whole (before: `route-by-function (kdb d`).
        @Test func brokerKeepsALongRowNameWhole() async throws {
            let run = try await CommandRun.run(
                Self.bench,
                ["broker", "--workload", "echo", "--algorithms", "route-by-function", "--door", "kdb", "--no-baselines", "--duration", "0.5"],
                timeout: 120)
            #expect(run.status == 0, "\(run.errors)")
            #expect(
                run.output.split(separator: "\n").contains { $0.hasPrefix("echo   route-by-function (kdb door) ") }, "\(run.output)")
        }

        /// `memory --large --csv FILE` prints a plot command that writes beside the CSV, not
        /// over the committed img/bench-memory-large.png (before, it gave no `plotfile`).
        @Test func theLargeMemoryPlotCommandWritesBesideTheCSV() async throws {
            try await withTemporaryDirectory("mserve-bench-memory") { directory in
                let run = try await CommandRun.run(
                    Self.bench,
                    ["memory", "--large", "--rounds", "1", "--longs", "1000", "--string-bytes", "1000", "--idle", "0", "--csv", "\(directory)/run.csv"],
                    timeout: 120)
                #expect(run.status == 0, "\(run.errors)")
                #expect(run.output.contains("-e \"plotfile='\(directory)/run.png'\" img/bench-memory-large.gp)"), "\(run.output)")
            }
        }

        /// An algorithm of a plugin file MSERVE_PLUGINS lists is measured by `dispatch`, as the
        /// unknown-algorithm message says. Before, the check took it and the run then refused
        /// it as unknown (it loaded the bench's directory alone).
        @Test func dispatchMeasuresAnAlgorithmOfMservePlugins() async throws {
            try await withTemporaryDirectory("mserve-bench-plugin") { directory in
                let library = try await DispatchPluginTests.compilePlugin(
                    """
                    #include "mserve_plugin.h"
                    /* The first free servant: a tiny algorithm in C. */
                    static int state;
                    static void *create(const char *config) { (void)config; return &state; }
                    static int64_t choose(void *s, const char *routing, const mserve_servant_view *servants, size_t count) {
                        (void)s; (void)routing;
                        for (size_t i = 0; i < count; i++) if (servants[i].in_flight < servants[i].capacity) return (int64_t)i;
                        return MSERVE_DISPATCH_WAIT;
                    }
                    static void completed(void *s, const mserve_servant_view *v, const char *r, uint64_t ns) { (void)s; (void)v; (void)r; (void)ns; }
                    static void destroy(void *s) { (void)s; }
                    static const mserve_dispatch_plugin table = {
                        2, "first-free-c", "the first free servant", create, choose, completed, destroy, NULL };
                    const mserve_dispatch_plugin *mserve_dispatch_plugin_entry(void) { return &table; }
                    """, named: "firstfree", in: directory)
                let run = try await CommandRun.run(
                    Self.bench, ["dispatch", "--algorithms", "first-free-c", "--servants", "2", "--iterations", "1000"],
                    environment: ["MSERVE_PLUGINS": library], timeout: 60)
                #expect(run.status == 0, "\(run.output)\(run.errors)")
                #expect(run.output.contains("\nfirst-free-c"), "\(run.output)")
            }
        }

        @Test func cServantsNeedTheLbbrokerPeer() async throws {
            let run = try await CommandRun.run(Self.bench, ["echo-ratio", "--servant-kind", "c"], timeout: 60)
            #expect(run.status != 0)
            #expect(run.errors.contains("--servant-kind must be mserve, or c with --peer lbbroker"), "\(run.errors)")
        }
    }
}
