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
