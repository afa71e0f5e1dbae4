import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A broker that stops waits a little for the queries in flight, then answers what is left
/// with an error: every query gets its one answer, also one whose servant is lost meanwhile.
struct ShutdownDrainTests {
    @Test func aQueryWhoseServantIsLostWhileTheBrokerStopsIsAnsweredWithAnError() async throws {
        let context = try ZMQContext()
        let servant = try ScriptedServant(context: context)
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        configuration.servants.endpoints = [servant.endpoint]
        let broker = try Broker(configuration: configuration, algorithms: { _ in FirstFreeAlgorithm() })
        let running = Task { try await broker.run() }
        let client = try ZMQSocket(context: context, type: .dealer)
        defer {
            client.close()
            servant.socket.close()
            broker.stop()
        }
        try client.setLinger(milliseconds: 0)
        try client.setReceiveTimeout(milliseconds: 5_000)
        try client.connect(try await broker.clientEndpoint)

        let brokerID = try servant.becomeReady(capacity: 1)
        #expect(await eventually { await broker.snapshot().servants.first?.state == "ready" })
        try client.send(ScriptedServant.query(id: 7, "twice 7"))
        _ = try servant.next(.query)

        // The broker stops and waits for the query; its servant leaves without answering.
        broker.stop()
        try await Task.sleep(for: .milliseconds(300))
        try servant.send(to: brokerID, .bye, [])

        let answer = try #require(try client.receive(), "the client got no answer").bytes
        let (id, result) = try ScriptedServant.idAndResult(of: answer)
        #expect(id == .atom(.long(7)))
        guard case .error = result else {
            Issue.record("expected an error, got \(result)")
            return
        }
        try await running.value
        try client.setReceiveTimeout(milliseconds: 300)
        #expect(try client.receive() == nil, "one answer per query")

        client.close()
        servant.socket.close()
        context.terminate()
    }
}
