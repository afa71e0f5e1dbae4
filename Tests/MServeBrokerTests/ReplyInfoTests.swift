import MServeBroker
import MServeProtocol
import MServeTestSupport
import QData
import Testing
import ZeroMQ

/// Every reply path's info dictionary holds what docs/PROTOCOL.md says: `queued` is the time
/// a query waited for a servant (0 for one refused before waiting), `execution` its time
/// running, `servant` who ran it, and `error` only on failure.
@Suite struct ReplyInfoTests {
    struct Info {
        var entries: [String: QValue]
        var keys: [String]
        var result: QValue
        var id: QValue

        init(_ answer: [UInt8]) throws {
            guard case .list(let items, _) = try QIPC.decode(answer).value, items.count == 3 else {
                throw ScriptedServantError(description: "expected (id; result; info)")
            }
            let pairs = try #require(InfoDictionary.symbolKeyedEntries(items[2]))
            keys = pairs.map(\.0)
            entries = Dictionary(pairs, uniquingKeysWith: { first, _ in first })
            result = items[1]
            id = items[0]
        }

        func timespan(_ key: String) -> Int64? {
            if case .atom(.timespan(let value))? = entries[key] { return value }
            return nil
        }
        var queued: Int64? { timespan("queued") }
        var execution: Int64? { timespan("execution") }
        var elapsed: Int64? { timespan("elapsed") }
        var servant: String? { entries["servant"]?.symbol }
        var routing: String? { entries["routing"]?.symbol }
        var error: String? { entries["error"]?.string }
    }

    /// Scripted servants answer no PING: a broker that waits a minute for them does not take
    /// one for lost while a loaded machine runs the test slowly (none of these tests is about
    /// heartbeats).
    static func patient(_ configuration: inout BrokerConfiguration) {
        configuration.servants.livenessTimeout = .seconds(60)
    }

    /// Collects answers until one for each id in `ids` came.
    func answers(_ run: ScriptedBroker, ids: Set<Int64>) async throws -> [Int64: Info] {
        var found: [Int64: Info] = [:]
        while found.count < ids.count {
            let answer = try #require(try await run.answer(), "answers for \(ids.subtracting(found.keys)) missing")
            let info = try Info(answer)
            if case .atom(.long(let id)) = info.id { found[id] = info }
        }
        return found
    }

    @Test func queriesRefusedBeforeWaitingReportNothingQueued() async throws {
        try await ScriptedBroker.run(servants: 1, configure: { Self.patient(&$0); $0.dispatch.queueCapacity = 1 }) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))

            // Malformed: the id could not be read.
            try run.client.send(Array("not a kdb+ message".utf8))
            let malformed = try Info(try #require(try await run.answer()))
            #expect(malformed.id == .identity)
            #expect(malformed.error?.hasPrefix("mserve: malformed") == true)
            #expect(malformed.queued == 0 && malformed.execution == 0)
            #expect(malformed.elapsed.map { $0 >= 0 } == true)
            #expect(malformed.servant == "" && malformed.routing == "")

            // Refused by secure invocation.
            try run.send(id: 2, "system \"ls\"")
            let refused = try Info(try #require(try await run.answer()))
            #expect(refused.error?.hasPrefix("mserve: ") == true)
            #expect(refused.result == .string(refused.error ?? "?"))
            #expect(refused.queued == 0 && refused.execution == 0)
            #expect(refused.servant == "")

            // The broker's own function: run at once, by no servant, no error.
            try run.send(id: 3, ".mserve.status[]")
            let status = try Info(try #require(try await run.answer()))
            #expect(status.error == nil && !status.keys.contains("error"))
            #expect(status.keys == InfoDictionary.brokerKeys)
            #expect(status.queued == 0 && status.servant == "")

            // The servant busy, one query queued, the next one finds the queue full.
            try run.send(id: 4, "twice 4")
            let held = try await servant.next(.query).frames
            try run.send(id: 5, "twice 5")
            #expect(await eventually { await run.broker.snapshot().queued == 1 })
            try run.send(id: 6, "twice 6")
            let full = try Info(try #require(try await run.answer()))
            #expect(full.id == .atom(.long(6)))
            #expect(full.error?.contains("queue full") == true)
            #expect(full.queued == 0 && full.execution == 0)
            #expect(full.routing == "6" && full.servant == "")
            #expect(full.keys == InfoDictionary.brokerKeys + ["error"])

            // The servant's answer: no error, its name, the broker's keys in order.
            try servant.send(to: broker, .reply, [held[0], ScriptedServant.answer(id: 4, .atom(.long(8)))])
            let answered = try await answers(run, ids: [4])
            let four = try #require(answered[4])
            #expect(four.result == .atom(.long(8)))
            #expect(four.keys == InfoDictionary.brokerKeys)
            #expect(four.servant?.isEmpty == false)
        }
    }

    @Test func queriesPastTheirDeadlineReportWhereTheirTimeWent() async throws {
        try await ScriptedBroker.run(servants: 1, configure: { Self.patient(&$0); $0.dispatch.queryDeadline = .milliseconds(800) }) { run in
            let servant = run.servants[0]
            _ = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            _ = try await servant.next(.query)  // and never answered
            try run.send(id: 2, "twice 2")  // waits for the busy servant

            let found = try await answers(run, ids: [1, 2])
            let atServant = try #require(found[1])
            #expect(atServant.error?.contains("did not answer in time") == true)
            #expect(atServant.servant?.isEmpty == false)
            let (queued, execution, elapsed) = (atServant.queued ?? -1, atServant.execution ?? -1, atServant.elapsed ?? -1)
            #expect(queued + execution == elapsed && execution > 0)

            let inQueue = try #require(found[2])
            #expect(inQueue.error?.contains("no servant was free") == true)
            #expect(inQueue.servant == "")
            #expect(inQueue.execution == 0)
            #expect(inQueue.queued == inQueue.elapsed && (inQueue.queued ?? 0) > 0)
        }
    }

    @Test func aQueryWhoseServantIsLostCountsItsTimeThereAsExecution() async throws {
        try await ScriptedBroker.run(servants: 1, configure: { Self.patient(&$0); $0.servants.redispatchLimit = 0 }) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            _ = try await servant.next(.query)
            try await Task.sleep(for: .milliseconds(50))
            try servant.send(to: broker, .bye, [])
            let info = try Info(try #require(try await run.answer()))
            #expect(info.error?.contains("was lost") == true)
            #expect(info.servant?.isEmpty == false)
            #expect(info.keys == InfoDictionary.brokerKeys + ["error"])
            #expect((info.execution ?? 0) >= 40_000_000, "it ran at the servant: \(String(describing: info.execution))")
            #expect((info.queued ?? 0) + (info.execution ?? 0) == info.elapsed)
        }
    }

    @Test func aMalformedReplyCountsItsTimeAtTheServantAsExecution() async throws {
        try await ScriptedBroker.run(servants: 1, configure: Self.patient) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))
            try run.send(id: 1, "twice 1")
            let query = try await servant.next(.query).frames
            try await Task.sleep(for: .milliseconds(50))
            try servant.send(to: broker, .reply, [query[0], Array("garbage".utf8)])
            let info = try Info(try #require(try await run.answer()))
            #expect(info.error?.contains("malformed reply") == true)
            #expect(info.servant?.isEmpty == false)
            #expect((info.execution ?? 0) >= 40_000_000, "it ran at the servant: \(String(describing: info.execution))")
            #expect((info.queued ?? 0) + (info.execution ?? 0) == info.elapsed)
        }
    }
}
