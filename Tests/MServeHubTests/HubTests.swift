import Foundation
import GRDB
import Logging
import POSIXSockets
import QData
import MServeTestSupport
import MServeTesting
import Testing
import ZeroMQ

@testable import MServeHub

@Suite("Hub", .serialized)
struct HubTests {
    @Test("a spoke registers and is listed with the address the hub saw")
    func registerAndList() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let (agent, agentTask) = try await fixture.startSpoke(port: 41_001)
            let id = try await agent.waitUntilRegistered(timeout: .seconds(15))
            let spokes = try await fixture.client.table("spoke")
            #expect(spokes.longs("id") == [id])
            #expect(spokes.longs("pid") == [Int64(getpid())])
            #expect(spokes.symbols("IP") == ["127.0.0.1"])
            #expect(spokes.symbols("endpoint") == ["tcp://127.0.0.1:41001"])
            #expect(spokes.symbols("service") == ["dev"])
            #expect(agent.status.endpoint == "tcp://127.0.0.1:41001")
            agent.stop()
            try await agentTask.value
            hub.stop()
            try await hubTask.value
        }
    }

    @Test("asking a hub that is not there fails at the timeout, saying so")
    func askingNoHubTimesOut() async throws {
        let endpoint = "tcp://127.0.0.1:\(LoopbackPort.free())"
        let client = HubClient(endpoint: endpoint, timeout: .milliseconds(200))
        await #expect {
            _ = try await client.table("spoke")
        } throws: { error in
            guard let error = error as? HubError else { return false }
            return error.code == .timeout
                && error.message
                    == "the hub at \(endpoint) did not answer within 0.2 seconds; is it running (mserve hub)? "
                    + "(a hub run with --keys does not answer a peer without keys)"
        }
    }

    @Test("heartbeats put memory stats in memst")
    func heartbeatsFillMemst() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let (agent, agentTask) = try await fixture.startSpoke()
            let id = try await agent.waitUntilRegistered(timeout: .seconds(15))
            let filled = try await eventually {
                let memst = try await fixture.client.table("memst")
                return memst.rowCount >= 2 && memst.longs("spoke").allSatisfy { $0 == id }
                    && memst.longs("rss").allSatisfy { $0 > 0 }
            }
            #expect(filled)
            agent.stop()
            try await agentTask.value
            hub.stop()
            try await hubTask.value
        }
    }

    @Test("a silent spoke moves to down with its crash time and last memory stats")
    func silentSpokeGoesDown() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let (agent, agentTask) = try await fixture.startSpoke()
            let id = try await agent.waitUntilRegistered(timeout: .seconds(15))
            _ = try await eventually { try await fixture.client.table("memst").rowCount >= 1 }
            let before = Int64(Date().timeIntervalSince1970 * 1e9) - 946_684_800_000_000_000
            agent.stop(deregister: false)
            try await agentTask.value
            let moved = try await eventually { try await fixture.client.table("down").rowCount == 1 }
            #expect(moved)
            let down = try await fixture.client.table("down")
            #expect(down.longs("spoke") == [id])
            #expect(down.timestamps("crash").first.map { $0 > before } == true)
            #expect(down.longs("rss").first.map { $0 > 0 } == true)
            #expect(try await fixture.client.table("spoke").rowCount == 0)
            hub.stop()
            try await hubTask.value
        }
    }

    @Test("a clean exit deregisters without a crash report")
    func cleanExitLeavesNoDownEntry() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let (agent, agentTask) = try await fixture.startSpoke()
            _ = try await agent.waitUntilRegistered(timeout: .seconds(15))
            agent.stop()
            try await agentTask.value
            #expect(try await fixture.client.table("spoke").rowCount == 0)
            // Past the liveness, when a silent spoke would have gone down.
            try await Task.sleep(for: HubFixture.liveness + .milliseconds(500))
            #expect(try await fixture.client.table("down").rowCount == 0)
            hub.stop()
            try await hubTask.value
        }
    }

    @Test("a restarted hub keeps live spokes and moves dead ones to down")
    func restartKeepsLiveAndMovesDead() async throws {
        try await HubFixture.with { fixture in
            var (hub, hubTask) = try await fixture.startHub()
            let (live, liveTask) = try await fixture.startSpoke(port: 41_101)
            let (dead, deadTask) = try await fixture.startSpoke(port: 41_102)
            let liveID = try await live.waitUntilRegistered(timeout: .seconds(15))
            let deadID = try await dead.waitUntilRegistered(timeout: .seconds(15))
            hub.stop()
            try await hubTask.value
            dead.stop(deregister: false)
            try await deadTask.value

            (hub, hubTask) = try await fixture.startHub()
            _ = try await live.waitUntilRegistered(count: 2, timeout: .seconds(15))
            let settled = try await eventually { try await fixture.client.table("down").rowCount == 1 }
            #expect(settled)
            #expect(try await fixture.client.table("down").longs("spoke") == [deadID])
            #expect(try await fixture.client.table("spoke").longs("id") == [liveID])
            live.stop()
            try await liveTask.value
            hub.stop()
            try await hubTask.value
        }
    }

    @Test("a spoke that leaves before its first heartbeat reaches a restarted hub is taken at its word")
    func deregisterAfterAHubRestart() async throws {
        try await HubFixture.with { fixture in
            var fixture = fixture
            // The spoke played by hand sends no heartbeat: a busy machine must not see it go down
            // before it leaves.
            fixture.configuration.livenessTimeout = .seconds(60)
            var (hub, hubTask) = try await fixture.startHub()
            // A spoke agent's socket, played by hand so that it sends no heartbeat in between.
            let registration = SpokeRegistration.current(
                port: 41_105, threads: 1, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:41105")
            let context = try ZMQContext()
            let socket = try ZMQSocket(context: context, type: .dealer)
            try socket.setLinger(milliseconds: 0)
            try socket.setRoutingId(Array("spoke-\(registration.session)".utf8))
            try socket.connect(fixture.endpoint)
            func ask(_ message: HubMessage) async throws -> HubMessage {
                try socket.send(multipart: message.frames)
                let frames = try #require(try await socket.receiveFrames(within: .seconds(10)), "the hub did not answer")
                return try HubMessage(frames: frames)
            }
            #expect(try await ask(HubMessage(.register, registration.entries)).command == .registered)
            hub.stop()
            try await hubTask.value

            (hub, hubTask) = try await fixture.startHub()
            #expect(try await fixture.client.table("spoke").rowCount == 1, "reloaded")
            #expect(try await ask(HubMessage(.deregister, [])).command == .deregistered)
            #expect(try await fixture.client.table("spoke").rowCount == 0)
            #expect(try await fixture.client.table("down").rowCount == 0, "a clean exit is no crash")
            socket.close()
            context.terminate()
            hub.stop()
            try await hubTask.value
        }
    }

    @Test("resolve lists the live servants of a service only")
    func resolveByService() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let (dev, devTask) = try await fixture.startSpoke(service: "dev", port: 41_201)
            let (prod, prodTask) = try await fixture.startSpoke(service: "prod", port: 41_202)
            let (broker, brokerTask) = try await fixture.startSpoke(service: "dev", role: SpokeRole.broker, port: 41_203)
            for agent in [dev, prod, broker] { _ = try await agent.waitUntilRegistered(timeout: .seconds(15)) }
            let resolved = try await Hub.resolve("dev", hub: fixture.endpoint)
            #expect(resolved.map(\.endpoint) == ["tcp://127.0.0.1:41201"])
            #expect(resolved.first?.threads == 2)
            #expect(try await Hub.resolve("nothing", hub: fixture.endpoint).isEmpty)
            for agent in [dev, prod, broker] { agent.stop() }
            for task in [devTask, prodTask, brokerTask] { try await task.value }
            hub.stop()
            try await hubTask.value
        }
    }

    @Test("a second hub on the same endpoint fails with addressInUse")
    func secondHubIsRefused() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let second = try Hub(configuration: fixture.configuration, logger: quietLogger)
            await #expect(throws: HubError.self) { try await second.run() }
            hub.stop()
            try await hubTask.value
        }
    }

    /// What auto mode tells apart from a hub already serving: this host can never bind it.
    @Test("a hub endpoint whose address is not this host's fails with addressNotOnThisHost")
    func anEndpointOnAnotherHostIsNotInUse() async throws {
        try await HubFixture.with { fixture in
            var fixture = fixture
            // TEST-NET-1 (RFC 5737): documentation only, no host's address; a bind sends nothing.
            fixture.configuration.endpoint = "tcp://192.0.2.1:5560"
            let hub = try Hub(configuration: fixture.configuration, logger: quietLogger)
            let error = await #expect(throws: HubError.self) { try await hub.run() }
            #expect(error?.code == .addressNotOnThisHost, "\(String(describing: error))")
            #expect(error?.message.contains("not one of this host's") == true, "\(String(describing: error))")
        }
    }

    @Test("a second hub over the same directory is refused, and serves once the first has stopped")
    func secondHubOnTheSameDirectoryIsRefused() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let other = fixture.sharingDirectory()
            let second = try Hub(configuration: other.configuration, logger: quietLogger)
            let error = await #expect(throws: HubError.self) { try await second.run() }
            #expect(error?.code == .directoryInUse)
            #expect(error?.message.contains("pid \(getpid()) serving \(fixture.endpoint)") == true, "\(String(describing: error))")
            // Its port was bound and is released: nothing listens there.
            await #expect(throws: HubError.self) { _ = try await other.impatientClient.table("spoke") }

            hub.stop()
            try await hubTask.value
            let (third, thirdTask) = try await other.startHub()
            #expect(try await other.client.table("spoke").rowCount == 0)
            third.stop()
            try await thirdTask.value
        }
    }

    @Test("a hub whose database refuses writes is not ready, saying why, until a write succeeds again")
    func aDatabaseRefusingWritesMakesTheHubNotReady() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            #expect(await hub.snapshot().databaseOpen)
            // Another process holding the database's write lock (an sqlite3 shell left in a
            // transaction): each of the hub's writes fails once its busy timeout is over, as
            // on a full disk.
            var configuration = Configuration()
            configuration.busyMode = .immediateError
            configuration.allowsUnsafeTransactions = true
            let holder = try DatabaseQueue(path: fixture.directory + "/hub.sqlite", configuration: configuration)
            try holder.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE") }
            // A spoke trying to register five times a second: the hub must go on answering.
            let agent = try SpokeAgent(
                hub: fixture.endpoint,
                registration: .current(port: 41_009, threads: 1, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:41009"),
                heartbeatInterval: .milliseconds(200), livenessTimeout: .seconds(60), logger: quietLogger)
            let agentTask = Task { try await agent.run() }
            let refused = await eventually {
                let snapshot = await hub.snapshot()
                return !snapshot.databaseOpen
                    && snapshot.databaseProblem?.hasPrefix("the hub's database refuses writes (cannot register a spoke: ") == true
                    && snapshot.databaseProblem?.contains("database is locked") == true
            }
            let problem = await hub.snapshot().databaseProblem
            #expect(refused, "\(String(describing: problem))")
            #expect(await hub.snapshot().metrics.registrations == 0)
            // While the lock is held, the hub's loop is not held up by it: each write waits a
            // quarter of a second at most, one a second, so the snapshot behind /healthz and
            // /readyz comes at once (with a 5 s wait per write, it came only between writes).
            for _ in 0..<5 {
                let answered = await withTaskGroup(of: Bool.self) { group in
                    group.addTask { _ = await hub.snapshot(); return true }
                    group.addTask { try? await Task.sleep(for: .seconds(2)); return false }
                    let first = await group.next() ?? false
                    group.cancelAll()
                    return first
                }
                #expect(answered, "the hub did not answer within 2 s while another process held its database's lock")
                try await Task.sleep(for: .milliseconds(300))
            }

            try holder.inDatabase { db in try db.execute(sql: "ROLLBACK") }
            _ = try await agent.waitUntilRegistered(timeout: .seconds(60))
            let ready = await eventually { await hub.snapshot().databaseOpen }
            #expect(ready)
            #expect(await hub.snapshot().databaseProblem == nil)
            agent.stop()
            try await agentTask.value
            hub.stop()
            try await hubTask.value
        }
    }

    /// A hub restarted while its database refuses writes (a full disk; here another process
    /// holding its write lock) cannot take the registrations that would confirm the spokes it
    /// reloaded: it keeps them, as it found them, past their allowance, rather than declare
    /// every one down and leave brokers with no servant to resolve; once the database takes
    /// writes again, they register.
    @Test("spokes reloaded while the database refuses writes keep their place until they can register")
    func reloadedSpokesStayWhileTheDatabaseRefusesWrites() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let (agent, agentTask) = try await fixture.startSpoke(port: 41_021)
            let id = try await agent.waitUntilRegistered(timeout: .seconds(15))
            hub.stop()
            try await hubTask.value

            var configuration = Configuration()
            configuration.busyMode = .immediateError
            configuration.allowsUnsafeTransactions = true
            let holder = try DatabaseQueue(path: fixture.directory + "/hub.sqlite", configuration: configuration)
            try holder.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE") }
            let (restarted, restartedTask) = try await fixture.startHub()
            #expect(await restarted.snapshot().spokes.contains { $0.id == id })
            #expect(await eventually { await !restarted.snapshot().databaseOpen })
            // Twice the allowance of a reloaded spoke (the liveness and a second).
            try await Task.sleep(for: (HubFixture.liveness + .seconds(1)) * 2)
            let kept = await restarted.snapshot().spokes.first { $0.id == id }
            #expect(kept?.state == "unconfirmed", "\(String(describing: kept))")

            try holder.inDatabase { db in try db.execute(sql: "ROLLBACK") }
            #expect(await eventually { await restarted.snapshot().databaseOpen })
            #expect(
                await eventually { await restarted.snapshot().spokes.contains { $0.pid == Int64(getpid()) && $0.state == "up" && $0.endpoint.hasSuffix(":41021") } })
            agent.stop()
            try await agentTask.value
            restarted.stop()
            try await restartedTask.value
        }
    }

    /// While the database refuses writes, the hub tries one a second: a registration is
    /// answered with its own failure, or told it was not tried, never with another write's
    /// failure (a heartbeat's) as if it were its own.
    @Test("a registration the database refuses is answered with its own failure")
    func aRefusedRegistrationIsAnsweredWithItsOwnFailure() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            let (heartbeating, heartbeatingTask) = try await fixture.startSpoke(port: 41_013)
            _ = try await heartbeating.waitUntilRegistered(timeout: .seconds(15))
            // Another process holds the database's write lock: the hub's writes fail, as on a
            // full disk, the first of them a heartbeat.
            var configuration = Configuration()
            configuration.busyMode = .immediateError
            configuration.allowsUnsafeTransactions = true
            let holder = try DatabaseQueue(path: fixture.directory + "/hub.sqlite", configuration: configuration)
            try holder.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE") }
            let heartbeatRefused = await eventually {
                await hub.snapshot().databaseProblem?.contains("cannot record a heartbeat: ") == true
            }
            let problem = await hub.snapshot().databaseProblem
            #expect(heartbeatRefused, "\(String(describing: problem))")

            try await fixture.withPeerSocket { socket in
                let registration = SpokeRegistration.current(
                    port: 41_014, threads: 1, service: "dev", role: SpokeRole.servant, endpoint: "tcp://*:41014")
                var answers: [String] = []
                // Within the second after the heartbeat's failure, and past it: the hub's
                // next try may be this registration.
                for _ in 0..<6 {
                    try socket.send(multipart: HubMessage(.register, registration.entries).frames)
                    let frames = try #require(try await socket.receiveFrames(within: .seconds(10)), "the hub did not answer")
                    let answer = try HubMessage(frames: frames)
                    #expect(answer.command == .error)
                    answers.append(answer.text("message") ?? "")
                    try await Task.sleep(for: .milliseconds(300))
                }
                for answer in answers {
                    #expect(answer.hasPrefix("the hub cannot store it: cannot register a spoke: "), "\(answer)")
                    #expect(answer.contains("database is locked"), "\(answer)")
                }
                let notTried = answers.filter { $0.contains("cannot register a spoke: not tried, ") }
                #expect(
                    notTried.allSatisfy {
                        $0.contains("as the hub's database refuses writes (the last failed: cannot ")
                            && $0.hasSuffix("); while they fail, the hub tries one write a second")
                    }, "\(notTried)")
            }

            try holder.inDatabase { db in try db.execute(sql: "ROLLBACK") }
            heartbeating.stop()
            try await heartbeatingTask.value
            hub.stop()
            try await hubTask.value
        }
    }

    /// A database file removed or replaced under a running hub takes none of its writes: the
    /// hub writes on to the file it holds open, lost when it stops. It notices within a
    /// second or so, says so once with what to do, and is not ready until the file is back.
    @Test("a hub whose database or directory is removed says so and is not ready")
    func aRemovedDatabaseOrDirectoryMakesTheHubNotReady() async throws {
        try await HubFixture.with { fixture in
            let recorder = LogRecorder()
            let (hub, hubTask) = try await fixture.startHub(logger: recorder.logger(label: "hub"))
            let (agent, agentTask) = try await fixture.startSpoke(port: 41_015)
            _ = try await agent.waitUntilRegistered(timeout: .seconds(15))
            #expect(await hub.snapshot().databaseOpen)
            let directory = URL(fileURLWithPath: fixture.directory).resolvingSymlinksInPath().path
            let path = directory + "/hub.sqlite"
            let lost = "so what the hub writes is lost when it stops; restart it (its log says how)"

            // Moved aside, and back: not ready meanwhile.
            try FileManager.default.moveItem(atPath: path, toPath: path + ".aside")
            let problem = await Self.databaseProblemComes(at: hub)
            #expect(problem != nil)
            #expect(problem == "the hub database \(path) was removed while the hub runs, \(lost)", "\(String(describing: problem))")
            #expect(await !hub.snapshot().databaseOpen)
            try FileManager.default.moveItem(atPath: path + ".aside", toPath: path)
            let back = await eventually { await hub.snapshot().databaseOpen }
            #expect(back)
            #expect(recorder.messages.contains("the hub's database is in its place again"))

            // The whole directory, as rm -rf removes it.
            try FileManager.default.removeItem(atPath: directory)
            let reason = await Self.databaseProblemComes(at: hub)
            #expect(reason != nil)
            #expect(
                reason == "the hub directory \(directory) was removed while the hub runs, its database with it, \(lost)",
                "\(String(describing: reason))")
            #expect(await !hub.snapshot().databaseOpen)
            let lines = recorder.entries.filter { $0.level == .error }.map(\.message)
            #expect(
                lines == [
                    """
                    the hub database \(path) was removed while the hub runs: the hub writes on to the file it opened, which \
                    no one else sees and which is lost when the hub stops; the hub is not ready (/readyz answers 503); put the \
                    file back from a backup and restart the hub, or restart it to start anew (an empty database: spokes \
                    register again within seconds; allowed keys and kdb+ users must be added again)
                    """,
                    """
                    the hub directory \(directory) was removed while the hub runs, its database with it: the hub writes on to \
                    the file it opened, which no one else sees and which is lost when the hub stops, and the admin commands \
                    fail: its admin token went too; the hub is not ready (/readyz answers 503); put the directory back from a \
                    backup and restart the hub, or restart it to start anew (an empty database: spokes register again within \
                    seconds; allowed keys and kdb+ users must be added again)
                    """,
                ], "\(lines)")

            agent.stop()
            try await agentTask.value
            hub.stop()
            try await hubTask.value
        }
    }

    /// A hub directory given as a symbolic link, whose link alone is removed, or made to lead
    /// to another directory: the hub writes on to its database, which stays where it was, but
    /// a hub started again with the same directory would not find it. It says so, naming the
    /// link, and is not ready until the link leads there again.
    @Test("a hub whose directory was given as a link says so when the link is removed or changed")
    func aRemovedOrChangedDirectoryLinkMakesTheHubNotReady() async throws {
        try await HubFixture.with { fixture in
            var fixture = fixture
            let parent = URL(fileURLWithPath: fixture.directory).deletingLastPathComponent().resolvingSymlinksInPath().path
            let real = parent + "/real"
            let other = parent + "/other"
            let link = parent + "/linked"
            for directory in [real, other] {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            }
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
            fixture.configuration.directory = link
            let recorder = LogRecorder()
            let (hub, hubTask) = try await fixture.startHub(logger: recorder.logger(label: "hub"))
            #expect(await hub.snapshot().databaseOpen)
            let named = "the hub directory \(link) (a link to \(real))"
            let consequence = "so a hub started again with it would not find the database this one writes; its log says what to do"

            // The link removed, the directory it led to left: not ready until it is back.
            try FileManager.default.removeItem(atPath: link)
            let problem = await Self.databaseProblemComes(at: hub)
            #expect(problem != nil)
            #expect(
                problem == "\(named) was removed while the hub runs, the directory it led to left in place, \(consequence)",
                "\(String(describing: problem))")
            #expect(await !hub.snapshot().databaseOpen)
            #expect(FileManager.default.fileExists(atPath: real + "/hub.sqlite"))
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
            let back = await eventually { await hub.snapshot().databaseOpen }
            #expect(back)
            #expect(recorder.messages.contains("the hub's database is in its place again"))

            // The link made to lead elsewhere, in one step (rename replaces it).
            try FileManager.default.createSymbolicLink(atPath: link + ".new", withDestinationPath: other)
            #expect(rename(link + ".new", link) == 0)
            let reason = await Self.databaseProblemComes(at: hub)
            #expect(reason != nil)
            #expect(
                reason == "\(named) was changed while the hub runs: it leads to another directory now (\(other)), \(consequence)",
                "\(String(describing: reason))")
            let lines = recorder.entries.filter { $0.level == .error }.map(\.message)
            let remedy = """
                the hub is not ready (/readyz answers 503); make \(link) lead to \(real) again (ln -sfn \(real) \(link)), \
                or, when the hub is restarted, give it \(real) itself with --dir or MSERVE_HUB_DIR
                """
            #expect(
                lines == [
                    """
                    \(named) was removed while the hub runs, the directory it led to left in place: the hub writes on to \
                    \(real)/hub.sqlite, but a hub started again with \(link) would start anew there (an empty database: \
                    spokes register again within seconds; allowed keys and kdb+ users must be added again), and the \
                    admin commands given \(link) fail: they find no admin token there; \(remedy)
                    """,
                    """
                    \(named) was changed while the hub runs: it leads to another directory now (\(other)): the hub writes on \
                    to \(real)/hub.sqlite, but a hub started again with \(link) would use the database in the directory it \
                    leads to now, and the admin commands given \(link) fail: the admin token there is not this hub's; \(remedy)
                    """,
                ], "\(lines)")

            hub.stop()
            try await hubTask.value
        }
    }

    /// The hub lets go of a spoke that goes down or leaves at once (watchers are told, resolve
    /// drops it), whether or not the database takes the change: one it refused is stored once
    /// writes succeed again, with no live spoke left to write a heartbeat, so that `spoke`
    /// lists no process the hub has let go of and the crash report is in `down`.
    @Test("spokes let go of while the database refuses writes leave its tables once it accepts them again")
    func removalsRefusedByTheDatabaseAreStoredOnceItAcceptsWrites() async throws {
        try await HubFixture.with { fixture in
            var fixture = fixture
            let recorder = LogRecorder()
            let (hub, hubTask, spokes) = try await fixture.startFastHub(
                logger: recorder.logger(label: "hub"), spokesServing: [41_311, 41_312])
            let (killed, killedTask, killedID) = spokes[0]
            let (leaving, leavingTask, leavingID) = spokes[1]

            // Another process holds the database's write lock: the hub's writes fail, as on a
            // full disk.
            var configuration = Configuration()
            configuration.busyMode = .immediateError
            configuration.allowsUnsafeTransactions = true
            let holder = try DatabaseQueue(path: fixture.directory + "/hub.sqlite", configuration: configuration)
            try holder.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE") }
            // One stops heartbeating, as a process killed with SIGKILL does; the other leaves.
            killed.stop(deregister: false)
            try await killedTask.value
            leaving.stop()
            try await leavingTask.value
            let letGo = await eventually {
                let snapshot = await hub.snapshot()
                return snapshot.spokes.isEmpty && !snapshot.databaseOpen
            }
            let held = await hub.snapshot()
            #expect(letGo, "\(held.spokes) databaseOpen: \(held.databaseOpen)")
            let refused = try await fixture.client.table("spoke").longs("id")
            #expect(refused == [killedID, leavingID].sorted(), "the removals were refused")
            let noCrashReport = try await fixture.client.table("down").rowCount
            #expect(noCrashReport == 0)

            try holder.inDatabase { db in try db.execute(sql: "ROLLBACK") }
            let stored = try await eventually { try await fixture.client.table("spoke").rowCount == 0 }
            let left = try await fixture.client.table("spoke").longs("id")
            #expect(stored, "\(left)")
            let down = try await fixture.client.table("down")
            #expect(down.longs("spoke") == [killedID])
            let memoryStats = try await fixture.client.table("memst").rowCount
            #expect(memoryStats == 0)
            let snapshot = await hub.snapshot()
            #expect(snapshot.databaseOpen)
            #expect(snapshot.crashes.map(\.reason) == ["missed heartbeats"])
            #expect(snapshot.metrics.crashReports == 1)
            let recovery = recorder.entries.filter { $0.message == "the hub's database accepts writes again; the hub is ready" }
            #expect(recovery.map { $0.metadata["spokesRemovedLate"] } == ["2"], "\(recovery)")

            hub.stop()
            try await hubTask.value
        }
    }

    /// A hub whose loop did not run for longer than its liveness (the process stopped with
    /// SIGSTOP, or its loop held up) was the silent one: its spokes' heartbeats waited in its
    /// socket. It reads them before it judges and declares no live spoke down; a spoke that
    /// really goes silent is still declared down afterwards.
    @Test("a pause of the hub itself counts against no spoke")
    func aPauseOfTheHubCountsAgainstNoSpoke() async throws {
        try await HubFixture.with { fixture in
            var fixture = fixture
            let recorder = LogRecorder()
            let (hub, hubTask, spokes) = try await fixture.startFastHub(
                logger: recorder.logger(label: "hub"), spokesServing: [41_301, 41_302])
            let (live, liveTask, liveID) = spokes[0]
            let (silent, silentTask, silentID) = spokes[1]

            // The loop runs a snapshot's reply on its own thread: one that sleeps holds the loop, as
            // SIGSTOP holds the process, for one and a half liveness times while the spokes go on
            // heartbeating.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let posted = hub.mailbox.post(
                    .snapshot { _ in
                        Thread.sleep(forTimeInterval: 3)
                        continuation.resume()
                    })
                if !posted { continuation.resume() }
            }
            let resumed = await hub.snapshot()
            #expect(resumed.spokes.map(\.id) == [liveID, silentID].sorted(), "the spokes keep their rows and ids")
            #expect(resumed.spokes.allSatisfy { $0.state == "up" })
            #expect(resumed.crashReportsHeld == 0)
            #expect(resumed.metrics.crashReports == 0)
            let pauseLines = recorder.messages.filter { $0.hasPrefix("the hub was not running for ") }
            #expect(pauseLines.count == 1, "\(pauseLines)")
            #expect(pauseLines.first?.contains("get 3.0 s to be heard from again") == true, "\(pauseLines)")

            // A spoke that really stops heartbeating after the pause is still declared down.
            silent.stop(deregister: false)
            try await silentTask.value
            let down = await eventually { await hub.snapshot().spokes.map(\.id) == [liveID] }
            #expect(down)
            let crashes = await hub.snapshot().crashes
            #expect(crashes.map(\.spoke) == [silentID])
            #expect(crashes.map(\.reason) == ["missed heartbeats"])

            live.stop()
            try await liveTask.value
            hub.stop()
            try await hubTask.value
        }
    }

    @Test("an unknown table is refused with an error")
    func unknownTable() async throws {
        try await HubFixture.with { fixture in
            let (hub, hubTask) = try await fixture.startHub()
            await #expect(throws: HubError.self) { try await fixture.client.table("nope") }
            hub.stop()
            try await hubTask.value
        }
    }

    /// The problem with its database `hub` reports, once it reports one (waited for up to
    /// 30 s); nil if none came.
    static func databaseProblemComes(at hub: Hub) async -> String? {
        _ = await eventually { await hub.snapshot().databaseProblem != nil }
        return await hub.snapshot().databaseProblem
    }
}
