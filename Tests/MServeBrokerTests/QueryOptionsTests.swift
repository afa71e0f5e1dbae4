import Foundation
import MServeProtocol
import MServeTestSupport
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// Per-query options `(id; query; options)`: the client's `deadline` applies (capped by the
/// broker's), servants get `(id; query)`, and options the broker does not know or cannot read
/// are refused with the client's id (docs/PROTOCOL.md, "Per-query options").
struct QueryOptionsTests {
    /// `(id; text; options)` as a DEALER sends it.
    static func query(id: Int64, _ text: String, options: QValue) -> [UInt8] {
        ClientQuery(id: .atom(.long(id)), query: .string(text), options: options).encoded()
    }

    static func deadline(milliseconds: Int64) -> QValue {
        .dictionary(keys: .vector(.symbol(["deadline"])), values: .vector(.timespan([milliseconds * 1_000_000])))
    }

    @Test func aClientsDeadlineAppliesAndTheServantGetsIDAndQuery() async throws {
        try await ScriptedBroker.run(servants: 1, configure: {
            $0.dispatch.queryDeadline = .seconds(60)
            $0.servants.livenessTimeout = .seconds(30)
        }) { run in
            let servant = run.servants[0]
            _ = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.client.send(Self.query(id: 1, "twice 1", options: Self.deadline(milliseconds: 300)))
            let sent = try await servant.next(.query).frames
            // The options are the broker's: the servant sees the plain `(id; query)`.
            #expect(try QIPC.decode(sent[1]).value == .list([.atom(.long(1)), .string("twice 1")]))

            // Never answered: the client's 300 ms apply, not the broker's minute.
            let answer = try #require(try await run.answer(), "no answer within 5 s: the client's deadline was not applied")
            let (id, result) = try ScriptedServant.idAndResult(of: answer)
            #expect(id == .atom(.long(1)))
            #expect(result == .error("mserve: deadline exceeded: servant \(servant.endpoint.dropFirst("tcp://".count)) did not answer in time"))
        }
    }

    @Test func aClientsDeadlineIsCappedByTheBrokers() async throws {
        try await ScriptedBroker.run(servants: 1, configure: {
            $0.dispatch.queryDeadline = .milliseconds(300)
            $0.servants.livenessTimeout = .seconds(30)
        }) { run in
            let servant = run.servants[0]
            _ = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.client.send(Self.query(id: 2, "twice 1", options: Self.deadline(milliseconds: 3_600_000)))
            _ = try await servant.next(.query)
            let answer = try #require(try await run.answer(), "no answer within 5 s: the broker's deadline was not a cap")
            let (id, result) = try ScriptedServant.idAndResult(of: answer)
            #expect(id == .atom(.long(2)))
            guard case .error(let message) = result else {
                Issue.record("expected a deadline error, got \(result)")
                return
            }
            #expect(message.contains("deadline exceeded"))
        }
    }

    @Test func aQueuedQueryWithAShortDeadlineExpiresBehindOneWithALongerDeadline() async throws {
        try await ScriptedBroker.run(servants: 1, configure: {
            $0.dispatch.queryDeadline = .seconds(60)
            $0.servants.livenessTimeout = .seconds(30)
        }) { run in
            let servant = run.servants[0]
            _ = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            _ = try await servant.next(.query)  // and never answered: the servant stays busy
            try run.send(id: 2, "twice 2")  // waits with the broker's minute
            try run.client.send(Self.query(id: 3, "twice 3", options: Self.deadline(milliseconds: 300)))
            let answer = try #require(try await run.answer(), "the queued query with its own deadline was not answered")
            #expect(
                try ScriptedServant.idAndResult(of: answer)
                    == (.atom(.long(3)), .error("mserve: " + BrokerLoop.deadlineExceededInQueue)))
            #expect(await run.broker.snapshot().queued == 1, "the query ahead of it waits on")
        }
    }

    /// A deadline under the 10 ms a servant needs at least is answered at once, and says so:
    /// not as a wait for a free servant, with the servants idle.
    @Test func aDeadlineTooShortToSendIsAnsweredAtOnceAndSaysWhy() async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            _ = try await run.servants[0].becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            let options = QValue.dictionary(keys: .vector(.symbol(["deadline"])), values: .vector(.timespan([1_000])))
            try run.client.send(Self.query(id: 5, "twice 1", options: options))
            let answer = try #require(try await run.answer(), "no answer")
            #expect(
                try ScriptedServant.idAndResult(of: answer)
                    == (.atom(.long(5)),
                        .error(
                            "mserve: deadline exceeded: the query's deadline, 0D00:00:00.000001000, is under the "
                                + "0D00:00:00.010000000 a servant needs at least; the query was not sent")))
            #expect(await run.broker.snapshot().metrics.queries(.deadline) == 1)
        }
    }

    @Test func unknownOptionsAndWrongTypesAreRefusedWithTheClientsID() async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            let cases: [(QValue, String)] = [
                (
                    .dictionary(keys: .vector(.symbol(["deadlin"])), values: .vector(.timespan([1_000_000_000]))),
                    "mserve: unknown option `deadlin; the options are `deadline"
                ),
                (
                    .dictionary(keys: .vector(.symbol(["deadline"])), values: .vector(.long([1_000]))),
                    "mserve: the option `deadline must be a timespan, e.g. 0D00:00:05 (5 seconds); got a long atom"
                ),
                (
                    .dictionary(keys: .vector(.symbol(["deadline"])), values: .vector(.timespan([-5]))),
                    "mserve: the option `deadline must be a positive timespan; got -0D00:00:00.000000005"
                ),
                (
                    .atom(.long(5)),
                    "mserve: the options (the third item of (id; query; options)) must be a dictionary with symbol keys, "
                        + "e.g. (enlist`deadline)!enlist 0D00:00:05; got a long atom"
                ),
            ]
            for (offset, (options, expected)) in cases.enumerated() {
                let id = Int64(10 + offset)
                try run.client.send(Self.query(id: id, "twice 1", options: options))
                let answer = try #require(try await run.answer(), "no answer to \(options)")
                #expect(try ScriptedServant.idAndResult(of: answer) == (.atom(.long(id)), .error(expected)))
            }
        }
    }
}
