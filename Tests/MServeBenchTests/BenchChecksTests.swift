// BenchChecksTests: the checks mserve-bench makes of option values before a run.

import ArgumentParser
import Foundation
import Testing

@testable import MServeBench

@Suite struct BenchChecksTests {
    /// The directory of a path is what comes before its last "/", for names of any length.
    @Test(arguments: [
        ("x", ""), ("0", ""), ("x.csv", ""), ("c/x.csv", "c"), ("c/", ""), ("cc/x.csv", "cc"),
        ("/x", "/"), ("/", "/"), ("a/b/c", "a/b"), ("a//b", "a"), ("./x", "."), ("/tmp/q/x.csv", "/tmp/q"),
    ])
    func theParentDirectoryIsBeforeTheLastSlash(path: String, parent: String) {
        #expect(BenchChecks.parentDirectory(of: path) == parent)
    }

    /// A one-character `--csv` file, or one in a missing one-character directory (which the
    /// run makes), is accepted: the check makes nothing itself.
    @Test(arguments: ["q", "0", "q/x.csv", "q/r/x.csv"])
    func aShortCSVPathIsAccepted(path: String) throws {
        try BenchChecks.checkOutputFile(path)
    }

    /// `mserve-bench help WORD` for a word that names no suite is refused, naming the suites;
    /// a suite's name, `help` itself and no word at all are left to the parser.
    @Test func helpForAnUnknownSuiteIsRefused() {
        #expect(
            MServeBench.unknownHelpTopic(["help", "nosuch"])
                == "'nosuch' is not an mserve-bench suite (suites: codec, query, dispatch, broker, echo-ratio, warm-sweep, memory, chaos, metrics, serve)")
        #expect(MServeBench.unknownHelpTopic(["help", "--verbose", "brokr"])?.hasPrefix("'brokr' is not") == true)
        for fine: [String] in [["help"], ["help", "broker"], ["help", "help"], ["broker", "nosuch"], []] {
            #expect(MServeBench.unknownHelpTopic(fine[...]) == nil, "\(fine)")
        }
    }

    /// An algorithm no plugin provides is refused with the plugins found and how to add one:
    /// its file in MSERVE_PLUGINS, or in the bench's directory. Before, the message named the
    /// directory alone (MSERVE_PLUGINS only when it was set).
    @Test func anUnknownAlgorithmSaysHowToAddOne() throws {
        let error = #expect(throws: ValidationError.self) {
            try BenchChecks.checkAlgorithms(["orig", "nosuch:1"], option: "--algorithms")
        }
        let message = try #require(error).message
        let directory = BenchProcess.buildDirectory.path
        #expect(message.hasPrefix("--algorithms: unknown dispatch algorithm \"nosuch\"; the plugins (libmserve-algorithm-*.so) in \(directory)"), "\(message)")
        #expect(message.contains(" provide: chbl, even, least-loaded, match, orig, route-by-function"), "\(message)")
        #expect(
            message.hasSuffix(
                "To add one, list its plugin file in MSERVE_PLUGINS (colon-separated paths), or put its plugin file, named libmserve-algorithm-NAME.so, in \(directory)."),
            "\(message)")
    }
}

/// An option that has meaning only with another one (or only without it) is refused where it
/// has none, before anything runs, in one style: `OPTION PURPOSE: give OTHER with it` (or
/// `give it without OTHER`), status 64. Given with its companion, it is accepted. Before,
/// `memory --rounds N` without `--large` and `warm-sweep --plot-dir img` without `--plot` were
/// ignored.
@Suite struct OptionDependencyTests {
    @Test(arguments: [
        (["memory", "--rounds", "3"], "--rounds says how many rounds --large runs: give --large with it"),
        (["memory", "--longs", "1000"], "--longs says how many longs each --large round echoes: give --large with it"),
        (["memory", "--string-bytes", "1000"], "--string-bytes says how long a string each --large round echoes: give --large with it"),
        (["memory", "--idle", "0"], "--idle says how long --large waits after its rounds: give --large with it"),
        // The default value, given, is refused too: it is the option given that does nothing.
        (["memory", "--servants", "bench"], "--servants says which servants --large echoes through: give --large with it"),
        (["memory", "--large", "--queries", "100"], "--queries is for the run of small queries (--large runs its own): give it without --large"),
        (["memory", "--large", "--every", "10"], "--every is for the run of small queries (--large runs its own): give it without --large"),
        (["memory", "--large", "--algorithm", "orig"], "--algorithm is for the run of small queries (--large runs its own): give it without --large"),
        (["memory", "--large", "--clients", "2"], "--clients is for the run of small queries (--large runs its own): give it without --large"),
        (["memory", "--large", "--in-flight", "2"], "--in-flight is for the run of small queries (--large runs its own): give it without --large"),
        (["memory", "--large", "--capacity", "2"], "--capacity is for the run of small queries (--large runs its own): give it without --large"),
        (["warm-sweep", "--plot-dir", "img"], "--plot-dir says where --plot writes its PNGs: give --plot with it"),
        (["warm-sweep", "--plot-dir", "/tmp", "--csv", "/tmp/x"], "--plot-dir says where --plot writes its PNGs: give --plot with it"),
        (["warm-sweep", "--plot"], "--plot draws from warm-sweep.dat, which --csv writes: give --csv DIR with it"),
        (["broker", "--plot-dir", "img"], "--plot-dir says where --plot writes its PNGs: give --plot with it"),
        (["broker", "--plot"], "--plot draws from the files --csv writes: give --csv DIR with it"),
    ])
    func anOptionWhereItHasNoMeaningIsRefused(arguments: [String], message: String) throws {
        let error = #expect(throws: (any Error).self) { try MServeBench.parseAsRoot(arguments) }
        let refusal = try #require(error)
        #expect(MServeBench.message(for: refusal) == message)
        #expect(MServeBench.exitCode(for: refusal) == .validationFailure)
    }

    /// With its companion, each of those options is taken.
    @Test(arguments: [
        ["memory", "--large", "--rounds", "3", "--longs", "1000", "--string-bytes", "1000", "--idle", "0", "--servants", "shipped"],
        ["memory", "--queries", "100", "--every", "10", "--algorithm", "orig", "--clients", "2", "--in-flight", "2", "--capacity", "2"],
    ])
    func anOptionWithItsCompanionIsTaken(arguments: [String]) throws {
        _ = try MServeBench.parseAsRoot(arguments)
    }

    /// Not given, the options stand for their defaults.
    @Test func theMemorySuiteDefaultsAreKept() throws {
        let suite = try #require(try MServeBench.parseAsRoot(["memory"]) as? MemorySuite)
        #expect(suite.queries == 1_000_000 && suite.every == 100_000 && suite.algorithm == "match")
        #expect(suite.clients == 4 && suite.inFlight == 16 && suite.capacity == nil)
        #expect(suite.rounds == 12 && suite.longs == 5_000_000 && suite.stringBytes == 10_000_000)
        #expect(suite.idle == 12 && suite.servants == "bench" && !suite.large)
    }
}
