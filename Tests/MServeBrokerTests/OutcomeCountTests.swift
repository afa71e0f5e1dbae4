import MServeProtocol
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// Every query the broker answers is counted in exactly one outcome of
/// `mserve_broker_queries_total`, the errors it answers itself included: here a query whose
/// own deadline passed in the queue, one refused for its options, and the queue full.
struct OutcomeCountTests {
    static func query(id: Int64, _ text: String, options: QValue) -> [UInt8] {
        QIPC.encode(.list([.atom(.long(id)), .string(text), options]), messageType: .async)
    }

    static func deadline(milliseconds: Int64) -> QValue {
        .dictionary(keys: .vector(.symbol(["deadline"])), values: .list([.atom(.timespan(milliseconds * 1_000_000))]))
    }

    @Test func theErrorsTheBrokerAnswersItselfAreCounted() async throws {
        try await ScriptedBroker.run(servants: 1, configure: { $0.dispatch.queueCapacity = 1 }) { run in
            _ = try await run.servants[0].becomeReady(capacity: 1, functions: ["twice"])
            #expect(await run.servantsBecomeReady(1))
            // The servant takes the first query and never answers it.
            try run.send(id: 1, "twice 1")
            _ = try await run.servants[0].next(.query)
            // Waits in the queue past its own deadline.
            try run.client.send(Self.query(id: 2, "twice 2", options: Self.deadline(milliseconds: 50)))
            let expired = try #require(try await run.answer(), "no answer to the expired query")
            #expect("\(try QIPC.decode(expired).value)".contains("deadline exceeded"))
            // Options of the wrong shape.
            try run.client.send(Self.query(id: 3, "twice 3", options: .atom(.long(5))))
            let refused = try #require(try await run.answer(), "no answer to the refused options")
            #expect("\(try QIPC.decode(refused).value)".contains("options"))
            // One waits, the next finds the queue full.
            try run.send(id: 4, "twice 4")
            try run.send(id: 5, "twice 5")
            let full = try #require(try await run.answer(), "no answer when the queue was full")
            #expect("\(try QIPC.decode(full).value)".contains("queue full"))

            let metrics = await run.broker.snapshot().metrics
            #expect(metrics.queries(.deadline) == 1)
            #expect(metrics.queries(.refused) == 1)
            #expect(metrics.queries(.queueFull) == 1)
            #expect(metrics.queries(.answered) == 0)
        }
    }
}
