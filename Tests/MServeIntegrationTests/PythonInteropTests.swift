import Foundation
import MServeProtocol
import MServeTestSupport
import Testing

extension IntegrationTests {
    /// docs/PROTOCOL.md is enough to write a client: a Python program using pyzmq and only
    /// the documented frames queries a real broker.
    @Suite struct PythonInteropTests {
        /// The virtualenv `scripts/setup` makes; required under CI.
        static var python: String? {
            let venv =
                ProcessInfo.processInfo.environment["MSERVE_VENV"]
                ?? "\(NSHomeDirectory())/.cache/mserve/venv"
            let path = "\(venv)/bin/python"
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }

        static var script: String {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Interop/pyzmq_client.py").path
        }

        @Test func aPyzmqClientWrittenFromTheProtocolDocumentWorks() async throws {
            guard let python = Self.python else {
                #expect(ProcessInfo.processInfo.environment["CI"] != "true", "run scripts/setup: no Python peers")
                return
            }
            let cluster = try await ProcessCluster.start(servants: 2)
            defer { cluster.stop() }
            let run = try await CommandRun.run(
                URL(fileURLWithPath: python), [Self.script, cluster.broker.endpoint], timeout: 180)
            let text = run.output + run.errors
            #expect(run.status == 0, "\(text)")
            #expect(text.contains("all checks passed"))
        }
    }
}
