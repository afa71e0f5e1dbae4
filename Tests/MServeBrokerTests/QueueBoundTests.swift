import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// The queue holds `queueCapacity` queries, not one more and not one fewer: the next gets a
/// "queue full" error at once, and the ones that waited are all run when a servant comes.
struct QueueBoundTests {
    /// The queue holds at most `queueBytes` of query messages: a large query that would take it
    /// past that is refused at once, while a small one is still taken; a query alone is always
    /// taken, whatever its size; the queued ones all run when a servant comes.
    @Test func aQueryPastTheQueuedBytesIsRefusedAndTheOthersRunLater() async throws {
        try await ScriptedBroker.run(servants: 1, configure: {
            $0.dispatch.queueBytes = 150_000
            $0.dispatch.servantWait = .seconds(60)
        }) { run in
            let servant = run.servants[0]
            func large(_ id: Int64) -> [UInt8] {
                ClientQuery(id: .atom(.long(id)), query: .list([.atom(.symbol("twice")), .vector(.byte([UInt8](repeating: 1, count: 100_000)))])).encoded()
            }
            // No servant is ready: the first large query waits (alone, whatever its size); the
            // second would take the queue past 150,000 bytes; a small one still fits.
            try run.client.send(large(1))
            try run.client.send(large(2))
            try run.send(id: 3, "twice 3")
            let answer = try #require(try await run.answer(), "no answer to query 2")
            let (id, result) = try ScriptedServant.idAndResult(of: answer)
            #expect(id == .atom(.long(2)))
            guard case .error(let text) = result else {
                Issue.record("not an error: \(result)")
                return
            }
            #expect(text.hasPrefix("mserve: queue full ("), "\(text)")
            #expect(text.contains("past the 150000 of --queue-bytes"), "\(text)")
            #expect(await run.broker.snapshot().queued == 2)
            // What waits: the large query and the small one, by their messages' bytes.
            let small = ScriptedServant.query(id: 3, "twice 3").count
            #expect(await run.broker.snapshot().queuedBytes == large(1).count + small)
            #expect(await run.broker.snapshot().metrics.queries(.queueFull) == 1)

            let broker = try await servant.becomeReady(capacity: 1)
            for waited in [Int64(1), 3] {
                let (_, query) = try await servant.next(.query)
                try #require(query.count == 2)
                try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: waited, .atom(.long(2 * waited)))])
                let answer = try #require(try await run.answer(), "no answer to query \(waited)")
                #expect(try ScriptedServant.idAndResult(of: answer).id == .atom(.long(waited)))
            }
        }
    }

    @Test func theQueryPastTheCapacityIsRefusedAndTheOthersRunLater() async throws {
        try await ScriptedBroker.run(
            servants: 1,
            configure: {
                $0.dispatch.queueCapacity = 3
                $0.dispatch.lookAhead = 1
            }
        ) { run in
            let servant = run.servants[0]
            // No servant is ready: the first three wait, the fourth and fifth are refused.
            for id in Int64(1)...5 { try run.send(id: id, "twice \(id)") }
            for refused in Int64(4)...5 {
                let answer = try #require(try await run.answer(), "no answer to query \(refused)")
                let (id, result) = try ScriptedServant.idAndResult(of: answer)
                #expect(id == .atom(.long(refused)))
                #expect(result == .error("mserve: queue full (3 queries waiting); try again later"))
            }
            #expect(await run.broker.snapshot().queued == 3)

            // A servant comes: the three that waited run, in order, and nothing else is refused.
            let broker = try await servant.becomeReady(capacity: 1)
            for waited in Int64(1)...3 {
                let (_, query) = try await servant.next(.query)
                try #require(query.count == 2)
                try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: waited, .atom(.long(2 * waited)))])
                let answer = try #require(try await run.answer(), "no answer to query \(waited)")
                let (id, result) = try ScriptedServant.idAndResult(of: answer)
                #expect(id == .atom(.long(waited)))
                #expect(result == .atom(.long(2 * waited)))
            }
        }
    }

    /// A query refused as queue full is logged as the other refusals are: a line, and a burst
    /// of them a line a second with a count of the rest.
    @Test func queueFullRefusalsAreLoggedInBrief() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(
            servants: 1,
            configure: {
                $0.dispatch.queueCapacity = 1
                $0.dispatch.lookAhead = 1
            },
            logger: log.logger(label: "broker")
        ) { run in
            // No servant is ready: the first waits, the next twenty are refused.
            for id in Int64(1)...21 { try run.send(id: id, "twice \(id)") }
            for _ in 2...21 { _ = try #require(try await run.answer(), "a refused query got no reply") }
            let lines = log.messages.filter { $0.hasPrefix("refused a query: queue full") }
            #expect(lines.first == "refused a query: queue full (1 queries waiting)", "\(log.messages)")
            #expect(lines.count < 20, "\(lines.count) lines for 20 refusals")
        }
    }
}
