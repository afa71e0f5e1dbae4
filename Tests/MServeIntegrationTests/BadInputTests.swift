import MServeClient
import MServeProtocol
import QData
import MServeTestSupport
import Testing
import ZeroMQ

extension IntegrationTests {
/// Bad input gets a clear error reply, never a crash, a hang or a lost query.
@Suite struct BadInputTests {
    /// Sends raw frames from a DEALER and returns the decoded reply.
    private func rawExchange(_ endpoint: String, _ message: [UInt8]) async throws -> QValue {
        let context = try ZMQContext()
        defer { context.terminate() }
        let socket = try ZMQSocket(context: context, type: .dealer)
        defer { socket.close() }
        try socket.connect(endpoint)
        try socket.send(message)
        guard let reply = try await socket.receiveFrames(within: .seconds(5))?.first else {
            throw TestFailure("no reply within 5 s")
        }
        return try QIPC.decode(reply).value
    }

    @Test func garbageBytesGetAMalformedErrorReply() async throws {
        let cluster = try await ProcessCluster.start(servants: 1)
        defer { cluster.stop() }

        let reply = try await rawExchange(cluster.broker.endpoint, Array("hello, broker".utf8))

        guard case .list(let items, _) = reply, items.count == 3,
            let text = ReplyAssembly.failure(result: items[1], info: items[2]), items[1] == .string(text)
        else {
            Issue.record("expected (::; \"error\"; info), got \(reply)")
            return
        }
        #expect(items[0] == .identity)
        #expect(text.hasPrefix("mserve: malformed"))
    }

    @Test func aValidMessageOfTheWrongShapeIsRefused() async throws {
        let cluster = try await ProcessCluster.start(servants: 1)
        defer { cluster.stop() }

        let reply = try await rawExchange(cluster.broker.endpoint, QIPC.encode(.atom(.long(42))))

        guard case .list(let items, _) = reply, items.count == 3,
            let text = ReplyAssembly.failure(result: items[1], info: items[2]), items[1] == .string(text)
        else {
            Issue.record("expected an error reply, got \(reply)")
            return
        }
        #expect(text.contains("(id; query)"))
    }

    @Test func injectionAttemptsAreRefusedByTheBroker() async throws {
        let cluster = try await ProcessCluster.start(servants: 1)
        defer { cluster.stop() }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }
        let attempts = [
            "value \"exit 0\"",
            "proc1[`IBM];exit 0",
            "system \"rm -rf /\"",
            "a:1",
            "{x+1}[2]",
            "proc1[value \"`IBM\"]",
            "\\\\",
            "proc1 `IBM; exit 0",
        ]
        for query in attempts {
            do {
                let reply = try await client.send(query)
                Issue.record("\(query) was answered: \(reply.result)")
            } catch let error as ClientError {
                #expect(error.code == .queryFailed, "\(query)")
                #expect(error.message.hasPrefix("mserve: "), "\(query): \(error.message)")
            }
        }
        // The broker keeps serving.
        let reply = try await client.send("echo 7")
        #expect(reply.result == .atom(.long(7)))
    }

    /// A refused query is logged with its function name, which the client chose: a newline in
    /// it shows as `\n`, so the client cannot write a line that reads as the broker's own.
    @Test func aFunctionNameCannotForgeALineInTheBrokersLog() async throws {
        let cluster = try await ProcessCluster.start(servants: 1)
        defer { cluster.stop() }
        let forged = "2026-12-05T00:00:00+0000 critical mserve.broker: FORGED"
        // (1; (`$"x\n…"; 1)): a parse-form query whose function is that symbol.
        let query = QValue.list([.atom(.long(1)), .list([.atom(.symbol("x\n" + forged)), .atom(.long(1))])])

        let reply = try await rawExchange(cluster.broker.endpoint, QIPC.encode(query))

        guard case .list(let items, _) = reply, items.count == 3,
            let text = ReplyAssembly.failure(result: items[1], info: items[2])
        else {
            Issue.record("expected an error reply, got \(reply)")
            return
        }
        #expect(text.hasPrefix("mserve: "), "\(text)")
        let logged = await eventually(timeout: .seconds(30)) { cluster.broker.logs.contains("x\\n" + forged) }
        #expect(logged, "broker log: \(cluster.broker.logs)")
        let lines = cluster.broker.logs.split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix(forged) }, "broker log: \(cluster.broker.logs)")
    }

    @Test func unknownFunctionsAndFailuresComeBackAsQErrors() async throws {
        let cluster = try await ProcessCluster.start(servants: 1)
        defer { cluster.stop() }
        let client = try QueryClient(endpoint: cluster.broker.endpoint)
        defer { client.close() }

        await #expect {
            try await client.send("nosuch `IBM")
        } throws: { error in
            (error as? ClientError)?.message.contains("nosuch") == true
        }
        await #expect {
            try await client.send("fail \"boom\"")
        } throws: { error in
            (error as? ClientError)?.message == "boom"
        }
        await #expect {
            try await client.send("proc1[`IBM;`MSFT]")
        } throws: { error in
            (error as? ClientError)?.message.contains("rank") == true
        }
        await #expect {
            try await client.send("proc1 42")
        } throws: { error in
            (error as? ClientError)?.message.contains("type") == true
        }
        let reply = try await client.send("proc1 `IBM")
        #expect(reply.routing == "IBM")
    }
}
}
