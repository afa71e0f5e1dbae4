// BenchChecksTests: the checks mserve-bench makes of option values before a run.

import ArgumentParser
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
}
