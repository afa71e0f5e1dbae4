import Foundation
import MServeTestSupport
import MServeTesting
import Testing
import ZeroMQ

@testable import MServeHub

/// A spoke that stops hearing the hub sends REGISTER every second; when a cut link comes back,
/// the hub gets them all at once. Registrations that change nothing are logged at debug, so the
/// hub's log shows one line for the spoke, not one per retry.
struct HubRegistrationLogTests {
    @Test func aRegistrationThatChangesNothingIsNoNews() async throws {
        let recorder = LogRecorder()
        try await HubFixture.with { fixture in
            // The spoke sends no heartbeat: on a loaded machine its four registrations may
            // take longer than the default liveness, and a `spoke down` line would end the log.
            var fixture = fixture
            fixture.configuration.livenessTimeout = .seconds(120)
            let (hub, task) = try await fixture.startHub(logger: recorder.logger(label: "hub"))
            defer { hub.stop() }
            func registration(port: Int32) -> HubMessage {
                var registration = SpokeRegistration.current(
                    port: port, threads: 1, service: "quiet", role: SpokeRole.servant, endpoint: "tcp://127.0.0.1:\(port)")
                registration.session = "s7"
                return HubMessage(.register, registration.entries)
            }
            let spoke = try HubPeerSocket(endpoint: fixture.endpoint, routingID: Array("spoke-s7".utf8), queueUntilConnected: true)
            defer { spoke.close() }
            for port: Int32 in [41_801, 41_801, 41_801, 41_802] {
                #expect(spoke.send(registration(port: port)))
                #expect(await spoke.receive(within: .seconds(30))?.command == .registered)
            }
            let lines = recorder.entries.filter { $0.message.hasPrefix("spoke ") }.map { "\($0.level) \($0.message)" }
            #expect(
                lines == [
                    "info spoke registered", "debug spoke registered again, unchanged",
                    "debug spoke registered again, unchanged", "info spoke re-registered",
                ], "\(lines)")
            hub.stop()
            try await task.value
        }
    }

    /// A peer registering spokes by the hundred (without keys anyone may) costs a few lines a
    /// second, and one line saying how many were not logged.
    @Test func aFloodOfRegistrationsIsSummarised() async throws {
        let recorder = LogRecorder()
        try await HubFixture.with { fixture in
            let (hub, task) = try await fixture.startHub(logger: recorder.logger(label: "hub"))
            defer { hub.stop() }
            let flood = 300
            let spoke = try HubPeerSocket(endpoint: fixture.endpoint, routingID: Array("spoke-flood".utf8), queueUntilConnected: true)
            defer { spoke.close() }
            for index in 0..<flood {
                var registration = SpokeRegistration.current(
                    port: Int32(42_000 + index), threads: 1, service: "flood", role: SpokeRole.servant,
                    endpoint: "tcp://127.0.0.1:\(42_000 + index)")
                registration.session = "flood\(index)"
                // One at a time: the socket holds only a few messages while it connects.
                try #require(spoke.send(HubMessage(.register, registration.entries)))
                try #require(await spoke.receive(within: .seconds(30))?.command == .registered)
            }
            // The summary comes at the hub's next scan after the second the lines were held back in.
            func heldBack() -> Int {
                recorder.messages.compactMap { message -> Int? in
                    guard let range = message.firstMatch(of: /^spoke events not logged, over \d+ a second: (\d+) registered/)
                    else { return nil }
                    return Int(range.output.1)
                }.reduce(0, +)
            }
            let logged = { recorder.messages.count { $0 == "spoke registered" } }
            #expect(await eventually { logged() + heldBack() == flood }, "\(logged()) logged, \(heldBack()) held back")
            #expect(heldBack() > 0)
            hub.stop()
            try await task.value
        }
    }
}
