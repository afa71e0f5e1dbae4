import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A query not answered by its deadline gets a deadline error at that deadline, wherever it
/// waits: also a query sent back to the queue by a lost servant, behind a younger one.
struct QueryDeadlineTests {
    @Test func aRequeuedQueryBehindAYoungerOneExpiresAtItsOwnDeadline() async throws {
        let context = try ZMQContext()
        let first = try ScriptedServant(context: context)
        let second = try ScriptedServant(context: context)
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        configuration.servants.endpoints = [first.endpoint, second.endpoint]
        configuration.dispatch.queryDeadline = .milliseconds(1_000)
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

        // The older query goes to the first servant, the younger one, later, to the second.
        let olderSent = ContinuousClock.now
        try client.send(ScriptedServant.query(id: 1, "twice 1"))
        _ = try first.next(.query)
        try await Task.sleep(for: .milliseconds(600))
        try client.send(ScriptedServant.query(id: 2, "twice 2"))
        _ = try second.next(.query)

        // Both servants leave, the first one first: each query goes back to the front of the
        // queue, the younger one ahead of the older one, and no servant is left to run them.
        try first.send(to: firstBroker, .bye, [])
        #expect(await eventually { await broker.snapshot().queued == 1 })
        try second.send(to: secondBroker, .bye, [])
        #expect(await eventually { await broker.snapshot().queued == 2 })

        let firstAnswer = try #require(try client.receive(), "the client got no answer").bytes
        let waited = ContinuousClock.now - olderSent
        let (id, result) = try ScriptedServant.idAndResult(of: firstAnswer)
        #expect(id == .atom(.long(1)), "the older query's deadline comes first")
        #expect(waited < .milliseconds(1_400), "answered at its deadline, not the younger query's")
        guard case .error(let message) = result, message.contains("deadline exceeded") else {
            Issue.record("expected a deadline error, got \(result)")
            return
        }
        let secondAnswer = try #require(try client.receive(), "the client got no second answer").bytes
        #expect(try ScriptedServant.idAndResult(of: secondAnswer).id == .atom(.long(2)))

        client.close()
        first.socket.close()
        second.socket.close()
        broker.stop()
        try await running.value
        context.terminate()
    }
}
