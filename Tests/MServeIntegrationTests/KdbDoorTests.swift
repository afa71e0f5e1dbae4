import Foundation
import MServeProtocol
import MServeTestSupport
import POSIXSockets
import QData
import Testing

extension IntegrationTests {
    /// The kdb+ IPC door, driven by the real client libraries from PyPI (pykx, kola, qpython)
    /// and by hostile byte streams (plain Python sockets).
    @Suite struct KdbDoorTests {
        static var interopDirectory: URL {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Interop")
        }

        /// The virtualenv with pykx and kola (`scripts/setup`).
        static var python: String? { PythonInteropTests.python }

        /// qpython's own virtualenv (it needs numpy<1.24), next to the main one.
        static var qpythonPython: String? {
            let venv =
                ProcessInfo.processInfo.environment["MSERVE_QPYTHON_VENV"]
                ?? "\(NSHomeDirectory())/.cache/mserve/venv-qpython"
            let path = "\(venv)/bin/python"
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }

        /// Runs `python script arguments` and returns its exit status and output (standard
        /// output, then standard error), waiting without holding a thread of the concurrency pool.
        static func run(_ python: String, _ script: String, _ arguments: [String]) async throws -> (Int32, String) {
            let run = try await CommandRun.run(
                URL(fileURLWithPath: python), [interopDirectory.appendingPathComponent(script).path] + arguments,
                timeout: 180)
            return (run.status, run.output + run.errors)
        }

        /// Two servants and a broker with a kdb+ door on a free port; returns the cluster
        /// and the door's port (read from the broker's log line).
        static func startCluster(
            servants: Int = 2, threads: Int = 1, doorArguments: [String] = []
        ) async throws -> (ProcessCluster, Int) {
            let cluster = try await ProcessCluster.start(
                servants: servants, threads: threads, brokerArguments: ["--kdb-port", "127.0.0.1:0"] + doorArguments)
            for _ in 0..<500 {
                let logs = cluster.broker.logs
                if let range = logs.range(of: "kdbPort=") {
                    let digits = logs[range.upperBound...].prefix { $0.isNumber }
                    if let port = Int(digits) { return (cluster, port) }
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            await cluster.stop()
            throw TestFailure("the broker logged no kdb+ door port")
        }

        /// A users file holding `text`, mode 0600, in a new directory of this user's alone under
        /// the temporary directory (a broker refuses a users file in a directory others may
        /// write, a sticky one such as /tmp included); `remove` removes the directory.
        static func usersFile(_ text: String) throws -> (url: URL, remove: @Sendable () -> Void) {
            let directory = NSTemporaryDirectory() + "mserve-users-\(UUID().uuidString)"
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let file = URL(fileURLWithPath: directory + "/users")
            try text.write(to: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
            return (file, { try? FileManager.default.removeItem(atPath: directory) })
        }

        static func requirePython() -> String? {
            guard let python else {
                #expect(ProcessInfo.processInfo.environment["CI"] != "true", "run scripts/setup: no Python peers")
                return nil
            }
            return python
        }

        @Test func pykxAndKolaQueryThroughTheDoor() async throws {
            guard let python = Self.requirePython() else { return }
            let (cluster, port) = try await Self.startCluster()
            defer { cluster.stop() }
            for script in ["kdb_pykx_client.py", "kdb_kola_client.py"] {
                let (status, text) = try await Self.run(python, script, ["127.0.0.1", "\(port)"])
                #expect(status == 0, "\(script): \(text)")
                #expect(text.contains("all checks passed"), "\(script): \(text)")
            }
        }

        /// `(id; query; options)` through the door, sync and async as q sends them (pykx): the
        /// `deadline` option obeyed, a typo and a wrong type refused with the client's id
        /// (Tests/Interop/kdb_pykx_options.py).
        @Test func perQueryOptionsThroughTheDoor() async throws {
            guard let python = Self.requirePython() else { return }
            let (cluster, port) = try await Self.startCluster(servants: 1)
            defer { cluster.stop() }
            let (status, text) = try await Self.run(python, "kdb_pykx_options.py", ["127.0.0.1", "\(port)"])
            #expect(status == 0, "\(text)")
            #expect(text.contains("all checks passed"), "\(text)")
        }

        /// Every failure — malformed, refused, unknown function, servant error, queue full,
        /// deadline, servant lost — read by each library over the door in every form, and
        /// over ZeroMQ by pykx's deserializer, with the id and the info intact
        /// (Tests/Interop/mserve_failures.py). One cluster per library: it ends by killing
        /// the servant.
        @Test(arguments: ["kdb_pykx_failures.py", "kdb_kola_failures.py", "kdb_qpython_failures.py"])
        func failuresAreReadableByEveryLibrary(script: String) async throws {
            let python: String
            if script.contains("qpython") {
                guard let qpython = Self.qpythonPython else {
                    #expect(ProcessInfo.processInfo.environment["CI"] != "true", "run scripts/setup: no qpython")
                    return
                }
                python = qpython
            } else {
                guard let main = Self.requirePython() else { return }
                python = main
            }
            let (cluster, port) = try await Self.startCluster(
                servants: 1, threads: 4, doorArguments: ["--deadline", "2", "--queue-capacity", "1", "--redispatch", "0"])
            defer { cluster.stop() }
            let (status, text) = try await Self.run(python, script, ["127.0.0.1", "\(port)", cluster.broker.endpoint])
            #expect(status == 0, "\(script): \(text)")
            #expect(text.contains("all checks passed"), "\(script): \(text)")
        }

        /// Each q type, guid and dictionary included, as the argument of a call in parse form
        /// and as its result, through the door and over ZeroMQ: byte for byte what pykx
        /// encodes (Tests/Interop/kdb_types.py).
        @Test func everyQTypeCrossesBothPathsByteForByte() async throws {
            guard let python = Self.requirePython() else { return }
            let (cluster, port) = try await Self.startCluster()
            defer { cluster.stop() }
            let (status, text) = try await Self.run(
                python, "kdb_types.py", ["127.0.0.1", "\(port)", cluster.broker.endpoint])
            #expect(status == 0, "\(text)")
            #expect(text.contains("all checks passed"), "\(text)")
        }

        @Test func qpythonSendAsyncThenReceive() async throws {
            guard let python = Self.qpythonPython else {
                #expect(ProcessInfo.processInfo.environment["CI"] != "true", "run scripts/setup: no qpython")
                return
            }
            let (cluster, port) = try await Self.startCluster()
            defer { cluster.stop() }
            let (status, text) = try await Self.run(python, "kdb_qpython_client.py", ["127.0.0.1", "\(port)"])
            #expect(status == 0, "\(text)")
            #expect(text.contains("all checks passed"), "\(text)")
        }

        @Test func usersFileAdmitsTheRightPasswordsOnly() async throws {
            guard let python = Self.requirePython() else { return }
            // alice in plain text, bob as the SHA-1 of "secret", carol as the SHA-256 of "secret".
            let (file, removeFile) = try Self.usersFile(
                """
                alice:wonderland
                bob:e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4
                carol:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b
                """)
            defer { removeFile() }
            let (cluster, port) = try await Self.startCluster(doorArguments: ["--users", file.path])
            defer { cluster.stop() }
            for (user, password) in [("alice", "wonderland"), ("bob", "secret"), ("carol", "secret")] {
                let (status, text) = try await Self.run(
                    python, "kdb_pykx_client.py", ["127.0.0.1", "\(port)", user, password])
                #expect(status == 0, "\(user): \(text)")
            }
            for (user, password) in [("alice", "nope"), ("mallory", "secret"), ("", "")] {
                let (status, _) = try await Self.run(
                    python, "kdb_pykx_client.py", ["127.0.0.1", "\(port)", user, password])
                #expect(status != 0, "\(user) with a wrong password was let in")
            }
        }

        /// A users file with no users starts the door, which refuses every login: the broker
        /// says so at start.
        @Test func anEmptyUsersFileIsWarnedOf() async throws {
            let (file, removeFile) = try Self.usersFile("")
            defer { removeFile() }
            let (cluster, _) = try await Self.startCluster(servants: 1, doorArguments: ["--users", file.path])
            defer { cluster.stop() }
            #expect(
                await eventually { cluster.broker.logs.contains("the users file lists no users: every kdb+ login is refused") },
                "\(cluster.broker.logs)")
        }

        /// A door other machines can reach (`*`, `0.0.0.0`) without `--users` says so once at
        /// start, at warning level: anyone who reaches it can send queries. On loopback, or with
        /// users, it says nothing.
        @Test func aDoorOthersCanReachWithoutUsersIsWarnedOf() async throws {
            let (users, removeUsers) = try Self.usersFile("alice:wonderland\n")
            defer { removeUsers() }
            // The broker's logs, from start to stop.
            func logs(_ door: [String]) async throws -> String {
                let broker = try await MServeProcess("broker", ["broker", "--clients", "tcp://127.0.0.1:0"] + door)
                await broker.stop()
                return broker.logs
            }
            for host in ["*", "0.0.0.0"] {
                let open = try await logs(["--kdb-port", "\(host):0"])
                let listening = try #require(open.range(of: "kdbPort="), "\(open)")
                let port = try #require(Int(open[listening.upperBound...].prefix { $0.isNumber }), "\(open)")
                let warning =
                    "the kdb+ door listens on \(host):\(port) without --users: anyone who reaches it can send queries; "
                    + "give --users FILE or --users hub, or bind it to loopback"
                let lines = open.split(separator: "\n").filter { $0.contains(warning) }
                #expect(lines.count == 1, "\(open)")
                #expect(lines.allSatisfy { $0.contains(" warning ") }, "\(lines)")
            }
            for door in [
                ["--kdb-port", "127.0.0.1:0"], ["--kdb-port", "0"], ["--kdb-port", "localhost:0"],
                ["--kdb-port", "*:0", "--users", users.path],
            ] {
                let quiet = try await logs(door)
                #expect(quiet.contains("kdb+ IPC door listening"), "\(door): \(quiet)")
                #expect(!quiet.contains("the kdb+ door listens on"), "\(door): \(quiet)")
            }
        }

        /// Sync messages sent one after another without waiting, as a client may pipeline them,
        /// are answered in the order they came, as q answers them: a kdb+ response carries no
        /// id, so that order is all a client matches responses by. With two servants the
        /// short queries would finish first.
        @Test func pipelinedSyncMessagesAreAnsweredInOrder() async throws {
            let (cluster, port) = try await Self.startCluster()
            defer { cluster.stop() }
            let descriptor = try TCPSocket.connect(address: IPv4Address.literal("127.0.0.1")!, port: port)
            defer { TCPSocket.close(descriptor) }
            TCPSocket.waitWritable(descriptor, milliseconds: 5_000)
            KdbWire.write(descriptor, Array("user:pass\u{3}\u{0}".utf8))
            #expect(try await KdbWire.read(descriptor, count: 1).count == 1, "no capability byte")
            let queries = ["sleep 600", "echo 1", "sleep 200", "echo 2", "pid[]"]
            // An async `(id; query)` after them waits its turn too, and is answered by id.
            KdbWire.write(
                descriptor,
                queries.flatMap { QIPC.encode(.string($0), messageType: .sync) }
                    + QIPC.encode(.list([.atom(.long(7)), .string("echo 3")]), messageType: .async))
            var answers: [QValue] = []
            for _ in 0...queries.count {
                let header = try await KdbWire.read(descriptor, count: 8)
                try #require(header.count == 8, "answers so far: \(answers)")
                let length = Int(header[4]) | Int(header[5]) << 8 | Int(header[6]) << 16 | Int(header[7]) << 24
                answers.append(try QIPC.decode(header + (try await KdbWire.read(descriptor, count: length - 8))).value)
            }
            let longs = answers.prefix(4).map { answer -> Int64? in
                if case .atom(.long(let value)) = answer { return value }
                return nil
            }
            #expect(longs == [600, 1, 200, 2], "\(answers)")
            guard case .atom(.int) = answers[4] else {
                Issue.record("pid[] answered fifth: \(answers)")
                return
            }
            guard case .list(let items, _) = answers[5], items.first == .atom(.long(7)) else {
                Issue.record("the async query's reply last: \(answers)")
                return
            }
        }


        /// Each attack of kdb_safety.py, with the door settings it is made against: `hog` twice,
        /// once held back by the per-address limit, once (the limit set to the cap) by the share
        /// of the cap kept for addresses holding few connections.
        @Test(arguments: [
            ("forged-length", []), ("truncated", []), ("garbage", []), ("long-handshake", []), ("huge", []),
            ("non-reader", []),
            ("crowd", ["--kdb-max-connections", "3"]),
            ("hog", ["--kdb-max-connections", "8"]),
            ("hog", ["--kdb-max-connections", "8", "--kdb-max-per-address", "8"]),
            ("idle", ["--kdb-idle-timeout", "1"]),
        ])
        func hostileBytesHarmNoOne(attack: String, limit: [String]) async throws {
            let python = Self.python ?? "/usr/bin/python3"
            let (cluster, port) = try await Self.startCluster(doorArguments: ["--kdb-reply-buffer", "1000000"] + limit)
            defer { cluster.stop() }
            let (status, text) = try await Self.run(python, "kdb_safety.py", ["127.0.0.1", "\(port)", attack])
            #expect(status == 0, "\(attack): \(text)")
            #expect(text.contains("all checks passed"), "\(attack): \(text)")
            #expect(cluster.broker.isRunning, "the broker died")
        }
    }
}
