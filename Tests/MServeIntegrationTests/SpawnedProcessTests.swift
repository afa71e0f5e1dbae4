import Foundation
import MServeTestSupport
import Testing

extension IntegrationTests {
    /// The test support's child processes (`SpawnedProcess`): only standard input, output and
    /// error reach the child, and its exit is reported as Foundation's `Process` reports it.
    @Suite struct SpawnedProcessTests {
        static let shell = URL(fileURLWithPath: "/bin/sh")

        @Test func aChildGetsOnlyItsThreeStandardDescriptors() async throws {
            // A descriptor this process leaves open across exec.
            let inherited = dup(STDERR_FILENO)
            defer { close(inherited) }
            try #require(inherited > 2)
            let run = try await SpawnedProcess.run(URL(fileURLWithPath: "/bin/ls"), ["/proc/self/fd"])
            #expect(run.status == 0)
            // 3 is the one `ls` opens to read the directory.
            let descriptors = Set(run.output.split(separator: "\n").compactMap { Int32($0) })
            #expect(descriptors == [0, 1, 2, 3], "\(run.output)")
        }

        @Test func theExitCodeOrTheSignalIsTheStatus() async throws {
            #expect(try await SpawnedProcess.run(Self.shell, ["-c", "exit 3"]).status == 3)
            let sleeper = try SpawnedProcess(executable: Self.shell, arguments: ["-c", "exec sleep 30"], environment: [:])
            #expect(sleeper.isRunning)
            sleeper.terminate()
            await sleeper.waitUntilExit()
            #expect(!sleeper.isRunning)
            #expect(sleeper.terminationStatus == SIGTERM)
        }

        @Test func standardInputReachesTheChild() async throws {
            let run = try await CommandRun.run(Self.shell, ["-c", "read line; echo got $line"], input: "hello\n")
            #expect(run.status == 0)
            #expect(run.output == "got hello\n")
        }
    }
}
