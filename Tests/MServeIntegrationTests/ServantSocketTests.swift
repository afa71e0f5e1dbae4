import Foundation
import MServeClient
import MServeProtocol
import MServeTestSupport
import POSIXSockets
import QData
import Testing
import ZeroMQ

extension IntegrationTests {
    /// Who can reach a servant's socket and what they can run there: loopback only unless
    /// the operator binds wider, the servant's own `--allow` on every query, and direct
    /// queries (no broker) only with `--direct`.
    @Suite struct ServantSocketTests {
        /// What a direct query is answered with while direct queries are off, in the failure shape.
        static let directQueriesOff =
            "mserve: this servant takes queries from brokers only; direct queries are off (mserve servant --direct turns them on)"

        /// The default bind is loopback only. Another loopback address (127.0.0.2) reaches the
        /// host's own interfaces just as a wildcard bind would be reached from the network:
        /// that the same port can still be bound there shows the servant does not hold it on
        /// every interface.
        @Test func aServantListensOnLoopbackOnlyUnlessToldOtherwise() async throws {
            let servant = try await MServeProcess("servant", ["servant"])
            defer { servant.stop() }
            #expect(servant.endpoint.hasPrefix("tcp://127.0.0.1:"), "\(servant.endpoint)")
            let port = try #require(Int(servant.endpoint.split(separator: ":").last ?? ""))
            let other = try TCPSocket.listen(host: "127.0.0.2", port: port)
            TCPSocket.close(other.descriptor)
        }

        /// --allow on the servant refuses a function it does not list, whoever sends it: a broker
        /// refuses it at once from the servant's announced functions, and a query that reaches
        /// the servant anyway (here straight, with --direct) is refused by the servant itself.
        @Test func theServantsAllowRefusesAnUnlistedFunction() async throws {
            let cluster = try await ProcessCluster.start(servants: 1, servantArguments: ["--allow", "proc1, echo"])
            defer { cluster.stop() }
            #expect(await cluster.allServantsReady())
            let client = try QueryClient(endpoint: cluster.broker.endpoint)
            defer { client.close() }
            #expect(try await client.send("echo 5").result == .atom(.long(5)))
            let refused = await #expect(throws: ClientError.self) { try await client.send("proc2 `IBM") }
            #expect(refused?.code == .queryFailed)
            #expect(
                refused?.message.contains("no servant of this service serves the function proc2; its functions: echo proc1") == true,
                "\(String(describing: refused))")

            let direct = try await MServeProcess("direct servant", ["servant", "--direct", "--allow", "proc1, echo"])
            defer { direct.stop() }
            let context = try ZMQContext()
            defer { context.terminate() }
            let dealer = try ZMQSocket(context: context, type: .dealer)
            defer { dealer.close() }
            try dealer.setLinger(milliseconds: 0)
            try dealer.connect(direct.endpoint)
            try dealer.send(QIPC.encode(.list([.atom(.long(8)), .string("proc2 `IBM")]), messageType: .async))
            let frames = try #require(try await dealer.receiveFrames(within: .seconds(10)), "no answer from the servant")
            let reply = try QIPC.decode(frames[frames.count - 1]).value
            #expect("\(reply)".contains("`proc2` is not in the list of allowed functions"), "\(reply)")
        }

        /// A peer that presents a live broker's routing id (`broker-<hex>`, which anyone can
        /// learn without keys) gets no session: the servant ignores the second connection under
        /// that id while the broker's lives, and the broker goes on using the servant.
        @Test func aPeerWithABrokersRoutingIdCannotTakeItsSession() async throws {
            let cluster = try await ProcessCluster.start(
                servants: 1, brokerArguments: ["--heartbeat", "0.2", "--liveness", "0.8"])
            defer { cluster.stop() }
            #expect(await cluster.allServantsReady())
            var configuration = ClientConfiguration()
            configuration.deadline = .seconds(60)
            let client = try QueryClient(endpoint: cluster.broker.endpoint, configuration: configuration)
            defer { client.close() }
            #expect(try await client.send("echo 1").result == .atom(.long(1)))
            let servant = cluster.servants[0]
            let logged = try #require(
                servant.logs.firstMatch(of: /broker-[0-9a-f]+/).map { String($0.output) }, "\(servant.logs)")

            let context = try ZMQContext()
            defer { context.terminate() }
            let intruder = try ZMQSocket(context: context, type: .dealer)
            defer { intruder.close() }
            try intruder.setLinger(milliseconds: 0)
            try intruder.setRoutingId(Array(logged.utf8))
            try intruder.connect(servant.endpoint)
            try intruder.send(multipart: [ServantLink.protocolMarker, ServantCommand.hello.frame, WireInteger.encode(1)])
            // Three of the broker's liveness times: ample for a session's READY to come back.
            let answer = try await intruder.receiveFrames(within: .milliseconds(2_400))
            #expect(answer == nil, "the peer got a session: \(String(describing: answer))")
            #expect(try await client.send("echo 2").result == .atom(.long(2)))
        }

        /// An empty --allow is refused on the servant as on the broker: it would allow any function.
        @Test func anEmptyAllowIsAUsageError() async throws {
            let run = try await CommandRun.mserve(["servant", "--allow", " , "], timeout: 60)
            #expect(run.status == 64)
            #expect(run.errors.contains("--allow ' , ' names no function; leave --allow out to allow any"), "\(run.errors)")
        }

        /// An --allow naming a function no plugin serves (a typo) is a usage error, with and
        /// without --list-functions: `--allow prco1` would serve nothing and announce no
        /// functions, which brokers read as every function.
        @Test func anAllowNamingAnUnservedFunctionIsAUsageError() async throws {
            for arguments in [["servant", "--allow", "prco1"], ["servant", "--allow", "proc1, prco2", "--list-functions"]] {
                let run = try await CommandRun.mserve(arguments, timeout: 60)
                #expect(run.status == 64, "\(arguments)")
                #expect(run.errors.contains("--allow names a function this servant does not serve: prco"), "\(run.errors)")
                #expect(run.errors.contains("it serves: echo, fail, pid, proc1"), "\(run.errors)")
                #expect(run.output.isEmpty, "\(run.output)")
            }
        }

        /// So is an empty --plugins: it would serve the whole demo API (sleep and pid with it).
        @Test func anEmptyPluginsIsAUsageError() async throws {
            let empty = try await CommandRun.mserve(["servant", "--plugins", ""], timeout: 60)
            #expect(empty.status == 64)
            #expect(empty.errors.contains("--plugins was given an empty value ''"), "\(empty.errors)")
            let colons = try await CommandRun.mserve(["servant", "--plugins", "::"], timeout: 60)
            #expect(colons.status == 64)
            #expect(
                colons.errors.contains("--plugins '::' names no plugin file; leave --plugins out to serve the demo API"),
                "\(colons.errors)")
        }

        /// A query sent straight to a servant gets an error reply unless --direct is given.
        @Test func aDirectQueryIsRefusedWithoutDirectAndAnsweredWithIt() async throws {
            let closed = try await MServeProcess("servant", ["servant"])
            defer { closed.stop() }
            let open = try await MServeProcess("direct servant", ["servant", "--direct"])
            defer { open.stop() }
            let context = try ZMQContext()
            defer { context.terminate() }
            func ask(_ endpoint: String) async throws -> QValue {
                let dealer = try ZMQSocket(context: context, type: .dealer)
                defer { dealer.close() }
                try dealer.setLinger(milliseconds: 0)
                try dealer.connect(endpoint)
                try dealer.send(QIPC.encode(.list([.atom(.long(7)), .string("echo 42")]), messageType: .async))
                let frames = try #require(try await dealer.receiveFrames(within: .seconds(10)), "no answer from \(endpoint)")
                return try QIPC.decode(frames[frames.count - 1]).value
            }
            #expect(
                try await ask(closed.endpoint) == QIPC.decode(ReplyAssembly.servantFailure(id: .atom(.long(7)), message: Self.directQueriesOff)).value)
            #expect(try await ask(open.endpoint) == .list([.atom(.long(7)), .atom(.long(42))]))
            #expect(await eventually { closed.logs.contains("refused direct queries") }, "\(closed.logs)")
        }

        /// Whoever reaches the socket can send what no broker sends, at any rate: each kind of
        /// such message costs at most a log line a second, and a routing id holding a line
        /// break is logged escaped, so a peer can neither fill the log nor write lines into it.
        @Test func aPeerSendingWhatNoBrokerSendsCostsALineASecondAndWritesNoLine() async throws {
            let servant = try await MServeProcess("servant", ["servant"])
            defer { servant.stop() }
            let context = try ZMQContext()
            defer { context.terminate() }
            let peer = try ZMQSocket(context: context, type: .dealer)
            defer { peer.close() }
            try peer.setLinger(milliseconds: 0)
            try peer.setRoutingId(Array("evil\nFORGED critical line".utf8))
            try peer.connect(servant.endpoint)
            let marker = Array("MSV1".utf8)
            let query = QIPC.encode(.list([.atom(.long(1)), .string("echo 1")]), messageType: .async)
            for _ in 0..<200 {
                try peer.send(multipart: [marker])
                try peer.send(multipart: [marker, Array("FOO\n".utf8)])
                try peer.send(multipart: [marker, Array("DRAIN".utf8)])
                try peer.send(multipart: [marker, Array("QUERY".utf8), Array("tag".utf8)])
                try peer.send(multipart: [marker, Array("QUERY".utf8), Array(repeating: 0, count: 8), query])
            }
            // The servant reads in order: its READY to this HELLO comes after it read the rest.
            try peer.send(multipart: [marker, Array("HELLO".utf8), Array(repeating: 0, count: 8)])
            var sawReady = false
            for _ in 0..<400 where !sawReady {
                guard let frames = try await peer.receiveFrames(within: .seconds(10)) else { break }
                sawReady = frames.count >= 2 && frames[1] == Array("READY".utf8)
            }
            #expect(sawReady, "no READY from the servant")
            // In session: queries whose message is not kdb+ IPC, each answered with an error.
            for index in 0..<200 {
                try peer.send(multipart: [marker, Array("QUERY".utf8), Array(repeating: UInt8(index % 256), count: 8), Array("junk".utf8)])
            }
            var answered = 0
            while answered < 200, let frames = try await peer.receiveFrames(within: .seconds(10)) {
                if frames.count >= 2, frames[1] == Array("REPLY".utf8) { answered += (frames.count - 2) / 3 }
            }
            #expect(answered == 200, "\(answered) of 200 malformed queries answered")
            #expect(await eventually { servant.logs.contains("broker connected") }, "\(servant.logs)")
            let logs = servant.logs
            for line in [
                "dropped an MSV1 message without a command", "dropped an MSV1 message with an unknown command \"FOO\\x0a\"",
                "dropped an unexpected DRAIN",
                "dropped a QUERY whose frames are not tag and message pairs", "from a broker with no session",
                "refused a malformed query",
            ] {
                let count = logs.components(separatedBy: line).count - 1
                #expect((1...3).contains(count), "\(count) lines of '\(line)' for 200 such messages")
            }
            #expect(logs.contains("broker=evil\\x0aFORGED critical line"), "\(logs)")
            #expect(!logs.split(separator: "\n").contains { $0.hasPrefix("FORGED") }, "\(logs)")
        }

        /// Every new identity that says HELLO opens a session; a peer can make many at any
        /// rate, and still costs the log at most a line a second.
        @Test func manyNewSessionsCostALineASecond() async throws {
            let servant = try await MServeProcess("servant", ["servant"])
            defer { servant.stop() }
            let context = try ZMQContext()
            defer { context.terminate() }
            let marker = Array("MSV1".utf8)
            var peers: [ZMQSocket] = []
            defer { for peer in peers { peer.close() } }
            for index in 0..<100 {
                let peer = try ZMQSocket(context: context, type: .dealer)
                peers.append(peer)
                try peer.setLinger(milliseconds: 0)
                try peer.setRoutingId(Array("peer-\(index)".utf8))
                try peer.connect(servant.endpoint)
                try peer.send(multipart: [marker, Array("HELLO".utf8), Array(repeating: 0, count: 8)])
            }
            var ready = 0
            for peer in peers {
                if let frames = try await peer.receiveFrames(within: .seconds(10)), frames.count >= 2,
                    frames[1] == Array("READY".utf8)
                {
                    ready += 1
                }
            }
            #expect(ready == 100, "\(ready) of 100 sessions answered READY")
            #expect(await eventually { servant.logs.contains("broker connected") }, "\(servant.logs)")
            let count = servant.logs.components(separatedBy: "broker connected").count - 1
            #expect((1...3).contains(count), "\(count) 'broker connected' lines for 100 sessions opened at once")
        }
    }
}
