import Foundation
import MServeBroker
import MServeServant
import MServeTestSupport
import MServeTesting
import POSIXSockets
import QData
import Testing

/// A result too large for the broker's message limit reaches pykx, kola and qpython as a
/// readable failure with its id and info (Tests/Interop/kdb_*_failures.py, their
/// `reply-too-large` mode): a broker in this process, whose limit can be set small, with a
/// kdb+ door and a servant serving `big[]`, 80 KB of longs.
@Suite struct ReplyTooLargeInteropTests {
    static var interop: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Interop")
    }

    static func python(_ venv: String, _ variable: String) -> String? {
        let directory = ProcessInfo.processInfo.environment[variable] ?? "\(NSHomeDirectory())/.cache/mserve/\(venv)"
        let path = "\(directory)/bin/python"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    @Test(arguments: ["kdb_pykx_failures.py", "kdb_kola_failures.py", "kdb_qpython_failures.py"])
    func aReplyTooLargeIsReadableByEveryLibrary(script: String) async throws {
        let qpython = script.contains("qpython")
        guard let python = qpython ? Self.python("venv-qpython", "MSERVE_QPYTHON_VENV") : Self.python("venv", "MSERVE_VENV")
        else {
            #expect(ProcessInfo.processInfo.environment["CI"] != "true", "run scripts/setup: no Python peers")
            return
        }
        var functions = DemoFunctions.registry()
        functions.register("big", arity: 0...0) { _ in .vector(.long(Array(repeating: 7, count: 10_000))) }
        var configuration = BrokerConfiguration()
        configuration.clients.maxMessageSize = 32_768
        let port = LoopbackPort.free()
        configuration.kdb = BrokerConfiguration.Kdb(port: port)
        let (status, text) = try await LocalCluster.run(functions: functions, servants: 1, configuration: configuration) {
            cluster in
            let run = try await CommandRun.run(
                URL(fileURLWithPath: python),
                [Self.interop.appendingPathComponent(script).path, "127.0.0.1", "\(port)", cluster.brokerEndpoint,
                 "reply-too-large"],
                timeout: 180)
            return (run.status, run.output + run.errors)
        }
        #expect(status == 0, "\(script): \(text)")
        #expect(text.contains("all checks passed"), "\(script): \(text)")
    }
}
