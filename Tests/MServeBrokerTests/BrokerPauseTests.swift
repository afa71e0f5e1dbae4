import Foundation
import Logging
import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A servant forgets the session of a broker it hears nothing from for a minute, and answers a
/// `QUERY` of a forgotten session with `BYE`, after which the broker never uses that process
/// again. A broker whose own process did not run for nearly that long (stopped, its host
/// suspended) therefore greets every servant again, as a new session, before it sends one
/// anything.
struct BrokerPauseTests {
    /// The servants' session time here: 2 s, so the pause that may end sessions is 2 s less a
    /// heartbeat (100 ms) and a twelfth, about 1.7 s.
    static let sessionTime = Duration.seconds(2)

    /// Runs a broker with that session time, heartbeating every 100 ms (liveness 60 s), logging
    /// at info to `log`, over one scripted servant that has become ready; `body` gets the run,
    /// the servant and the broker's routing id at the servant.
    static func withReadyServant(
        log: LogRecorder, _ body: (ScriptedBroker, ScriptedServant, [UInt8]) async throws -> Void
    ) async throws {
        try await ScriptedBroker.run(
            servants: 1,
            configure: {
                $0.servants.heartbeatInterval = .milliseconds(100)
                $0.servants.livenessTimeout = .seconds(60)
                $0.servants.servantSessionTimeout = Self.sessionTime
            },
            logger: log.logger(label: "mserve.broker", level: .info)
        ) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            try #require(await run.servantsBecomeReady(1))
            try await body(run, servant, broker)
        }
    }

    @Test func aPauseAsLongAsTheServantsSessionGreetsThemAgainBeforeAnyQuery() async throws {
        let log = LogRecorder()
        try await Self.withReadyServant(log: log) { run, servant, _ in

            // The loop is held past that (as a stopped process is, in its poll), and a query
            // comes meanwhile (sent from the held loop's thread while this one waits: the
            // client socket is never used by two threads at once).
            nonisolated(unsafe) let client = run
            #expect(
                await run.broker.onLoop { _ in
                    try? client.send(id: 1, "twice 1")
                    Thread.sleep(forTimeInterval: 2.5)
                })

            // The servant hears HELLO, a new session, before any QUERY.
            var first: (broker: [UInt8], command: [UInt8])?
            while first == nil {
                let frames = try #require(try await servant.socket.receiveFrames(within: .seconds(30)), "nothing came")
                try #require(frames.count >= 3)
                if frames[2] == ServantCommand.hello.frame || frames[2] == ServantCommand.query.frame {
                    first = (frames[0], frames[2])
                }
            }
            #expect(first?.command == ServantCommand.hello.frame, "a QUERY came before a HELLO")
            guard let broker = first?.broker, first?.command == ServantCommand.hello.frame else { return }
            try servant.send(to: broker, .ready, [ScriptedServant.readyInfo(capacity: 1, batch: nil, functions: ["twice"], incarnation: 9)])

            // The query goes to the servant in its new session and is answered.
            let (_, query) = try await servant.next(.query)
            try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let answer = try #require(try await run.answer())
            #expect(try ScriptedServant.idAndResult(of: answer).result == .atom(.long(2)))
            #expect(
                log.entries.contains { $0.message.hasPrefix("this broker was not running for") },
                "\(ScriptedBroker.lines(of: log))")
        }
    }

    /// A loop that turns as usual, its servants heard from, takes none of them out of dispatch.
    @Test func noPauseNoGreeting() async throws {
        let log = LogRecorder()
        try await Self.withReadyServant(log: log) { run, servant, broker in
            try await Task.sleep(for: .seconds(2.5))
            try run.send(id: 1, "twice 1")
            let (_, query) = try await servant.next(.query)
            try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            #expect(try #require(try await run.answer()).isEmpty == false)
            #expect(!log.entries.contains { $0.message.hasPrefix("this broker was not running for") })
            #expect(await run.broker.snapshot().servants.allSatisfy { $0.lost == 0 })
        }
    }
}
