import Foundation
import MServeClient
import POSIXSockets
import QData
import MServeProtocol
import MServeTestSupport
import Testing

extension IntegrationTests {
    /// The hub with real processes: registration, crash reports, hub restarts, a broker
    /// following its service, and auto-mode failover.
    @Suite struct HubProcessTests {
        /// A hub process on an OS-chosen port with its own directory.
        static func startHub(directory: String, port: Int = 0) async throws -> MServeProcess {
            try await MServeProcess(
                "hub",
                ["hub", "--bind", "tcp://127.0.0.1:\(port)", "--dir", directory, "--liveness", "2"])
        }

        /// An edit refused for want of the admin token says which file it read and how to name
        /// the hub's directory; with `--dir` naming it, the same edit is taken.
        @Test func anEditWithoutTheTokenNamesTheFileItReadAndTheWayToAnother() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                try await withTemporaryDirectory("mserve-hub-elsewhere") { elsewhere in
                    let hub = try await Self.startHub(directory: directory)
                    defer { hub.stop() }
                    let keys = try await CommandRun.mserve(["keys", "new", "client", "--keys", elsewhere])
                    try #require(keys.status == 0, "\(keys.errors)")
                    let publicKey = elsewhere + "/client.pub"

                    let refused = try await CommandRun.mserve(
                        ["hub", "allow", "client", publicKey, "--hub", hub.endpoint, "--dir", elsewhere])
                    #expect(refused.status == 1)
                    #expect(
                        refused.errors.contains(
                            "no token was read from \(elsewhere)/admin.token: give the hub's directory with --dir or MSERVE_HUB_DIR"),
                        "\(refused.errors)")

                    let taken = try await CommandRun.mserve(
                        ["hub", "allow", "client", publicKey, "--hub", hub.endpoint, "--dir", directory])
                    #expect(taken.status == 0, "\(taken.errors)")
                    #expect(taken.output.contains("client\t"), "\(taken.output)")
                }
            }
        }

        static func table(_ name: String, hub: String) async throws -> String {
            // memst always shows all its columns; the others take --all for theirs.
            let run = try await CommandRun.mserve(["hub", name] + (name == "memst" ? [] : ["--all"]) + ["--hub", hub])
            return run.output + run.errors
        }

        static func servant(hub: String, _ extra: [String] = []) async throws -> MServeProcess {
            try await MServeProcess(
                "servant", ["servant", "--bind", "tcp://127.0.0.1:0", "--hub", hub] + extra)
        }

        @Test func resolveListsAServicesServantsAndSaysWhenThereAreNone() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let hub = try await Self.startHub(directory: directory)
                defer { hub.stop() }
                let servant = try await Self.servant(hub: hub.endpoint, ["--service", "dev"])
                defer { servant.stop() }

                let listed = await eventually {
                    let run = try? await CommandRun.mserve(["hub", "resolve", "dev", "--hub", hub.endpoint])
                    return run?.output.hasPrefix(servant.endpoint + "\t") == true
                }
                #expect(listed)
                let none = try await CommandRun.mserve(["hub", "resolve", "nosuch", "--hub", hub.endpoint])
                #expect(none.status == 0)
                #expect(none.output.isEmpty)
                #expect(none.errors.contains("no live servant in service nosuch"), "\(none.errors)")
            }
        }

        /// Every hub listing says when it is empty: the q tables by their header, `keys` and
        /// `users` (and the edits that print them) by a line on standard error, as `resolve`
        /// does, standard output staying the list alone.
        @Test func anEmptyListingSaysItIsEmpty() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let hub = try await Self.startHub(directory: directory)
                defer { hub.stop() }
                for (command, line) in [
                    ("keys", "mserve hub keys: no key is admitted (mserve hub allow NAME FILE.pub admits one)"),
                    ("users", "mserve hub users: no kdb+ user (mserve hub user add NAME adds one)"),
                ] {
                    let run = try await CommandRun.mserve(["hub", command, "--hub", hub.endpoint])
                    #expect(run.status == 0, "\(run.errors)")
                    #expect(run.output.isEmpty, "\(run.output)")
                    #expect(run.errors == line + "\n", "\(run.errors)")
                }
                for table in ["memst", "down"] {
                    let run = try await CommandRun.mserve(["hub", table, "--hub", hub.endpoint])
                    #expect(run.status == 0, "\(run.errors)")
                    #expect(run.output.hasPrefix("spoke"), "\(run.output)")
                }

                let added = try await CommandRun.mserve(
                    ["hub", "user", "add", "alice", "--hub", hub.endpoint, "--dir", directory], input: "wonderland\n")
                #expect(added.status == 0, "\(added.errors)")
                #expect(added.output == "alice\tpbkdf2-sha256\n")
                #expect(added.errors.isEmpty, "\(added.errors)")
                let removed = try await CommandRun.mserve(["hub", "user", "remove", "alice", "--hub", hub.endpoint, "--dir", directory])
                #expect(removed.status == 0, "\(removed.errors)")
                #expect(removed.output.isEmpty)
                #expect(removed.errors == "mserve hub user remove: no kdb+ user (mserve hub user add NAME adds one)\n")
            }
        }

        /// A password given with `--password` is in the process list, which every local user
        /// may read, while the command runs: the command says so on standard error, with the
        /// way to give it on standard input, and still adds the user.
        @Test func aPasswordOnTheCommandLineIsWarnedOfAndTaken() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let hub = try await Self.startHub(directory: directory)
                defer { hub.stop() }
                let added = try await CommandRun.mserve(
                    ["hub", "user", "add", "alice", "--password", "wonderland", "--hub", hub.endpoint, "--dir", directory])
                #expect(added.status == 0, "\(added.errors)")
                #expect(added.output == "alice\tpbkdf2-sha256\n")
                #expect(
                    added.errors == "mserve hub user add: warning: --password puts the password in the process list, where "
                        + "every local user may read it (ps) while this command runs; give it on standard input instead: "
                        + "mserve hub user add alice < FILE (one line), or mserve hub user add alice alone on a terminal, "
                        + "which prompts for it without echo\n",
                    "\(added.errors)")
                // Given on standard input, the password or its digest (`-`), nothing is said.
                let sha1 = String(repeating: "a", count: 40)
                let sha256 = String(repeating: "b", count: 64)
                for (arguments, input, kind) in [
                    ([], "wonderland\n", "pbkdf2-sha256"), (["--sha1", "-"], sha1 + "\n", "pbkdf2-sha256/sha1"),
                    (["--sha256", "-"], sha256 + "\n", "pbkdf2-sha256/sha256"),
                ] as [([String], String, String)] {
                    let quiet = try await CommandRun.mserve(
                        ["hub", "user", "add", "alice"] + arguments + ["--hub", hub.endpoint, "--dir", directory], input: input)
                    #expect(quiet.status == 0, "\(quiet.errors)")
                    #expect(quiet.output == "alice\t\(kind)\n", "\(arguments)")
                    #expect(quiet.errors.isEmpty, "\(quiet.errors)")
                }
            }
        }

        /// A digest given on the command line is in the process list too, and an unsalted digest
        /// can be guessed against offline: the command warns of it, with the way to give it on
        /// standard input (`--sha1 -`), and still adds the user. A line on standard input that
        /// is not such a digest is refused, saying what was expected, and nothing is added.
        @Test func aDigestOnTheCommandLineIsWarnedOfAndTaken() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let hub = try await Self.startHub(directory: directory)
                defer { hub.stop() }
                for (option, digest) in [("--sha1", String(repeating: "a", count: 40)), ("--sha256", String(repeating: "b", count: 64))] {
                    let added = try await CommandRun.mserve(
                        ["hub", "user", "add", "bob", option, digest, "--hub", hub.endpoint, "--dir", directory])
                    #expect(added.status == 0, "\(added.errors)")
                    #expect(added.output == "bob\tpbkdf2-sha256/\(option.dropFirst(2))\n")
                    #expect(
                        added.errors == "mserve hub user add: warning: \(option) puts the password's digest in the process list, "
                            + "where every local user may read it (ps) while this command runs, and an unsalted digest can be "
                            + "guessed against offline; give it on standard input instead: mserve hub user add bob \(option) - "
                            + "< FILE (one line)\n",
                        "\(added.errors)")
                }
                let refused = try await CommandRun.mserve(
                    ["hub", "user", "add", "carol", "--sha1", "-", "--hub", hub.endpoint, "--dir", directory], input: "not a digest\n")
                #expect(refused.status != 0)
                #expect(refused.errors.contains("--sha1 -: the line on standard input is not 40 hex digits (it has 12 characters)"), "\(refused.errors)")
                let users = try await CommandRun.mserve(["hub", "users", "--hub", hub.endpoint])
                #expect(users.output == "bob\tpbkdf2-sha256/sha256\n", "\(users.output)")
            }
        }

        /// A hub that cannot write its new database (a full disk; here a file-size limit of 0,
        /// its signal ignored, so every write fails) exits with the reason and leaves no empty
        /// `hub.sqlite` behind, which every later start would refuse as damaged: once it can
        /// write, the next start makes the database.
        @Test func aDatabaseThatCouldNotBeMadeLeavesNoEmptyFile() async throws {
            try await withTemporaryDirectory("mserve-hub-unmade") { temporary in
                let directory = temporary + "/hub"
                let failed = try await CommandRun.run(
                    URL(fileURLWithPath: "/bin/bash"),
                    [
                        "-c", "trap '' XFSZ && ulimit -f 0 && exec \"$0\" hub --bind tcp://127.0.0.1:0 --dir \"$1\"",
                        MServeProcess.executable.path, directory,
                    ])
                #expect(failed.status == 1, "\(failed.errors)")
                #expect(failed.errors.contains("cannot open the hub database \(directory)/hub.sqlite"), "\(failed.errors)")
                #expect(!FileManager.default.fileExists(atPath: directory + "/hub.sqlite"))
                let hub = try await Self.startHub(directory: directory)
                defer { hub.stop() }
                let spokes = try await CommandRun.mserve(["hub", "spokes", "--hub", hub.endpoint])
                #expect(spokes.status == 0, "\(spokes.errors)")
            }
        }

        /// A hub directory that cannot be made is named with the way to give another: `--dir`
        /// or MSERVE_HUB_DIR for `mserve hub`, MSERVE_HUB_DIR alone for a servant serving the
        /// hub in auto mode, which has no --dir.
        @Test func aHubDirectoryThatCannotBeMadeSaysHowToGiveAnother() async throws {
            try await withTemporaryDirectory("mserve-hub-file") { temporary in
                let file = temporary + "/file"
                #expect(FileManager.default.createFile(atPath: file, contents: Data()))
                let hub = try await CommandRun.mserve(["hub", "--bind", "tcp://127.0.0.1:0", "--dir", file + "/hub"])
                #expect(hub.status == 1)
                #expect(
                    hub.errors.contains("cannot create the hub directory \(file)/hub: Not a directory; give another with --dir or MSERVE_HUB_DIR"),
                    "\(hub.errors)")

                let servant = try await MServeProcess(
                    "servant",
                    ["servant", "--bind", "tcp://127.0.0.1:0", "--hub", "auto", "--hub-endpoint", "tcp://127.0.0.1:\(LoopbackPort.free())"],
                    environment: ["MSERVE_HUB_DIR": file + "/hub"])
                defer { servant.stop() }
                #expect(
                    await eventually {
                        servant.logs.contains("cannot create the hub directory \(file)/hub: Not a directory; give another with MSERVE_HUB_DIR")
                    }, "\(servant.logs)")
            }
        }

        /// A lock file another user left in the hub directory (root's, from a hub once run as
        /// root) stops a hub run as the directory's owner, naming the file's owner and mode, this
        /// hub's user and the fix, not with a bare "Permission denied". Only root can make the
        /// case: it runs the hub as uid 65534 (nobody) over a directory of that user's.
        @Test(
            .enabled(
                if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                "needs root, to give files to two users, and setpriv, to run the hub as another"))
        func aLockFileAnotherUserOwnsIsRefusedSayingWhoseItIsAndWhatToChange() async throws {
            try await withTemporaryDirectory("mserve-hub-lock-owner") { temporary in
                // The hub's user must reach its directory through the temporary one, root's.
                #expect(chmod(temporary, 0o711) == 0)
                let directory = URL(fileURLWithPath: temporary).resolvingSymlinksInPath().path + "/hub"
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                #expect(chown(directory, 65_534, 65_534) == 0)
                let user = try FileManager.default.attributesOfItem(atPath: directory)[.ownerAccountName] as? String ?? "uid 65534"
                let shownUser = user == "uid 65534" ? user : "user \(user)"
                let chownUser = user == "uid 65534" ? "65534" : user
                let root = try FileManager.default.attributesOfItem(atPath: temporary)[.ownerAccountName] as? String ?? "uid 0"
                for name in ["hub.schema.lock", "hub.lock"] {
                    let path = directory + "/" + name
                    #expect(FileManager.default.createFile(atPath: path, contents: Data(), attributes: [.posixPermissions: 0o644]))
                    let hub = try await CommandRun.run(
                        URL(fileURLWithPath: "/usr/bin/setpriv"),
                        ["--reuid=65534", "--regid=65534", "--clear-groups", MServeProcess.executable.path]
                            + ["hub", "--bind", "tcp://127.0.0.1:0", "--dir", directory])
                    #expect(hub.status == 1, "\(hub.errors)")
                    #expect(
                        hub.errors.contains(
                            "cannot use \(path) as a lock file: Permission denied (owned by \(root), mode 0644; this hub runs as "
                                + "\(shownUser)): give the file to the hub's user (chown \(chownUser) \(path), as root), or remove it, "
                                + "and the hub makes the file itself"),
                        "\(hub.errors)")
                    // Removed, the hub makes the file itself (the next one in turn refuses the next file).
                    try FileManager.default.removeItem(atPath: path)
                }
            }
        }

        @Test func aKilledServantMovesToDownWithItsLastMemoryStats() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let hub = try await Self.startHub(directory: directory)
                defer { hub.stop() }
                let first = try await Self.servant(hub: hub.endpoint)
                defer { first.stop() }
                let second = try await Self.servant(hub: hub.endpoint)
                defer { second.stop() }

                let port = { (process: MServeProcess) in process.endpoint.split(separator: ":").last.map(String.init) ?? "" }
                #expect(
                    try await eventually(timeout: .seconds(60)) {
                        let spokes = try await Self.table("spokes", hub: hub.endpoint)
                        return spokes.contains(port(first)) && spokes.contains(port(second))
                    })
                // Memory stats arrive with the heartbeats.
                #expect(
                    try await eventually(timeout: .seconds(60)) {
                        // Header, rule, and rows from the hub and both servants.
                        try await Self.table("memst", hub: hub.endpoint).split(separator: "\n").count >= 5
                    })

                await second.crash()
                #expect(try await eventually(timeout: .seconds(60)) { try await Self.table("down", hub: hub.endpoint).contains(port(second)) })
                let down = try await Self.table("down", hub: hub.endpoint)
                #expect(down.contains("crash"))
                #expect(down.contains("rss"))
                #expect(down.contains("\(second.pid)"))
                #expect(!(try await Self.table("spokes", hub: hub.endpoint)).contains(port(second)))

                // A clean exit deregisters without a crash report.
                await first.stop()
                #expect(try await eventually(timeout: .seconds(60)) { !(try await Self.table("spokes", hub: hub.endpoint)).contains(port(first)) })
                let downAfterStop = try await Self.table("down", hub: hub.endpoint)
                // The pid column of each row (after the header and its rule): a pid as a substring
                // would match inside another column's number (pid 1000 in a heap of 100073472).
                let pidsDown = downAfterStop.split(separator: "\n").dropFirst(2).compactMap {
                    $0.split(separator: " ").dropFirst().first.map(String.init)
                }
                #expect(pidsDown == ["\(second.pid)"], "\(downAfterStop)\nfirst's log:\n\(first.logs)")
            }
        }

        @Test func aRestartedHubKeepsLiveSpokesAndMovesDeadOnesToDown() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                var hub = try await Self.startHub(directory: directory)
                let endpoint = hub.endpoint
                let hubPort = Int(endpoint.split(separator: ":").last ?? "") ?? 0
                let survivor = try await Self.servant(hub: endpoint)
                defer { survivor.stop() }
                let victim = try await Self.servant(hub: endpoint)
                defer { victim.stop() }
                let port = { (process: MServeProcess) in process.endpoint.split(separator: ":").last.map(String.init) ?? "" }
                #expect(
                    try await eventually(timeout: .seconds(60)) {
                        let spokes = try await Self.table("spokes", hub: endpoint)
                        return spokes.contains(port(survivor)) && spokes.contains(port(victim))
                    })

                await hub.stop()
                await victim.crash()
                hub = try await Self.startHub(directory: directory, port: hubPort)
                defer { hub.stop() }

                #expect(try await eventually(timeout: .seconds(60)) { try await Self.table("down", hub: endpoint).contains(port(victim)) })
                // The hub stopped cleanly: its own spoke left, so its one crash report is the victim's.
                let down = try await Self.table("down", hub: endpoint)
                #expect(down.occurrences(of: "not heard from after a hub restart") == 1, "\(down)")
                #expect(try await eventually(timeout: .seconds(60)) { try await Self.table("spokes", hub: endpoint).contains(port(survivor)) })
                #expect(!(try await Self.table("spokes", hub: endpoint)).contains(port(victim)))
            }
        }

        @Test func aBrokerUsesServantsThatJoinAfterItAndDropsThoseThatLeave() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let hub = try await Self.startHub(directory: directory)
                defer { hub.stop() }
                let broker = try await MServeProcess(
                    "broker", ["broker", "--clients", "tcp://127.0.0.1:0", "--hub", hub.endpoint, "--service", "prod"])
                defer { broker.stop() }
                let servant = try await Self.servant(hub: hub.endpoint, ["--service", "prod"])
                defer { servant.stop() }
                let other = try await Self.servant(hub: hub.endpoint, ["--service", "dev"])
                defer { other.stop() }

                var configuration = ClientConfiguration()
                configuration.deadline = .seconds(10)
                let client = try QueryClient(endpoint: broker.endpoint, configuration: configuration)
                defer { client.close() }
                let reply = try await client.send("proc1 `IBM")
                #expect(reply.servant == servant.endpoint.replacingOccurrences(of: "tcp://", with: ""))

                // `mserve send --service` finds the broker through the hub, once the hub lists it: its
                // registration runs beside the watcher that found the servant, and on a loaded
                // machine a heartbeat missed under the test hub's 2 s liveness drops it for a while.
                #expect(
                    try await eventually(timeout: .seconds(60)) {
                        try await Self.table("spokes", hub: hub.endpoint).contains(broker.endpoint)
                    }, "\(hub.logs)")
                let sent = try await CommandRun.mserve(["send", "--service", "prod", "--hub", hub.endpoint, "echo 42"])
                #expect(sent.status == 0, "\(sent.errors)\nhub:\n\(hub.logs)\nbroker:\n\(broker.logs)")
                #expect(sent.output.hasPrefix("42"))

                await servant.stop()
                // It drains and leaves (or the hub's LEAVE removes it first), with no warning.
                #expect(await eventually(timeout: .seconds(60)) { broker.logs.contains("servant left") || broker.logs.contains("removed") })
                #expect(!broker.logs.contains("servant lost"), "\(broker.logs)")
            }
        }

        @Test func aServantStoppedWithSIGTERMAnswersItsRunningQueriesBeforeItLeaves() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let hub = try await Self.startHub(directory: directory)
                defer { hub.stop() }
                let servant = try await Self.servant(hub: hub.endpoint, ["--threads", "2"])
                defer { servant.stop() }
                let broker = try await MServeProcess(
                    "broker", ["broker", "--clients", "tcp://127.0.0.1:0", "--hub", hub.endpoint, "--deadline", "20"])
                defer { broker.stop() }

                var configuration = ClientConfiguration()
                configuration.deadline = .seconds(20)
                let client = try QueryClient(endpoint: broker.endpoint, configuration: configuration)
                defer { client.close() }
                _ = try await client.send("echo 1")  // the servant is ready at the broker

                // A second for both to reach the servant, however loaded the machine (400 ms was
                // little), and two more for them to run on.
                async let first = client.send("sleep 3000")
                async let second = client.send("sleep 3000")
                try await Task.sleep(for: .seconds(1))
                let stopped = Task.detached { servant.stop() }
                // Both were running when the servant was told to stop: their results, not errors.
                #expect(try await first.result == .atom(.long(3000)))
                #expect(try await second.result == .atom(.long(3000)))
                #expect(await stopped.value == 0)
                #expect(servant.logs.contains("answered=3"), "\(servant.logs)")
            }
        }

        @Test func inAutoModeTheHubIsServedAtTheHubEndpointGiven() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let hubEndpoint = "tcp://127.0.0.1:\(LoopbackPort.free())"
                // The flag wins over MSERVE_HUB (which keeps the test off the default port).
                let environment = ["MSERVE_HUB": "tcp://127.0.0.1:\(LoopbackPort.free())", "MSERVE_HUB_DIR": directory]
                let servant = try await MServeProcess(
                    "servant", ["servant", "--bind", "tcp://127.0.0.1:0", "--hub", "auto", "--hub-endpoint", hubEndpoint],
                    environment: environment)
                defer { servant.stop() }
                let port = servant.endpoint.split(separator: ":").last.map(String.init) ?? ""
                #expect(try await eventually(timeout: .seconds(60)) { try await Self.table("spokes", hub: hubEndpoint).contains(port) })

                let alone = try await CommandRun.mserve(["servant", "--hub-endpoint", hubEndpoint])
                #expect(alone.status == 64)
                #expect(alone.errors.contains("--hub-endpoint goes with --hub auto"), "\(alone.errors)")
            }
        }

        @Test func inAutoModeAnotherProcessTakesOverTheHub() async throws {
            try await withTemporaryDirectory("mserve-hub") { directory in
                let hubEndpoint = "tcp://127.0.0.1:\(LoopbackPort.free())"
                let environment = ["MSERVE_HUB": hubEndpoint, "MSERVE_HUB_DIR": directory]
                let first = try await MServeProcess(
                    "servant 1", ["servant", "--bind", "tcp://127.0.0.1:0", "--hub", "auto"], environment: environment)
                defer { first.stop() }
                let second = try await MServeProcess(
                    "servant 2", ["servant", "--bind", "tcp://127.0.0.1:0", "--hub", "auto"], environment: environment)
                defer { second.stop() }
                let port = { (process: MServeProcess) in process.endpoint.split(separator: ":").last.map(String.init) ?? "" }
                // Both registered before the first goes: its crash report is what the test waits for.
                #expect(
                    try await eventually(timeout: .seconds(60)) {
                        let spokes = try await Self.table("spokes", hub: hubEndpoint)
                        return spokes.contains(port(first)) && spokes.contains(port(second))
                    })

                await first.crash()
                // The second notices the hub is gone (a 3 s liveness), races for the port, serves
                // the hub, reloads the tables, and records the crash once the first's spoke misses
                // its heartbeats: about 8 s here, more on a loaded machine (a full suite on 2 cores
                // took over 30 s once).
                #expect(
                    try await eventually(timeout: .seconds(60)) { try await Self.table("down", hub: hubEndpoint).contains(port(first)) },
                    "the second servant's log:\n\(second.logs)")
                #expect(try await Self.table("spokes", hub: hubEndpoint).contains(port(second)))
            }
        }
    }
}

