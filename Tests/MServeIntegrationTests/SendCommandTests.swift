import Foundation
import MServeTestSupport
import POSIXSockets
import QData
import Testing
import ZeroMQ

extension IntegrationTests {
    /// `mserve send` against a real broker. `send -`: every non-empty line answered, printed in
    /// input order, failures in their place and named on standard error, exit status 1; run against the release
    /// binaries too (`.ci/run`), where a miscompiled child task once lost every answer.
    @Suite struct SendCommandTests {
        /// `mserve send` logs a failure the broker sent for no query of its own with the
        /// broker's text: escaped, a newline in it cannot start a line that reads as the
        /// client's (every subcommand logs through `OneLineLogHandler`).
        @Test func aBrokersTextCannotForgeALineInSendsLog() async throws {
            let forged = "2026-12-05T00:00:00+0000 critical mserve.client: FORGED"
            // A broker that answers the query with an id of its own and that text as a q error.
            let endpoint = Self.peerAnsweringOnce { _ in
                [QIPC.encode(.list([.identity, .error("x\n" + forged)]), messageType: .async)]
            }
            let run = try await CommandRun.mserve(["send", "--broker", endpoint, "--deadline", "1", "echo 1"], timeout: 60)
            #expect(run.status == 1, "\(run.errors)")
            #expect(run.errors.contains("the broker refused a message: x\\n" + forged), "\(run.errors)")
            #expect(!run.errors.split(separator: "\n").contains { $0.hasPrefix(forged) }, "\(run.errors)")
        }

        /// What a reply carries reaches the terminal escaped, whoever chose it (a servant, whose
        /// info entries the broker passes on, or a broker): the symbols of the result and the
        /// info dictionary's keys and values, as its strings already were, a string of
        /// multi-byte text too, and a failure's text. None can clear the screen, colour it, set
        /// the terminal's title, or start a line that reads as one of send's own.
        @Test func aRepliesTextCannotDriveTheTerminalOrForgeALine() async throws {
            let forged = "forged: line"
            let text = "\u{1b}[2J\u{1b}]0;TITLE\u{07}\r\n" + forged + "\u{9b}31m\u{202e}"
            let shown = "\\033[2J\\033]0;TITLE\\007\\r\\n" + forged + "\\302\\233" + "31m\\342\\200\\256"
            // A broker answering the query with `reply(id)`.
            func answering(_ reply: @escaping @Sendable (QValue) -> QValue) -> String {
                Self.peerAnsweringOnce { query in
                    guard case .list(let items, _)? = try? QIPC.decode(query).value, let id = items.first else { return [] }
                    return [QIPC.encode(reply(id), messageType: .async)]
                }
            }
            func expectNothingRaw(_ output: String) {
                #expect(!output.unicodeScalars.contains { [0x1b, 0x07, 0x0d, 0x9b, 0x202e].contains($0.value) }, "\(output)")
                #expect(!output.split(whereSeparator: \.isNewline).contains { $0.hasPrefix(forged) }, "\(output)")
            }

            let info = QValue.dictionary(
                keys: .vector(.symbol(["routing", "note" + text, "text"])),
                values: .list([.atom(.symbol("IBM")), .atom(.symbol("ok" + text)), .string("été" + text)]))
            let answered = answering { id in .list([id, .atom(.symbol("IBM" + text)), info]) }
            let run = try await CommandRun.mserve(["send", "--broker", answered, "--deadline", "5", "echo 1"], timeout: 60)
            #expect(run.status == 0, "\(run.errors)")
            expectNothingRaw(run.output)
            #expect(run.output.contains("`IBM" + shown + "\n"), "\(run.output)")
            #expect(run.output.contains("note" + shown + "| `ok" + shown), "\(run.output)")
            #expect(run.output.contains("\"été" + shown + "\""), "\(run.output)")

            // A failure's text, on standard error, and with `send -` in the query's place.
            let failedReply: @Sendable (QValue) -> QValue = { id in
                .list([id, .string("oops" + text), .dictionary(keys: .vector(.symbol(["error"])), values: .list([.string("oops" + text)]))])
            }
            let failure = try await CommandRun.mserve(
                ["send", "--broker", answering(failedReply), "--deadline", "5", "echo 1"], timeout: 60)
            #expect(failure.status == 1, "\(failure.errors)")
            expectNothingRaw(failure.errors)
            #expect(failure.errors.contains("mserve send: 'oops" + shown + "\n"), "\(failure.errors)")
            let lines = try await CommandRun.mserve(
                ["send", "--broker", answering(failedReply), "--deadline", "5", "-"], input: "echo 1\n", timeout: 60)
            #expect(lines.status == 1, "\(lines.errors)")
            expectNothingRaw(lines.output)
            #expect(lines.output.contains("\n'oops" + shown + "\n"), "\(lines.output)")
        }

        /// `mserve send` pointed at something other than a broker's client endpoint says so:
        /// at once for a ZeroMQ peer that answers in another protocol (a hub's port), within
        /// the connect timeout for the kdb+ door's port, which the broker's log names.
        @Test func sendToAnEndpointThatIsNotABrokersSaysSo() async throws {
            // A peer that answers with three frames, as a hub does.
            let endpoint = Self.peerAnsweringOnce { _ in [Array("MSH1".utf8), Array("ERROR".utf8), Array("x".utf8)] }
            let hub = try await CommandRun.mserve(["send", "--broker", endpoint, "echo 1"], timeout: 60)
            #expect(hub.status == 1, "\(hub.errors)")
            #expect(
                hub.errors.contains("the peer at \(endpoint) answered with something other than a kdb+ IPC reply"),
                "\(hub.errors)")
            // Said once, by send itself: no log line of the client's repeats it.
            #expect(!hub.errors.contains("dropped a malformed reply"), "\(hub.errors)")

            let (cluster, port) = try await KdbDoorTests.startCluster(servants: 1)
            defer { cluster.stop() }
            let door = try await CommandRun.mserve(["send", "--broker", "tcp://127.0.0.1:\(port)", "echo 1"], timeout: 60)
            #expect(door.status == 1, "\(door.errors)")
            #expect(door.errors.contains("the endpoint is not a ZeroMQ socket (a kdb+ door's port, say)"), "\(door.errors)")
            #expect(cluster.broker.logs.contains("reason=a ZeroMQ peer (its greeting)"), "\(cluster.broker.logs)")
        }

        /// A ROUTER on a free loopback port, on a thread of its own, that answers the first
        /// message it gets with the frames `answer` makes of its last frame, then lingers 3 s
        /// (30 s at most for that message); returns its endpoint once bound.
        static func peerAnsweringOnce(_ answer: @escaping @Sendable ([UInt8]) -> [[UInt8]]) -> String {
            let endpoint = "tcp://127.0.0.1:\(LoopbackPort.free())"
            let bound = DispatchSemaphore(value: 0)
            let peer = Thread {
                do {
                    let context = try ZMQContext()
                    defer { context.terminate() }
                    let socket = try ZMQSocket(context: context, type: .router)
                    defer { socket.close() }
                    try socket.setReceiveTimeout(milliseconds: 30_000)
                    try socket.bind(endpoint)
                    bound.signal()
                    guard let frames = try socket.receiveMultipartBytes(), frames.count >= 2 else { return }
                    _ = try socket.send(multipart: [frames[0]] + answer(frames[frames.count - 1]))
                    Thread.sleep(forTimeInterval: 3)
                } catch {
                    bound.signal()
                }
            }
            peer.start()
            bound.wait()
            return endpoint
        }

        @Test func theReadmesTwoLinesAreBothAnswered() async throws {
            let cluster = try await ProcessCluster.start(servants: 1)
            defer { cluster.stop() }
            let run = try await CommandRun.mserve(
                ["send", "--broker", cluster.broker.endpoint, "--quiet", "-"], input: "proc2 `IBM\necho 42\n")
            #expect(run.status == 0, "\(run.errors)")
            #expect(run.errors.isEmpty, "\(run.errors)")
            let blocks = run.output.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(blocks.count == 2, "\(run.output)")
            #expect(blocks.first?.hasPrefix("sym vwap") == true && blocks.first?.contains("IBM") == true, "\(run.output)")
            #expect(blocks.last == "42\n" || blocks.last == "42", "\(run.output)")
        }

        /// More lines than are ever in flight at once, with failures among them: each answer in
        /// its line's place, a failure as its error (`'text`), the failed input lines (counting
        /// the empty ones) named on standard error, status 1.
        @Test func thousandsOfLinesComeBackInInputOrder() async throws {
            let cluster = try await ProcessCluster.start(servants: 2, threads: 2)
            defer { cluster.stop() }
            let count = 5_000
            var lines: [String] = []
            for value in 1...count {
                lines.append("echo \(value)")
                if value % 1_000 == 0 { lines += ["", "fail `line\(value)"] }
            }
            let run = try await CommandRun.mserve(
                ["send", "--broker", cluster.broker.endpoint, "--quiet", "-"],
                input: lines.joined(separator: "\n") + "\n", timeout: 120)
            #expect(run.status == 1, "five queries failed: \(run.errors)")
            let results = run.output.split(separator: "\n").map(String.init)
            let expected = (1...count).flatMap { $0 % 1_000 == 0 ? ["\($0)", "'line\($0)"] : ["\($0)"] }
            let firstWrong = zip(results, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            #expect(
                results.count == expected.count && firstWrong == nil,
                "\(results.count) results; first out of place: \(firstWrong.map { "\(results[$0]) at line \($0 + 1)" } ?? "none")")
            // `fail` k is on input line 1002 k: after k thousand echoes and 2 k - 1 lines of the failures before it.
            #expect(
                run.errors == "mserve send: 5 queries failed, on input lines 1002, 2004, 3006, 4008, 5010\n",
                "\(run.errors.prefix(2_000))")
        }

        /// `--deadline` is the query's own deadline at the broker (its `deadline` option): the
        /// broker answers `deadline exceeded` by then, well inside its own minute, and the client
        /// waits for that answer rather than giving up on its own.
        @Test func deadlineIsTheQuerysOwnDeadlineAtTheBroker() async throws {
            let cluster = try await ProcessCluster.start(servants: 1)
            defer { cluster.stop() }
            let run = try await CommandRun.mserve(
                ["send", "--broker", cluster.broker.endpoint, "--quiet", "--deadline", "0.5", "sleep 3000"])
            #expect(run.status == 1)
            #expect(run.errors.hasPrefix("mserve send: 'mserve: deadline exceeded"), "\(run.errors)")
        }

        /// `--quiet` on a failed query: the error line alone, no info dictionary.
        @Test func quietPrintsOnlyTheErrorLineOfAFailedQuery() async throws {
            let cluster = try await ProcessCluster.start(servants: 1)
            defer { cluster.stop() }
            let quiet = try await CommandRun.mserve(["send", "--broker", cluster.broker.endpoint, "--quiet", "fail `oops"])
            #expect(quiet.status == 1)
            #expect(quiet.output.isEmpty, "\(quiet.output)")
            #expect(quiet.errors == "mserve send: 'oops\n", "\(quiet.errors)")

            let full = try await CommandRun.mserve(["send", "--broker", cluster.broker.endpoint, "fail `oops"])
            #expect(full.status == 1)
            #expect(full.errors.hasPrefix("mserve send: 'oops\n"), "\(full.errors)")
            #expect(full.errors.contains("routing  | `oops"), "the info dictionary: \(full.errors)")
        }

        /// A broker endpoint that cannot be one is a usage error (64), from the flag or the
        /// variable, as every other bad argument is; so is --service with MSERVE_HUB=none.
        @Test(arguments: [
            (["--broker", "garbage"], [:], "--broker 'garbage' is not a broker's client endpoint"),
            (["--broker", "127.0.0.1:5570"], [:], "--broker '127.0.0.1:5570' is not a broker's client endpoint"),
            (["--broker", "tcp://127.0.0.1:99999"], [:], "--broker 'tcp://127.0.0.1:99999' is not a broker's client endpoint"),
            ([], ["MSERVE_BROKER": "udp://x:1"], "MSERVE_BROKER 'udp://x:1' is not a broker's client endpoint"),
            // Every interface is something to bind; an inproc endpoint no other process reaches.
            (["--broker", "tcp://*:5570"], [:], "--broker 'tcp://*:5570' is not a broker's client endpoint"),
            (["--broker", "inproc://broker"], [:], "--broker 'inproc://broker' is not a broker's client endpoint"),
            ([], ["MSERVE_BROKER": "tcp://*:5570"], "MSERVE_BROKER 'tcp://*:5570' is not a broker's client endpoint"),
            (["--service", "default"], ["MSERVE_HUB": "none"], "MSERVE_HUB=none says there is none"),
        ] as [([String], [String: String], String)])
        func aBadBrokerEndpointIsAUsageError(arguments: [String], environment: [String: String], message: String) async throws {
            let run = try await CommandRun.mserve(["send"] + arguments + ["echo 1"], environment: environment, timeout: 60)
            #expect(run.status == 64, "\(run.errors)")
            #expect(run.errors.contains(message), "\(run.errors)")
        }

        /// A broker host name that does not resolve is said to, not taken for a broker that is down.
        @Test func aBrokerNameThatDoesNotResolveIsSaid() async throws {
            let run = try await CommandRun.mserve(
                ["send", "--broker", "tcp://no-such-host.invalid:5570", "--connect-timeout", "2", "echo 1"], timeout: 60)
            #expect(run.status == 1)
            #expect(
                run.errors.hasPrefix(
                    "mserve send: no connection to the broker at tcp://no-such-host.invalid:5570 for 2.0 seconds; "
                        + "the host name no-such-host.invalid does not resolve ("),
                "\(run.errors)")
            #expect(!run.errors.contains("is it running"), "\(run.errors)")

            let down = try await CommandRun.mserve(
                ["send", "--broker", "tcp://localhost:9", "--connect-timeout", "0.5", "echo 1"], timeout: 60)
            #expect(down.status == 1)
            #expect(down.errors.contains("is it running?"), "a name that resolves, no broker: \(down.errors)")
        }
    }
}
