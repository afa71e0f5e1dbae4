import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// Log lines a client can cause at any rate are let through once a second, with a count of
/// the rest; every message still gets its reply.
struct LogThrottleTests {
    @Test func oneLineAnIntervalPassesAndTheNextCountsTheOnesHeldBack() {
        var throttle = LogThrottle(interval: .seconds(1))
        #expect(throttle.admit(now: 10) == 0)
        #expect(throttle.admit(now: 11) == nil)
        #expect(throttle.admit(now: 999_999_999) == nil)
        #expect(throttle.admit(now: 1_000_000_010) == 2)
        #expect(throttle.admit(now: 3_000_000_000) == 0)
        #expect(LogThrottle.line("refused", heldBack: 0) == "refused")
        #expect(LogThrottle.line("refused", heldBack: 2) == "refused (and 2 more like it since the last such line, not logged)")
    }

    @Test func eachKindOfLineHasItsOwnThrottleAndCount() {
        var throttles = LogThrottles<String>(interval: .seconds(1))
        #expect(throttles.admit("frames", now: 10) == 0)
        #expect(throttles.admit("bytes", now: 11) == 0, "a line of another kind is not held back")
        #expect(throttles.admit("frames", now: 12) == nil)
        #expect(throttles.admit("frames", now: 13) == nil)
        #expect(throttles.admit("bytes", now: 1_000_000_011) == 0, "the other kind's held-back lines are not counted")
        #expect(throttles.admit("frames", now: 1_000_000_012) == 2)
    }

    /// Dropped and refused client messages of different kinds, in one burst: each kind gets its
    /// line, and no line counts another kind's as "more like it".
    @Test func eachKindOfBadClientMessageIsLoggedOnItsOwn() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 1, logger: log.logger(label: "broker")) { run in
            let query = ScriptedServant.query(id: 1, "twice 1")
            try run.client.send(multipart: [[UInt8]](repeating: [], count: ClientEnvelope.maximumFrames) + [query])
            for _ in 1...5 { try run.client.send([9, 9, 9]) }
            try run.client.send(multipart: [[UInt8](repeating: 7, count: ClientEnvelope.maximumBytes), query])
            try run.client.send([9, 9, 9])
            // The six malformed messages are answered in order: once the last is, the loop has
            // read every message before it.
            for _ in 1...6 { _ = try #require(try await run.answer(), "a malformed message got no reply") }
            let lines = log.messages
            #expect(lines.filter { $0.contains("frames in front of its query") }.count == 1, "\(lines)")
            #expect(lines.filter { $0.contains("bytes in front of its query") }.count == 1, "\(lines)")
            #expect(lines.filter { $0.hasPrefix("refused a malformed client message") }.count == 1, "\(lines)")
            #expect(!lines.contains { $0.contains("more like it") }, "\(lines)")
            // Every message taken from the client socket is received, the dropped ones too.
            let metrics = await run.broker.snapshot().metrics
            #expect(metrics.messagesReceived == 8 && metrics.messagesSent == 6, "\(metrics.messagesReceived) received, \(metrics.messagesSent) sent")
        }
    }

    @Test func aFloodOfBadQueriesIsAnsweredInFullAndLoggedInBrief() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 1, logger: log.logger(label: "broker")) { run in
            for id in 1...200 { try run.send(id: Int64(id), "system \"rm -rf /\"") }
            for _ in 1...200 {
                let answer = try #require(try await run.answer(), "a bad query got no reply")
                guard case .error = try ScriptedServant.idAndResult(of: answer).result else {
                    Issue.record("a bad query was not refused")
                    return
                }
            }
            let refusals = log.messages.filter { $0.hasPrefix("refused a query") }
            #expect(!refusals.isEmpty && refusals.count < 20, "\(refusals.count) lines for 200 refusals")
        }
    }
}
