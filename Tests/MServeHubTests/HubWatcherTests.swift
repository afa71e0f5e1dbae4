import Foundation
import MServeTestSupport
import MServeTesting
import POSIXSockets
import QData
import Synchronization
import Testing
@testable import MServeHub

@Suite("HubWatcher", .serialized)
struct HubWatcherTests {
    @Test("a watcher sees servants join and leave")
    func joinAndLeave() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let joined = Mutex<[String]>([])
            let left = Mutex<[String]>([])
            let log = LogRecorder()
            let watcher = try HubWatcher(
                service: "dev", hub: fixture.endpoint, refreshInterval: HubFixture.heartbeat, logger: log.logger(label: "watcher"),
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
            // The watcher says what the hub says, not why: "servant left" is the broker's line for a
            // servant that said goodbye, and the second one crashed.
            #expect(log.messages.filter { $0 == "the hub lists a servant" }.count == 2, "\(log.messages)")
            #expect(log.messages.filter { $0 == "the hub no longer lists a servant" }.count == 2, "\(log.messages)")
            #expect(!log.messages.contains("servant left"))

            watcher.stop()
            try await watcherTask.value
            hub.stop()
            try await hubTask.value
        }
    }

    @Test("a restarted servant's spoke takes its endpoint over when the old one leaves, and the endpoint never leaves")
    func restartedServantStays() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let joined = Mutex<[String]>([])
            let left = Mutex<[String]>([])
            let watcher = try HubWatcher(
                service: "dev", hub: fixture.endpoint, refreshInterval: .seconds(60), logger: quietLogger,
                onJoin: { endpoint in joined.withLock { $0.append(endpoint.endpoint) } },
                onLeave: { endpoint in left.withLock { $0.append(endpoint.endpoint) } })
            let watcherTask = Task { try await watcher.run() }

            // The same endpoint registered twice: the old process, then its successor, which is
            // held back while the old spoke lives (no news for watchers).
            let endpoint = "tcp://127.0.0.1:41304"
            let (old, oldTask) = try await fixture.startSpoke(port: 41_304)
            #expect(await eventually { joined.withLock { $0 } == [endpoint] })
            let oldID = try await old.waitUntilRegistered(timeout: .seconds(15))
            let (new, newTask) = try await fixture.startSpoke(port: 41_304)
            let newID = try await new.waitUntilRegistered(timeout: .seconds(15))
            #expect(watcher.endpoints.map(\.spokeID) == [oldID])

            // The old spoke leaves: the successor takes the endpoint over, which stays.
            old.stop()
            try await oldTask.value
            #expect(await eventually { watcher.endpoints.map(\.spokeID) == [newID] })
            #expect(left.withLock { $0 }.isEmpty, "the live successor was dropped")
            #expect(joined.withLock { $0 } == [endpoint])

            new.stop()
            try await newTask.value
            #expect(await eventually { left.withLock { $0 } == [endpoint] })
            watcher.stop()
            try await watcherTask.value
            hub.stop()
            try await hubTask.value
        }
    }

    @Test("a spoke naming a live servant's endpoint can neither take it over nor, by leaving, take it away")
    func duplicateEndpointChangesNothing() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let events = Mutex<[String]>([])
            let watcher = try HubWatcher(
                service: "dev", hub: fixture.endpoint, refreshInterval: HubFixture.heartbeat, logger: quietLogger,
                onJoin: { endpoint in events.withLock { $0.append("join \(endpoint.spokeID)") } },
                onLeave: { endpoint in events.withLock { $0.append("leave \(endpoint.spokeID)") } })
            let watcherTask = Task { try await watcher.run() }

            // The watcher's refreshes (its WATCH, a heartbeat apart, keeps it known to the hub) get
            // the hub's SNAPSHOT, which must agree.
            let (real, realTask) = try await fixture.startSpoke(port: 41_305)
            let realID = try await real.waitUntilRegistered(timeout: .seconds(15))
            #expect(await eventually { events.withLock { $0 } == ["join \(realID)"] })
            // Another spoke names the same endpoint, then deregisters; a third goes silent.
            let (leaver, leaverTask) = try await fixture.startSpoke(port: 41_305)
            _ = try await leaver.waitUntilRegistered(timeout: .seconds(15))
            leaver.stop()
            try await leaverTask.value
            let (silent, silentTask) = try await fixture.startSpoke(port: 41_305)
            _ = try await silent.waitUntilRegistered(timeout: .seconds(15))
            silent.stop(deregister: false)
            try await silentTask.value
            // The silent one is down once the spoke table holds the real servant alone.
            #expect(await eventually { (try? await fixture.client.table("spoke").rowCount) == 1 })
            // Events reach the watcher after the table changes; give them time.
            try await Task.sleep(for: .milliseconds(300))
            #expect(events.withLock { $0 } == ["join \(realID)"])
            #expect(watcher.endpoints.map(\.spokeID) == [realID])
            let resolved = try await fixture.plainClient.resolve("dev")
            #expect(resolved.map(\.spokeID) == [realID])

            real.stop()
            try await realTask.value
            #expect(await eventually { events.withLock { $0 } == ["join \(realID)", "leave \(realID)"] })
            watcher.stop()
            try await watcherTask.value
            hub.stop()
            try await hubTask.value
        }
    }

    @Test("a q servant registered as kdb://*:PORT reaches watchers as kdb://IP:PORT")
    func qServantKeepsItsScheme() async throws {
        try await HubFixture.with { fixture in
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
