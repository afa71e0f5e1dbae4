import Foundation
import MServeProtocol
import MServeQuery
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeServant

/// What a servant binds and reports, and that it runs once.
struct ServantRunTests {
    @Test func onlyTCPEndpointsAreRewrittenForOthersToReach() {
        #expect(ServantLoop.reachableEndpoint("tcp://0.0.0.0:5001", advertisedHost: nil) == "tcp://127.0.0.1:5001")
        #expect(ServantLoop.reachableEndpoint("tcp://0.0.0.0:5001", advertisedHost: "h1") == "tcp://h1:5001")
        #expect(ServantLoop.reachableEndpoint("tcp://10.0.0.5:5001", advertisedHost: nil) == "tcp://10.0.0.5:5001")
        #expect(ServantLoop.reachableEndpoint("ipc:///tmp/servant", advertisedHost: nil) == "ipc:///tmp/servant")
        #expect(ServantLoop.reachableEndpoint("inproc://servant", advertisedHost: "h1") == "inproc://servant")
    }

    @Test func theDefaultEndpointIsLoopbackOnly() async throws {
        #expect(ServantConfiguration().endpoint == "tcp://127.0.0.1:0")
    }

    /// The allowlist holds for a broker's queries as for direct ones, and READY lists only the
    /// functions it allows.
    @Test func functionsTheAllowlistDoesNotNameAreRefusedAndNotAnnounced() async throws {
        var configuration = ServantConfiguration()
        configuration.allowlist = FunctionAllowlist(["proc1"])
        configuration.acceptsDirectQueries = true
        let servant = try Servant(configuration: configuration, functions: DemoFunctions.registry())
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        let broker = try await BrokerPeer(context: context, endpoint: try await servant.endpoint)
        #expect(broker.ready["functions"] == .vector(.symbol(["proc1"])))
        try broker.query(tag: 1, "proc2 `IBM")
        let refused = try #require(try await broker.next(), "no REPLY")
        guard refused.count >= 4, case .list(let items, _) = try QIPC.decode(refused[3]).value, items.count == 3,
            let text = ReplyAssembly.failure(result: items[1], info: items[2])
        else {
            Issue.record("expected (1; \"error\"; info), got \(refused)")
            return
        }
        #expect(text.contains("`proc2` is not in the list of allowed functions"), "\(text)")
        try broker.query(tag: 2, "proc1 `IBM")
        let answered = try #require(try await broker.next(), "no REPLY")
        #expect(answered.count >= 4)
        if answered.count >= 4, case .list(let answer, _) = try QIPC.decode(answered[3]).value, answer.count >= 2,
            let text = ReplyAssembly.failure(result: answer[1], info: answer.count > 2 ? answer[2] : nil)
        {
            Issue.record("proc1 was refused: \(text)")
        }

        let direct = try ZMQSocket(context: context, type: .dealer)
        try direct.setLinger(milliseconds: 0)
        try direct.connect(try await servant.endpoint)
        try direct.send(QIPC.encode(.list([.atom(.long(3)), .string("proc3 `IBM")]), messageType: .async))
        let directReply = try #require(try await direct.receiveFrames(within: .seconds(10)), "no direct answer")
        guard case .list(let directItems, _) = try QIPC.decode(directReply[0]).value, directItems.count == 3,
            let directText = ReplyAssembly.failure(result: directItems[1], info: directItems[2])
        else {
            Issue.record("expected (3; \"error\"; info), got \(directReply)")
            return
        }
        #expect(directText.contains("`proc3` is not in the list of allowed functions"), "\(directText)")
        direct.close()
        broker.socket.close()
        context.terminate()
        servant.stop()
        try await running.value
    }

    /// A READY past ReadyLimits is refused by brokers: a servant that would announce one does
    /// not start, saying why; one whose --allow narrows its functions under the limit does.
    @Test func aServantWhoseReadyBrokersWouldRefuseDoesNotStart() throws {
        var functions = FunctionRegistry()
        for index in 0...ReadyLimits.mostFunctions { functions.register("f\(index)", arity: 0...1) { _ in .atom(.long(1)) } }
        let tooMany = #expect(throws: ServantError.self) { try Servant(functions: functions) }
        #expect(
            tooMany?.message
                == "this servant serves \(ReadyLimits.mostFunctions + 1) functions, and a READY may list at most \(ReadyLimits.mostFunctions) (docs/PROTOCOL.md): brokers would refuse it; serve fewer, or narrow them with --allow",
            "\(String(describing: tooMany))")
        var narrowed = ServantConfiguration()
        narrowed.allowlist = FunctionAllowlist(["f1", "f2"])
        _ = try Servant(configuration: narrowed, functions: functions)

        var named = ServantConfiguration()
        named.name = String(repeating: "n", count: ReadyLimits.longestName + 1)
        let longName = #expect(throws: ServantError.self) { try Servant(configuration: named, functions: DemoFunctions.registry()) }
        #expect(longName?.message.hasPrefix("the servant's name is 256 bytes long") == true, "\(String(describing: longName))")
        named.name = String(repeating: "n", count: ReadyLimits.longestName)
        _ = try Servant(configuration: named, functions: DemoFunctions.registry())
    }

    @Test func aServantOnAnIPCEndpointServesAndRunsOnlyOnce() async throws {
        let path = NSTemporaryDirectory() + "mserve-servant-\(UUID().uuidString).sock"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var configuration = ServantConfiguration()
        configuration.endpoint = "ipc://\(path)"
        configuration.acceptsDirectQueries = true
        let servant = try Servant(configuration: configuration, functions: DemoFunctions.registry())
        let running = Task { try await servant.run() }
        #expect(try await servant.endpoint == "ipc://\(path)")

        let context = try ZMQContext()
        let client = try ZMQSocket(context: context, type: .dealer)
        try client.setLinger(milliseconds: 0)
        try client.connect("ipc://\(path)")
        try client.send(QIPC.encode(.list([.atom(.long(1)), .string("proc1 `IBM")]), messageType: .async))
        #expect(try await client.receiveFrames(within: .seconds(10)) != nil, "no answer over ipc")
        client.close()
        context.terminate()

        await #expect(throws: ServantError.self) { try await servant.run() }
        servant.stop()
        try await running.value
    }

    @Test func aResultOverTheBrokersLimitComesBackAsAnError() async throws {
        var functions = FunctionRegistry()
        functions.register("big", arity: 0...0) { _ in .vector(.long(Array(repeating: 7, count: 1_000))) }
        let servant = try Servant(functions: functions)
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        // HELLO: incarnation, one answer per REPLY, REPLY messages of 300 bytes at most.
        let broker = try await BrokerPeer(
            context: context, endpoint: try await servant.endpoint,
            helloFrames: [WireInteger.encode(7), WireInteger.encode(1), WireInteger.encode(300)])
        try broker.query(tag: 9, "big[]")
        let reply = try #require(try await broker.next(), "no REPLY")
        try #require(reply.count >= 4 && reply[1] == ServantCommand.reply.frame)
        guard case .list(let items, _) = try QIPC.decode(reply[3]).value, items.count == 3,
            let text = ReplyAssembly.failure(result: items[1], info: items[2]), items[1] == .string(text)
        else {
            Issue.record("expected (9; \"error\"; info)")
            return
        }
        #expect(items[0] == .atom(.long(9)))
        #expect(text.contains("over the 300-byte message limit"), "\(text)")
        servant.stop()
        try await running.value
        broker.socket.close()
        context.terminate()
    }

    @Test func aBrokerThatWentSilentIsForgottenAndOneThatHeartbeatsIsNot() async throws {
        var configuration = ServantConfiguration()
        // Fifty of the live broker's heartbeats: a loaded machine that holds this test's task
        // back for a while must not make the live broker look silent (600 ms and 2 s did not allow
        // for that).
        configuration.brokerSessionTimeout = .seconds(5)
        let recorder = LogRecorder()
        let servant = try Servant(
            configuration: configuration, functions: DemoFunctions.registry(), logger: recorder.logger(label: "servant"))
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        func broker() async throws -> BrokerPeer { try await BrokerPeer(context: context, endpoint: try await servant.endpoint) }
        let silent = try await broker()
        let alive = try await broker()
        // Heartbeats from one broker only, on a thread of its own (a loaded machine may hold
        // this test's task back for longer than the session timeout), until the servant
        // forgets a broker: the stop comes after that, however long the machine takes.
        let forgotten = "forgot a broker that went silent without a goodbye"
        let heartbeats = alive.heartbeatsOnAThread()
        #expect(await eventually(timeout: .seconds(60)) { recorder.messages.contains(forgotten) }, "no broker was forgotten")
        heartbeats.stop()
        #expect(recorder.messages.filter { $0 == forgotten }.count == 1, "one broker is forgotten, once")
        servant.stop()
        try await running.value
        // The answers to its last heartbeats may still be waiting, unread: the DRAIN comes after them.
        var aliveHeard = try await alive.next(within: .seconds(30))
        while aliveHeard?[1] == ServantCommand.pong.frame { aliveHeard = try await alive.next(within: .seconds(30)) }
        #expect(aliveHeard?[1] == ServantCommand.drain.frame, "the live broker is told of the stop")
        #expect(try await silent.next(within: .milliseconds(500)) == nil, "the silent one is forgotten")
        silent.socket.close()
        alive.socket.close()
        context.terminate()
    }

    @Test func queriesFromABrokerWithNoSessionAreNotRunAndNamedInABye() async throws {
        let servant = try Servant(functions: DemoFunctions.registry())
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        // A QUERY with no HELLO before it: queued by a broker for a previous process here.
        let stale = try ZMQSocket(context: context, type: .dealer)
        try stale.setLinger(milliseconds: 0)
        try stale.connect(try await servant.endpoint)
        try stale.send(multipart: [
            ServantLink.protocolMarker, ServantCommand.query.frame, WireInteger.encode(41),
            QIPC.encode(.list([.atom(.long(1)), .string("proc1 `IBM")]), messageType: .async),
        ])
        let answer = try #require(try await stale.receiveFrames(within: .seconds(10)), "no answer")
        #expect(answer.count == 3 && answer[1] == ServantCommand.bye.frame, "\(answer)")
        #expect(answer.count == 3 ? WireInteger.decode(answer[2]) == 41 : false)
        stale.close()
        servant.stop()
        try await running.value
        context.terminate()
    }
}

extension BrokerPeer {
    /// Sends the peer's heartbeats every 100 ms on a thread of its own, reading the answers,
    /// until the thread is stopped; then the peer's socket is the caller's again.
    func heartbeatsOnAThread() -> RepeatingThread {
        RepeatingThread {
            try? self.send(.ping)
            Thread.sleep(forTimeInterval: 0.1)
            while (try? self.socket.receiveMultipartBytes(dontWait: true)) != nil {}
        }
    }
}
