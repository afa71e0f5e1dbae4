import Dispatch
import Foundation
import Logging
import MServeHub
import MServeTesting
import MServeTestSupport
import Synchronization
import Testing

/// What a spoke agent tells its process's log about the hub: a silence once, and each
/// registration, so an operator sees why a servant is not listed.
@Suite("SpokeAgent", .serialized)
struct SpokeAgentTests {
    static let silence = "no answer from the hub yet; registering as soon as it answers"
    static let stopped = "the hub stopped answering; registering again as soon as it answers"

    @Test("a spoke logs the hub's silence once, its registration, the hub's loss and its return")
    func logsTheHubComingAndGoing() async throws {
        try await HubFixture.with { fixture in
            let recorder = LogRecorder()
            let (agent, agentTask) = try await fixture.startSpoke(port: 41_301, logger: recorder.logger(label: "spoke"))

            // No hub yet: one warning, however many registrations go unanswered.
            #expect(await eventually { recorder.messages.contains(Self.silence) })
            // A liveness more: ten more registrations unanswered.
            try await Task.sleep(for: HubFixture.liveness)
            #expect(recorder.messages.filter { $0 == Self.silence }.count == 1)

            var (hub, hubTask) = try await fixture.startHub()
            _ = try await agent.waitUntilRegistered(timeout: .seconds(15))
            #expect(await eventually { recorder.messages.contains("registered with the hub") })
            let registered = recorder.entries.first { $0.message == "registered with the hub" }
            #expect(registered?.level == .info)
            #expect(registered?.metadata["hub"] == fixture.endpoint)

            hub.stop()
            try await hubTask.value
            #expect(await eventually { recorder.messages.contains(Self.stopped) })
            // Each silence is the one measured, past the liveness: not the liveness itself.
            for line in recorder.entries where line.level >= .warning {
                let silentFor = line.metadata["silentFor"] ?? "none"
                let seconds = Double(silentFor.replacingOccurrences(of: " seconds", with: ""))
                #expect(
                    seconds.map { $0 > Double(HubFixture.liveness.components.seconds) } == true,
                    "\(line.message): silentFor=\(silentFor)")
            }

            (hub, hubTask) = try await fixture.startHub()
            #expect(await eventually(timeout: .seconds(60)) { recorder.messages.contains("registered with the hub again") })
            #expect(recorder.entries.filter { $0.level >= .warning }.map(\.message) == [Self.silence, Self.stopped])

            agent.stop()
            try await agentTask.value
            hub.stop()
            try await hubTask.value
        }
    }

    /// A spoke whose own loop did not run (its process stopped with SIGSTOP, swapping) sent no
    /// heartbeat meanwhile: the hub moved it to `down`, rightly. Once it runs again it says that
    /// this process was not running, not that the hub stopped answering, and registers again
    /// as a new spoke.
    @Test("a pause of the spoke itself is said to be its own, not the hub's silence")
    func aPauseOfTheSpokeItselfIsNotBlamedOnTheHub() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let recorder = LogRecorder()
            // The agent's loop logs its registration on its own thread: held there, it runs no
            // more, as SIGSTOP holds the process, until the hub has moved the spoke to down.
            let release = DispatchSemaphore(value: 0)
            defer { release.signal() }  // a failing test leaves no loop held
            let recorded = recorder.logger(label: "spoke").handler
            let holding = Logger(label: "spoke") { _ in
                LoopHoldingLogHandler(wrapped: recorded, holdOn: "registered with the hub", until: release)
            }
            let (agent, agentTask) = try await fixture.startSpoke(port: 41_304, logger: holding)
            let firstID = try await agent.waitUntilRegistered(timeout: .seconds(15))
            let movedDown = await eventually(timeout: .seconds(60)) { await hub.snapshot().spokes.isEmpty }
            release.signal()
            #expect(movedDown)

            let again = await eventually(timeout: .seconds(60)) { recorder.messages.contains("registered with the hub again") }
            #expect(again, "\(recorder.messages)")
            #expect(agent.status.spokeID != firstID)
            // The hub's crash report says the process had not stopped.
            let newID = try #require(agent.status.spokeID)
            let report = await hub.snapshot().crashes.first { $0.spoke == firstID }
            #expect(
                report?.reason
                    == "missed heartbeats; the same process registered again as spoke \(newID): not a crash (cut from the hub, or paused)")
            let warnings = recorder.entries.filter { $0.level >= .warning }.map(\.message)
            #expect(warnings.count == 1, "\(warnings)")
            #expect(warnings.first?.hasPrefix("this process was not running for ") == true, "\(warnings)")
            #expect(warnings.first?.contains("the hub may have moved it to down") == true, "\(warnings)")
            #expect(!recorder.messages.contains(Self.stopped))

            agent.stop()
            try await agentTask.value
            hub.stop()
            try await hubTask.value
        }
    }

    /// A spoke's first REGISTER goes out before its connection to the hub is up, and is
    /// dropped (a hub's DEALER never queues for a hub that is not there). It is tried again
    /// within moments, not a heartbeat later: with a 30 s heartbeat, it is registered in 10 s.
    /// A hub endpoint whose host name does not resolve (a typo in MSERVE_HUB) is said to be
    /// so, not only silent as a hub that is down.
    @Test func aHubWhoseNameDoesNotResolveIsSaidToBeSo() async throws {
        let recorder = LogRecorder()
        let agent = try SpokeAgent(
            hub: "tcp://no-such-hub.invalid:5560",
            registration: .current(port: 41_303, threads: 1, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:41303"),
            heartbeatInterval: HubFixture.heartbeat, livenessTimeout: HubFixture.liveness, logger: recorder.logger(label: "spoke"))
        let agentTask = Task { try await agent.run() }
        let said = await eventually(timeout: .seconds(60)) {
            recorder.messages.contains { $0.hasPrefix("the hub cannot be reached: the host name no-such-hub.invalid does not resolve (") }
        }
        #expect(said, "\(recorder.messages)")
        #expect(recorder.messages.last?.hasSuffix("; check --hub or MSERVE_HUB") == true, "\(recorder.messages)")
        agent.stop()
        try await agentTask.value
    }

    @Test("a spoke is registered moments after it starts, not a heartbeat later")
    func registersWithoutWaitingForAHeartbeat() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let agent = try SpokeAgent(
                hub: fixture.endpoint,
                registration: .current(port: 41_302, threads: 1, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:41302"),
                heartbeatInterval: .seconds(30), livenessTimeout: .seconds(90), logger: quietLogger)
            let agentTask = Task { try await agent.run() }

            let id = try? await agent.waitUntilRegistered(timeout: .seconds(10))
            #expect(id != nil)

            agent.stop()
            try await agentTask.value
            hub.stop()
            try await hubTask.value
        }
    }
}

/// Logs into `wrapped` and, the first time `holdOn` is logged, holds the thread logging it until
/// `release` is signalled.
private struct LoopHoldingLogHandler: LogHandler {
    var wrapped: any LogHandler
    let holdOn: String
    let release: DispatchSemaphore
    private let held = HeldOnce()

    init(wrapped: any LogHandler, holdOn: String, until release: DispatchSemaphore) {
        self.wrapped = wrapped
        self.holdOn = holdOn
        self.release = release
    }

    var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        wrapped.log(event: event)
        if event.message.description == holdOn && held.first() { release.wait() }
    }
}

/// True the first time it is asked, then false.
private final class HeldOnce: Sendable {
    private let done = Mutex(false)

    func first() -> Bool {
        done.withLock { done in
            defer { done = true }
            return !done
        }
    }
}
