import Foundation
import MServeTestSupport
import Testing

extension IntegrationTests {
    /// A servant stopped with SIGTERM while its hub is dead stops within the bound
    /// docs/OPERATIONS.md states (the hub-related part at most half a second; the rest is the
    /// process's own teardown): it does not wait out a request to the hub (2 s). The teardown is
    /// measured in the same run, on a servant without a hub, so that a loaded machine's slower
    /// teardown counts against neither.
    @Suite struct StopWithoutHubTests {
        /// The longest a servant with no queries may take from SIGTERM to exit with its hub dead,
        /// over one without a hub: the half-second bound, and as much again for the two
        /// teardowns' spread. A request to the hub waited out takes 2 s.
        static let boundOverTeardown: TimeInterval = 1.0

        /// How long a servant without a hub takes from SIGTERM to exit.
        static func teardownSeconds() async throws -> TimeInterval {
            let servant = try await MServeProcess("servant without a hub", ["servant"])
            defer { servant.stop() }
            return secondsToStop(servant)
        }

        /// How long `process` takes from SIGTERM to exit.
        static func secondsToStop(_ process: MServeProcess) -> TimeInterval {
            let start = Date()
            _ = process.stop(timeout: 10)
            return Date().timeIntervalSince(start)
        }

        @Test func aServantWhoseHubWasKilledStopsPromptly() async throws {
            try await withTemporaryDirectory("mserve-stop-no-hub") { directory in
                let hub = try await MServeProcess("hub", ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory + "/hub"])
                defer { hub.stop() }
                let servant = try await MServeProcess("servant", ["servant", "--hub", hub.endpoint])
                defer { servant.stop() }
                #expect(await eventually { servant.logs.contains("registered with the hub") }, "\(servant.logs)")

                await hub.crash()
                let seconds = Self.secondsToStop(servant)
                let teardown = try await Self.teardownSeconds()
                #expect(seconds < teardown + Self.boundOverTeardown, "stopped after \(seconds) s (\(teardown) s without a hub): \(servant.logs)")
            }
        }

        /// With `--keys` the servant asks the hub for the allowed keys every second; a request in
        /// flight when SIGTERM comes is abandoned, not waited out (its timeout is 2 s).
        @Test func aSecuredServantStopsPromptlyWhileAskingADeadHub() async throws {
            try await SecuredCluster.with(servantKeys: ["servant"]) { cluster in
                let servant = try #require(cluster.servants.first)
                await cluster.hub.crash()
                // A request fails after 2 s, the next starts 1 s later: 1.2 s after a failure one
                // has been waiting for the dead hub for 0.2 s.
                let warning = "cannot refresh the allowed keys"
                #expect(await eventually(timeout: .seconds(60)) { servant.logs.contains(warning) }, "\(servant.logs)")
                try await Task.sleep(for: .milliseconds(1_200))
                let seconds = Self.secondsToStop(servant)
                let teardown = try await Self.teardownSeconds()
                #expect(seconds < teardown + Self.boundOverTeardown, "stopped after \(seconds) s (\(teardown) s without a hub): \(servant.logs)")
            }
        }
    }
}
