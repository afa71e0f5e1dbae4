import Logging
import MServeProtocol
import MServeServant
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

/// A servant holds each broker session to the capacity its READY announced: a query past it
/// is answered at once with an error and never run, and a place is free again once its
/// answer is sent, so a broker that sends a query only for an answer it read is never refused.
struct ServantCapacityTests {
    /// A broker stand-in that takes up to 16 answers in one REPLY.
    private static func broker(_ context: ZMQContext, _ endpoint: String, incarnation: UInt64 = 7) async throws -> BrokerPeer {
        try await BrokerPeer(
            context: context, endpoint: endpoint, helloFrames: [WireInteger.encode(incarnation), WireInteger.encode(16)])
    }

    /// The QUERY frames of `(tag; "FUNCTION tag")`.
    private static func query(tag: UInt64, _ function: String = "hold") -> [[UInt8]] {
        [WireInteger.encode(tag), QIPC.encode(.list([.atom(.long(Int64(tag))), .string("\(function) \(tag)")]))]
    }

    /// `(tag; tag)`: what `hold tag` answers.
    private static func held(_ tag: UInt64) -> QValue {
        .list([.atom(.long(Int64(tag))), .atom(.long(Int64(tag)))])
    }

    /// The refusal of query `tag` past a broker session's capacity of `capacity`.
    private static func refused(_ tag: UInt64, capacity: Int) throws -> QValue {
        let text = "mserve: the servant is at its capacity of \(capacity) quer\(capacity == 1 ? "y" : "ies") for this broker"
        return try QIPC.decode(ReplyAssembly.servantFailure(id: .atom(.long(Int64(tag))), message: text)).value
    }

    /// Reads REPLY messages until `count` answers came; returns them by tag.
    private static func answers(_ count: Int, from broker: BrokerPeer) async throws -> [UInt64: QValue] {
        var byTag: [UInt64: QValue] = [:]
        while byTag.count < count {
            let frames = try #require(try await broker.next(), "no REPLY came")
            guard frames.count >= 2, frames[1] == ServantCommand.reply.frame else { continue }
            try #require((frames.count - 2) % 3 == 0, "a REPLY holds tag, answer, execution triples")
            for first in stride(from: 2, to: frames.count, by: 3) {
                byTag[try #require(WireInteger.decode(frames[first]))] = try QIPC.decode(frames[first + 1]).value
            }
        }
        return byTag
    }

    @Test func queriesPastTheCapacityAreAnsweredAtOnceAndNeverRun() async throws {
        let hold = HeldFunction()
        defer { hold.release(16) }
        let recorder = LogRecorder()
        var configuration = ServantConfiguration()
        // More threads than the capacity: only the capacity keeps the extra queries out.
        configuration.threads = 4
        configuration.capacity = 2
        try await RunningServant.with(configuration, functions: hold.registry, logger: recorder.logger(label: "servant")) {
            endpoint, context in
            let broker = try await Self.broker(context, endpoint)
            defer { broker.socket.close() }
            #expect(broker.ready["capacity"] == .atom(.long(2)))
            // Four queries where two were announced: the two past the capacity are answered
            // at once, while the first two still run.
            try broker.send(.query, (1...4).flatMap { Self.query(tag: $0) })
            #expect(try await Self.answers(2, from: broker) == [3: try Self.refused(3, capacity: 2), 4: try Self.refused(4, capacity: 2)])
            #expect(await eventually { hold.startedCount == 2 })
            try broker.send(.query, Self.query(tag: 5))
            #expect(try await Self.answers(1, from: broker) == [5: try Self.refused(5, capacity: 2)])
            hold.release(2)
            #expect(try await Self.answers(2, from: broker) == [1: Self.held(1), 2: Self.held(2)])
            // Their answers sent, the places are free: the next query runs.
            try broker.send(.query, Self.query(tag: 6))
            #expect(await eventually { hold.startedCount == 3 })
            hold.release(1)
            #expect(try await Self.answers(1, from: broker) == [6: Self.held(6)])
            #expect(hold.startedCount == 3, "a query past the capacity ran")
        }
        let line = recorder.entries.first { $0.message.hasPrefix("refused 2 queries from a broker past the capacity of 2") }
        #expect(line?.level == .warning)
        #expect(line?.metadata["refusedInAll"] == "2")
        // The third refusal, within a second of the first line, is held back from its own line
        // but summed up (at the next scan, or when the servant stops): the log's last count
        // is every refusal.
        let counts = recorder.entries.filter { $0.message.hasPrefix("refused ") }.compactMap { $0.metadata["refusedInAll"].flatMap { Int($0) } }
        #expect(counts.max() == 3, "\(recorder.messages)")
    }

    @Test func eachBrokerSessionHasItsOwnCount() async throws {
        let hold = HeldFunction()
        defer { hold.release(16) }
        var configuration = ServantConfiguration()
        configuration.threads = 2
        configuration.capacity = 1
        try await RunningServant.with(configuration, functions: hold.registry) { endpoint, context in
            let first = try await Self.broker(context, endpoint)
            let second = try await Self.broker(context, endpoint)
            defer {
                first.socket.close()
                second.socket.close()
            }
            try first.send(.query, Self.query(tag: 1))
            try second.send(.query, Self.query(tag: 1))
            #expect(await eventually { hold.startedCount == 2 }, "each broker has a place of its own")
            try first.send(.query, Self.query(tag: 2))
            #expect(try await Self.answers(1, from: first) == [2: try Self.refused(2, capacity: 1)])
            hold.release(2)
            #expect(try await Self.answers(1, from: first) == [1: Self.held(1)])
            #expect(try await Self.answers(1, from: second) == [1: Self.held(1)])
        }
    }

    /// A broker sends a query as soon as an answer frees a place, as the real one does:
    /// whether the answer left through the loop or from the worker that made it
    /// (``DirectAnswers``), and in batches or one at a time, no query is ever refused.
    @Test(arguments: [(1, 1), (2, 4)])
    func aBrokerKeepingItsCapacityFullIsNeverRefused(threads: Int, capacity: Int) async throws {
        var configuration = ServantConfiguration()
        configuration.threads = threads
        configuration.capacity = capacity
        try await RunningServant.with(configuration, functions: .twice()) { endpoint, context in
            let broker = try await Self.broker(context, endpoint)
            defer { broker.socket.close() }
            let total: UInt64 = 400
            var sent: UInt64 = 0
            func send(_ count: Int) throws {
                let tags = (0..<UInt64(count)).map { sent + 1 + $0 }.filter { $0 <= total }
                guard !tags.isEmpty else { return }
                sent += UInt64(tags.count)
                try broker.send(.query, tags.flatMap { Self.query(tag: $0, "twice") })
            }
            try send(capacity)
            var answered: UInt64 = 0
            while answered < total {
                let frames = try #require(try await broker.next(), "no REPLY came after \(answered) answers")
                guard frames.count >= 2, frames[1] == ServantCommand.reply.frame else { continue }
                let answers = (frames.count - 2) / 3
                for first in stride(from: 2, to: frames.count, by: 3) {
                    let tag = try #require(WireInteger.decode(frames[first]))
                    let answer = try QIPC.decode(frames[first + 1]).value
                    try #require(answer == .list([.atom(.long(Int64(tag))), .atom(.long(2 * Int64(tag)))]), "query \(tag): \(answer)")
                }
                answered += UInt64(answers)
                try send(answers)
            }
        }
    }

    /// A HELLO from a broker in session starts a new session: its count starts again, and the
    /// old session's queries still waiting for a thread are not run (the broker sent them
    /// elsewhere); a query already running finishes and is answered. The READY says how many
    /// queries of the earlier sessions still run (`running`), holding the thread the new
    /// session cannot have (a broker that lost the servant in a cut or a pause counts them as
    /// holding places): not those dropped, and none once their answers went.
    @Test func aNewHelloStartsANewCountAndTheOldWaitingQueriesDoNotRun() async throws {
        let hold = HeldFunction()
        defer { hold.release(16) }
        var configuration = ServantConfiguration()
        configuration.threads = 1
        configuration.capacity = 2
        try await RunningServant.with(configuration, functions: hold.registry) { endpoint, context in
            let broker = try await Self.broker(context, endpoint)
            defer { broker.socket.close() }
            #expect(broker.ready["running"] == nil)
            try broker.send(.query, Self.query(tag: 1) + Self.query(tag: 2))
            #expect(await eventually { hold.startedCount == 1 })
            #expect(try await Self.readyAfterHello(broker)["running"] == .atom(.long(1)))
            // Greeted again, it still runs it.
            #expect(try await Self.readyAfterHello(broker)["running"] == .atom(.long(1)))
            try broker.send(.query, Self.query(tag: 3) + Self.query(tag: 4))
            hold.release(3)
            // One thread, first come first served: query 2, had it stayed, would come before 3.
            #expect(try await Self.answers(3, from: broker) == [1: Self.held(1), 3: Self.held(3), 4: Self.held(4)])
            #expect(hold.startedCount == 3)
            #expect(try await Self.readyAfterHello(broker)["running"] == nil)
            // The worker thread lives on: a query dropped from the queue takes none with it.
            try broker.send(.query, Self.query(tag: 5))
            hold.release(1)
            #expect(try await Self.answers(1, from: broker) == [5: Self.held(5)])
        }
    }

    /// Says HELLO again as `broker` and returns the READY that answers it, as a dictionary.
    private static func readyAfterHello(_ broker: BrokerPeer) async throws -> [String: QValue] {
        try broker.send(.hello, [WireInteger.encode(7), WireInteger.encode(16)])
        while true {
            let frames = try #require(try await broker.next(), "no READY came")
            guard frames.count == 3, frames[1] == ServantCommand.ready.frame else { continue }
            let entries = InfoDictionary.symbolKeyedEntries(try QIPC.decode(frames[2]).value) ?? []
            return Dictionary(entries, uniquingKeysWith: { first, _ in first })
        }
    }

    /// After a broker's BYE, its queries still waiting for a thread are not run.
    @Test func aByeDropsTheQueriesStillWaiting() async throws {
        let hold = HeldFunction()
        defer { hold.release(16) }
        var configuration = ServantConfiguration()
        configuration.threads = 1
        configuration.capacity = 2
        try await RunningServant.with(configuration, functions: hold.registry) { endpoint, context in
            let leaving = try await Self.broker(context, endpoint)
            let staying = try await Self.broker(context, endpoint)
            defer {
                leaving.socket.close()
                staying.socket.close()
            }
            try leaving.send(.query, Self.query(tag: 1) + Self.query(tag: 2))
            #expect(await eventually { hold.startedCount == 1 })
            try leaving.send(.bye)
            // Read after the BYE: one thread, first come first served, so query 2, had it
            // stayed, would run before this one.
            try leaving.send(.ping)
            #expect(try await leaving.next()?.dropFirst().first == ServantCommand.pong.frame)
            try staying.send(.query, Self.query(tag: 9))
            hold.release(2)
            #expect(try await Self.answers(1, from: leaving) == [1: Self.held(1)])
            #expect(try await Self.answers(1, from: staying) == [9: Self.held(9)])
            #expect(hold.startedCount == 2)
        }
    }
}
