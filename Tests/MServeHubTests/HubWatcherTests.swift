import Foundation
import MServeTestSupport
import POSIXSockets
import QData
import Synchronization
import Testing
@testable import MServeHub

@Suite("HubWatcher", .serialized)
struct HubWatcherTests {
    @Test("a watcher sees servants join and leave")
    func joinAndLeave() async throws {
        let fixture = HubFixture()
        let (hub, hubTask) = try await fixture.startHub()
        let joined = Mutex<[String]>([])
        let left = Mutex<[String]>([])
        let watcher = try HubWatcher(
            service: "dev", hub: fixture.endpoint, refreshInterval: HubFixture.heartbeat, logger: quietLogger,
            onJoin: { endpoint in joined.withLock { $0.append(endpoint.endpoint) } },
            onLeave: { endpoint in left.withLock { $0.append(endpoint.endpoint) } })
        let watcherTask = Task { try await watcher.run() }

        let (first, firstTask) = try await fixture.startSpoke(port: 41_301)
        let sawJoin = await eventually { joined.withLock { $0 } == ["tcp://127.0.0.1:41301"] }
        #expect(sawJoin)
        let (second, secondTask) = try await fixture.startSpoke(port: 41_302)
        let sawSecond = await eventually { joined.withLock { $0.count } == 2 }
        #expect(sawSecond)

        first.stop()
        try await firstTask.value
        let sawLeave = await eventually { left.withLock { $0 } == ["tcp://127.0.0.1:41301"] }
        #expect(sawLeave)
        second.stop(deregister: false)
        try await secondTask.value
        let sawCrash = await eventually { left.withLock { $0.count } == 2 }
        #expect(sawCrash)
        #expect(watcher.endpoints.isEmpty)

        watcher.stop()
        try await watcherTask.value
        hub.stop()
        try await hubTask.value
    }

    @Test("a restarted servant replaces its old spoke, whose later LEAVE does not take the new one away")
    func restartedServantStays() async throws {
        let fixture = HubFixture()
        let (hub, hubTask) = try await fixture.startHub()
        let joined = Mutex<[String]>([])
        let left = Mutex<[String]>([])
        let watcher = try HubWatcher(
            service: "dev", hub: fixture.endpoint, refreshInterval: .seconds(60), logger: quietLogger,
            onJoin: { endpoint in joined.withLock { $0.append(endpoint.endpoint) } },
            onLeave: { endpoint in left.withLock { $0.append(endpoint.endpoint) } })
        let watcherTask = Task { try await watcher.run() }

        // The same endpoint registered twice: the old process, then its successor, which
        // replaces it (the old one leaves, the new one joins: its users take the new key).
        let endpoint = "tcp://127.0.0.1:41304"
        let (old, oldTask) = try await fixture.startSpoke(port: 41_304)
        #expect(await eventually { joined.withLock { $0 } == [endpoint] })
        let (new, newTask) = try await fixture.startSpoke(port: 41_304)
        let newID = try await new.waitUntilRegistered(timeout: .seconds(15))
        #expect(await eventually { joined.withLock { $0 } == [endpoint, endpoint] })
        #expect(left.withLock { $0 } == [endpoint])

        // The old spoke's own LEAVE, later, does not take the successor away.
        old.stop()
        try await oldTask.value
        #expect(await eventually { (try? await fixture.client.table("spoke").rowCount) == 1 })
        // The LEAVE has reached the watcher by now (it follows the deregistration); give it time.
        try await Task.sleep(for: .milliseconds(300))
        #expect(left.withLock { $0 } == [endpoint], "the live successor was dropped")
        #expect(watcher.endpoints.map(\.spokeID) == [newID])

        new.stop()
        try await newTask.value
        #expect(await eventually { left.withLock { $0 } == [endpoint, endpoint] })
        watcher.stop()
        try await watcherTask.value
        hub.stop()
        try await hubTask.value
    }

    @Test("a q servant registered as kdb://*:PORT reaches watchers as kdb://IP:PORT")
    func qServantKeepsItsScheme() async throws {
        let fixture = HubFixture()
        let (hub, hubTask) = try await fixture.startHub()
        let joined = Mutex<[String]>([])
        let watcher = try HubWatcher(
            service: "dev", hub: fixture.endpoint, refreshInterval: HubFixture.heartbeat, logger: quietLogger,
            onJoin: { endpoint in joined.withLock { $0.append(endpoint.endpoint) } },
            onLeave: { _ in })
        let watcherTask = Task { try await watcher.run() }
        let agent = try SpokeAgent(
            hub: fixture.endpoint,
            registration: .current(port: 41_303, service: "dev", role: SpokeRole.servant, endpoint: "kdb://*:41303"),
            heartbeatInterval: HubFixture.heartbeat, livenessTimeout: HubFixture.liveness, logger: quietLogger)
        let agentTask = Task { try await agent.run() }

        let sawJoin = await eventually { joined.withLock { $0 } == ["kdb://127.0.0.1:41303"] }
        #expect(sawJoin)

        agent.stop()
        try await agentTask.value
        watcher.stop()
        try await watcherTask.value
        hub.stop()
        try await hubTask.value
    }
}

/// Messages to a hub that is not up wait for it, a few at most: a watcher's periodic WATCH
/// does not pile up through an outage and reach the hub in one burst.
@Suite struct HubPeerSocketTests {
    @Test func onlyAFewMessagesWaitForTheConnection() throws {
        let peer = try HubPeerSocket(endpoint: "tcp://127.0.0.1:\(LoopbackPort.free())", queueUntilConnected: true)
        defer { peer.close() }
        let watch = HubMessage(.watch, [("service", .atom(.symbol("dev")))])
        let queued = (0..<100).filter { _ in peer.send(watch) }.count
        #expect(queued >= 1 && queued <= Int(HubPeerSocket.queuedMessagesAtMost) * 2, "\(queued) queued")
    }
}
