import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A reply from a servant a query is no longer at — one the broker lost, whose queries went to
/// another servant — is dropped: the query stays in flight at the servant it went to, whose
/// answer is the one the client gets, once.
struct LateReplyTests {
    @Test func aLostServantsLateReplyLeavesTheQueryWithTheServantItWentTo() async throws {
        let context = try ZMQContext()
        let first = try ScriptedServant(context: context)
        let second = try ScriptedServant(context: context)
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        configuration.servants.endpoints = [first.endpoint, second.endpoint]
        let broker = try Broker(configuration: configuration, algorithms: { _ in FirstFreeAlgorithm() })
        let running = Task { try await broker.run() }
        let client = try ZMQSocket(context: context, type: .dealer)
        defer {
            client.close()
            first.socket.close()
            second.socket.close()
            broker.stop()
        }
        try client.setLinger(milliseconds: 0)
        try client.setReceiveTimeout(milliseconds: 5_000)
        try client.connect(try await broker.clientEndpoint)

        let firstBroker = try first.becomeReady(capacity: 1)
        let secondBroker = try second.becomeReady(capacity: 1)
        #expect(await eventually { await broker.snapshot().servants.filter { $0.state == "ready" }.count == 2 })

        try client.send(QIPC.encode(.list([.atom(.long(7)), .string("twice 7")]), messageType: .async))
        // The first servant, first from the top, gets it; then says goodbye before answering.
        let (_, atFirst) = try first.next(.query)
        try #require(atFirst.count == 2)
        try first.send(to: firstBroker, .bye, [])
        let (_, atSecond) = try second.next(.query)
        try #require(atSecond.count == 2)
        #expect(atSecond[0] == atFirst[0], "the same query, under the same tag")

        // The first servant's answer comes late: it must not take the query from the second.
        try first.send(
            to: firstBroker, .reply, [atFirst[0], QIPC.encode(.list([.atom(.long(7)), .atom(.long(-1))]), messageType: .async)])
        try second.send(
            to: secondBroker, .reply, [atSecond[0], QIPC.encode(.list([.atom(.long(7)), .atom(.long(14))]), messageType: .async)])

        let answer = try #require(try client.receive(), "the client got no answer").bytes
        guard case .list(let items, _) = try QIPC.decode(answer).value, items.count == 3 else {
            Issue.record("expected (id; result; info)")
            return
        }
        #expect(items[0] == .atom(.long(7)))
        #expect(items[1] == .atom(.long(14)), "the answer of the servant the query is at")
        try client.setReceiveTimeout(milliseconds: 300)
        #expect(try client.receive() == nil, "one answer per query")

        client.close()
        first.socket.close()
        second.socket.close()
        broker.stop()
        try await running.value
        context.terminate()
    }
}
