import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeServant

/// What a servant tells a broker in session about itself (its READY, its PONG), and that a
/// broker's goodbye ends the session.
struct ServantSessionTests {
    @Test func readyAndPongNameOneIncarnationAndTheConfiguredCapacity() async throws {
        var configuration = ServantConfiguration()
        configuration.threads = 1
        configuration.capacity = 3
        let servant = try Servant(configuration: configuration, functions: DemoFunctions.registry())
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        let broker = try await BrokerPeer(context: context, endpoint: try await servant.endpoint)
        // The capacity configured, not the thread count; the incarnation the PONG repeats.
        #expect(broker.ready["capacity"] == .atom(.long(3)))
        #expect(broker.ready["incarnation"] == .atom(.long(Int64(bitPattern: servant.incarnation))))
        try broker.send(.ping)
        let pong = try #require(try await broker.next(), "no PONG")
        try #require(pong.count == 3 && pong[1] == ServantCommand.pong.frame, "not a PONG: \(pong)")
        #expect(WireInteger.decode(pong[2]) == servant.incarnation)
        broker.socket.close()
        servant.stop()
        try await running.value
        context.terminate()
    }

    @Test func afterABrokersGoodbyeItsQueriesAreNotRunButNamedInABye() async throws {
        let servant = try Servant(functions: DemoFunctions.registry())
        let running = Task { try await servant.run() }
        let context = try ZMQContext()
        let broker = try await BrokerPeer(context: context, endpoint: try await servant.endpoint)
        try broker.query(tag: 1, "proc1 `IBM")
        let reply = try #require(try await broker.next(), "no REPLY")
        #expect(reply.count >= 4 && reply[1] == ServantCommand.reply.frame)
        // The broker says goodbye; a query it sends after that is not the servant's to run.
        try broker.send(.bye)
        try broker.query(tag: 2, "proc1 `IBM")
        let bye = try #require(try await broker.next(), "no answer to a query without a session")
        try #require(bye.count == 3 && bye[1] == ServantCommand.bye.frame, "not a BYE: \(bye)")
        #expect(WireInteger.decode(bye[2]) == 2)
        broker.socket.close()
        servant.stop()
        try await running.value
        context.terminate()
    }
}
