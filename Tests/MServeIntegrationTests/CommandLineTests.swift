import Foundation
import MServeTestSupport
import Testing

extension IntegrationTests {
    /// The `mserve` command's own output: help and version go to standard output with status
    /// 0; a bad option is an error on standard error that points at the right help.
    @Suite struct CommandLineTests {
        @Test(arguments: [
            (["--help"], "USAGE: mserve <subcommand>"),
            (["-h"], "USAGE: mserve <subcommand>"),
            (["broker", "--help"], "USAGE: mserve broker <options>"),
            (["help", "servant"], "USAGE: mserve servant"),
            (["hub", "user", "--help"], "USAGE: mserve hub user"),
        ])
        func helpIsPrintedOnStandardOutput(arguments: [String], usage: String) async throws {
            let run = try await CommandRun.mserve(arguments)
            #expect(run.status == 0)
            #expect(run.output.hasPrefix("OVERVIEW:"), "\(run.output)")
            #expect(run.output.contains(usage), "\(run.output)")
            #expect(run.errors.isEmpty, "\(run.errors)")
        }

        @Test func theVersionIsPrintedOnStandardOutput() async throws {
            let run = try await CommandRun.mserve(["--version"])
            #expect(run.status == 0)
            #expect(run.output.hasPrefix("mserve "))
            #expect(run.output.contains("libzmq "))
            #expect(run.errors.isEmpty, "\(run.errors)")
        }

        @Test func anUnknownOptionIsAnErrorWithTheSubcommandsUsage() async throws {
            let run = try await CommandRun.mserve(["servant", "--no-such-option"])
            #expect(run.status == 64)
            #expect(run.output.isEmpty)
            #expect(run.errors.hasPrefix("Error: Unknown option '--no-such-option'"), "\(run.errors)")
            #expect(run.errors.contains("mserve servant --help"), "\(run.errors)")
        }
    }
}
