import ArgumentParser
import Foundation
import MServeBroker
import MServeClient
import MServeHub
import MServePlugin
import MServeProtocol
import POSIXFiles
import POSIXSockets
import QData
import Synchronization

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Bring up a hub, a broker and servants on this machine and send the quickstart queries.",
        discussion: """
            Starts SERVANTS servant processes on OS-chosen ports and a broker, all with \
            `--hub auto` on a private hub port and directory (and none of the caller's MSERVE_* \
            settings but MSERVE_LOG_LEVEL): the first to start serves the hub, the others \
            register with it, and the broker finds the servants through it. \
            Then sends `proc1 `IBM` (client → broker → dispatcher → servant → broker → client), \
            prints the result table and the info dictionary, a few more queries and the hub's \
            spoke table, and stops everything. Ctrl-C, SIGTERM or a hang-up stops everything \
            too (its servants give a running query 1 s, --drain 1) and removes the hub's \
            directory before the demo ends, printing nothing more; killed outright, its \
            processes stop by themselves within a second, and the next demo removes the hub \
            directory it left under TMPDIR.
            """)

    // `parsing: .unconditional`: `--servants -1` is read as a value, and refused by validate.
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Servant processes to start, from 1 to \(Self.mostServants).", valueName: "n"))
    var servants: Int = 2

    /// The most servants `--servants` may start: the demo runs on one machine.
    static let mostServants = 16

    @Option(name: .long, parsing: .unconditional, help: "Dispatch algorithm for the broker.")
    var algorithm: String = BrokerConfiguration.Dispatch.defaultAlgorithm

    @Flag(name: .long, help: "Show the hub's, broker's and servants' logs.")
    var verbose = false

    @Argument(help: "Queries to send (default: proc1 `IBM, then a few more).")
    var queries: [String] = []

    /// Refuses a bad --servants or --algorithm before any process starts (the broker would
    /// refuse the algorithm only once the hub and the servants were up).
    func validate() throws {
        guard (1...Self.mostServants).contains(servants) else {
            throw ValidationError("--servants must be from 1 to \(Self.mostServants)")
        }
        // The broker child is this binary, started without the caller's MSERVE_PLUGINS: it
        // finds the plugins found here.
        let registry: DispatchPluginRegistry
        do {
            registry = try DispatchPluginRegistry(directories: DispatchPluginRegistry.defaultDirectories(), extraPaths: [])
        } catch {
            throw ValidationError("--algorithm: \(error)")
        }
        try registry.checkAlgorithm(algorithm, source: "--algorithm", takesExtraFiles: false)
    }

    func run() async throws {
        let hubEndpoint = "tcp://127.0.0.1:\(LoopbackPort.free())"
        let temporary = FileManager.default.temporaryDirectory.path
        DemoChildren.removeDirectoriesOfEndedDemos(in: temporary)
        let hubDirectory = try DemoChildren.makeHubDirectory(in: temporary)
        let children = DemoChildren(hubDirectory: hubDirectory)
        defer { children.stopAll() }
        // Ctrl-C, SIGTERM or a hang-up: the children (in process groups of their own, which a
        // terminal's Ctrl-C or hang-up does not reach) are stopped and the hub's directory
        // removed, then the demo ends by the signal. A demo killed outright: its children stop
        // by themselves once it is gone (MSERVE_STOP_WITH_PARENT).
        StopSignals.catchHangUp()
        StopSignals.onStop {
            // What the demo was doing goes on until the signal ends it: it prints nothing more
            // (a failed query, the spoke table of a hub being stopped).
            demoOutputEnded.store(true, ordering: .sequentiallyConsistent)
            FileHandle.standardError.writeIgnoringFailure(Data("mserve demo: stopping its servants and broker\n".utf8))
            children.stopAll(then: StopSignals.restoreDefault)
        }
        let environment = ["MSERVE_HUB_DIR": hubDirectory, "MSERVE_STOP_WITH_PARENT": String(getpid())]

        for index in 1...servants {
            let child = try ChildProcess(
                role: "servant \(index)",
                // A demo stopped with a query running ends soon, as one expects of Ctrl-C: a
                // drain of 1 s, not 5.
                arguments: ["servant", "--hub", "auto", "--hub-endpoint", hubEndpoint, "--drain", "1"],
                environment: environment, quietLogs: !verbose)
            try children.append(child)
            let endpoint = try await child.endpoint()
            say("servant \(index) up at \(endpoint)" + (index == 1 ? " (serving the hub at \(hubEndpoint))" : ""))
        }
        // Wait until the hub lists every servant, so the broker finds them all at once.
        let hub = HubClient(endpoint: hubEndpoint, timeout: .seconds(1))
        /// Asks `hub` every 50 ms, for at most `limit`, until `listed` says yes.
        func waitForHub(atMost limit: Duration, until listed: (HubClient) async throws -> Bool) async throws {
            let clock = ContinuousClock()
            let giveUp = clock.now.advanced(by: limit)
            while clock.now < giveUp {
                if (try? await listed(hub)) == true { return }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        try await waitForHub(atMost: .seconds(15)) { try await $0.resolve("default").count >= servants }
        let broker = try ChildProcess(
            role: "broker",
            arguments: ["broker", "--clients", "tcp://127.0.0.1:0", "--algorithm", algorithm, "--hub", "auto", "--hub-endpoint", hubEndpoint],
            environment: environment, quietLogs: !verbose)
        try children.append(broker)
        let endpoint = try await broker.endpoint()
        say("broker up at \(endpoint) (algorithm \(algorithm)), finding servants through the hub\n")

        var configuration = ClientConfiguration()
        configuration.deadline = .seconds(20)
        let client = try QueryClient(endpoint: endpoint, configuration: configuration)
        defer { client.close() }
        let list = queries.isEmpty ? ["proc1 `IBM", "proc1 `MSFT", "proc1 `IBM", "proc3 `AAPL"] : queries
        var failures = 0
        for (index, query) in list.enumerated() {
            say("q)send \(query)")
            do {
                let reply = try await client.send(query)
                if index == 0 || !queries.isEmpty {
                    say(reply.result)
                    say("")
                    say(reply.info)
                } else {
                    say("routing `\(reply.routing ?? "?") ran on \(reply.servant ?? "?")")
                    if query.hasPrefix("proc3") { say(reply.info) }
                }
            } catch {
                failures += 1
                say("error: \(error)")
            }
            say("")
        }
        if queries.isEmpty, let view = try? await client.send(".mserve.servants[]") {
            say("q)send .mserve.servants[]   / the broker's own view of its servants")
            say(view.result)
            say("")
        }
        // The broker registers with the hub beside its first queries: the table shows it
        // once it has (a few seconds at most).
        try await waitForHub(atMost: .seconds(5)) { try await !$0.resolve("default", role: SpokeRole.broker).isEmpty }
        if let spokes = try? await hub.table("spoke") {
            say("q)select pid,port,role,service,up from spoke   / in the hub")
            say(spokes.rendered(columns: ["pid", "port", "role", "service", "up"]))
        }
        if failures > 0 { throw ExitCode(1) }
    }
}

/// Whether a stop signal came: the demo then prints nothing more (``say(_:)``).
private let demoOutputEnded = Atomic(false)

/// Prints `item` and flushes it: into a pipe too (`mserve demo | tee demo.txt`), each line
/// arrives as it is printed, not when the demo ends. Nothing once a stop signal came.
private func say(_ item: Any) {
    guard !demoOutputEnded.load(ordering: .sequentiallyConsistent) else { return }
    print(item)
    fflush(nil)
}

/// The processes `mserve demo` started and the hub directory they share: stopped and removed
/// once, when the demo ends or a signal stops it, whichever comes first.
final class DemoChildren: Sendable {
    private struct State {
        var children: [ChildProcess] = []
        var stopped = false
    }

    private let state = Mutex(State())
    /// Held while the children are stopped.
    private let stopping = Mutex(())
    private let hubDirectory: String

    init(hubDirectory: String) {
        self.hubDirectory = hubDirectory
    }

    /// A demo's hub directory is this followed by the demo's process id, `-` and six random
    /// characters, under TMPDIR (a demo of an older version left it without the last two).
    static let directoryPrefix = "mserve-demo-"

    /// Creates this demo's hub directory under `temporary`: `mserve-demo-PID-XXXXXX`, new and
    /// this user's alone (0700). Its name cannot be guessed, and it is created in one step that
    /// uses nothing already there (``POSIXFile/makeUniqueDirectory(in:prefix:)``): a symbolic
    /// link another user planted at a name of a demo's cannot send its hub to a directory of
    /// theirs. The process id in the name lets the next demo remove it once this one is gone.
    static func makeHubDirectory(in temporary: String) throws -> String {
        do {
            return try POSIXFile.makeUniqueDirectory(in: temporary, prefix: directoryPrefix + "\(getpid())-")
        } catch {
            throw CommandFailure("cannot create the demo's hub directory: \(error.message); give another TMPDIR")
        }
    }

    /// Removes the hub directories under `temporary` that demos killed outright left (a demo
    /// stopped by a signal or ending removes its own): this user's directories named for a
    /// process that no longer runs (`mserve-demo-PID-XXXXXX`, or an older demo's
    /// `mserve-demo-PID`). A symbolic link, another user's directory, or one whose process runs
    /// is left alone.
    static func removeDirectoriesOfEndedDemos(in temporary: String) {
        let manager = FileManager.default
        for name in (try? manager.contentsOfDirectory(atPath: temporary)) ?? [] where name.hasPrefix(directoryPrefix) {
            let process = name.dropFirst(directoryPrefix.count).prefix { $0 != "-" }
            guard let pid = Int32(process), pid > 0, pid != getpid(),
                kill(pid, 0) == -1, errno == ESRCH
            else { continue }
            let path = temporary + "/" + name
            // Not followed: the attributes of a link are the link's.
            guard let attributes = try? manager.attributesOfItem(atPath: path),
                attributes[.type] as? FileAttributeType == .typeDirectory,
                (attributes[.ownerAccountID] as? NSNumber)?.uint32Value == getuid()
            else { continue }
            try? manager.removeItem(atPath: path)
        }
    }

    /// Keeps `child` to stop later; one started after ``stopAll()`` is stopped at once, and
    /// the demo ends.
    func append(_ child: ChildProcess) throws {
        let stopped = state.withLock { state in
            if !state.stopped { state.children.append(child) }
            return state.stopped
        }
        if stopped {
            child.stop()
            throw DemoError("the demo was stopped")
        }
    }

    /// Stops every child, removes the hub's directory, then runs `finish`. All are told to stop
    /// at once and drain together (their drains, not one after the other, are what the stop
    /// takes). A call while another stops them returns once that one's `finish` has run (a
    /// signal's handler ends the process there: the demo's own end waits for it); later calls
    /// do nothing but `finish`.
    func stopAll(then finish: () -> Void = {}) {
        stopping.withLock { _ in
            let children = state.withLock { state in
                defer { state.children.removeAll() }
                state.stopped = true
                return state.children
            }
            for child in children.reversed() { child.terminate() }
            for child in children.reversed() { child.stop() }
            try? FileManager.default.removeItem(atPath: hubDirectory)
            finish()
        }
    }
}
