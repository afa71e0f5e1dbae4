import Foundation
import MServeTestSupport
import Testing

extension IntegrationTests {
    /// A serving process raises its open-files limit to the hard limit as it starts (each
    /// connection takes a descriptor, and a soft limit of 1,024 is used up by a thousand idle
    /// peers), and warns when the limit stays low.
    @Suite struct OpenFileLimitTests {
        /// The soft and hard "Max open files" of process `pid`.
        static func openFileLimits(of pid: Int32) throws -> (soft: String, hard: String) {
            let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
            let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
            let fields = line.dropFirst("Max open files".count).split(separator: " ")
            return (String(fields[0]), String(fields[1]))
        }

        /// A servant started under `limits` (shell `ulimit` options), from a shell that execs it.
        static func servant(under limits: String) async throws -> MServeProcess {
            try await MServeProcess(
                "servant", ["-c", "ulimit \(limits) && exec \"$0\" servant --bind tcp://127.0.0.1:0", MServeProcess.executable.path],
                executable: URL(fileURLWithPath: "/bin/sh"))
        }

        @Test func theSoftLimitIsRaisedToTheHardLimit() async throws {
            let servant = try await Self.servant(under: "-Sn 512")
            defer { servant.stop() }
            let (soft, hard) = try Self.openFileLimits(of: servant.pid)
            #expect(soft == hard, "soft \(soft), hard \(hard)")
            #expect(!servant.logs.contains("the open-files limit is"))
        }

        @Test func aLowHardLimitIsWarnedOf() async throws {
            let servant = try await Self.servant(under: "-n 1000")
            defer { servant.stop() }
            #expect(try Self.openFileLimits(of: servant.pid) == ("1000", "1000"))
            #expect(await eventually { servant.logs.contains("the open-files limit is 1000") }, "\(servant.logs)")
        }
    }
}
