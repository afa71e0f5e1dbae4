import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A servant may report its own execution time with each answer (the third frame of a REPLY
/// triple). The broker takes it, but never as more than the time since it dispatched the
/// query: a servant that sends -1 for "unknown" (2^64 - 1 on the wire) must neither stop the
/// broker nor skew the mean execution the dispatch plugins see.
struct ReportedExecutionTests {
    @Test func anImpossibleExecutionTimeIsHeldToTheTimeSinceDispatch() async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))

            try run.send(id: 1, "twice 1")
            let (_, first) = try await servant.next(.query)
            try #require(first.count == 2)
            try servant.send(
                to: broker, .reply, [first[0], ScriptedServant.answer(id: 1, .atom(.long(2))), WireInteger.encode(.max)])
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer).result == .atom(.long(2)))
            let (_, execution, elapsed) = try ScriptedServant.timings(of: answer)
            #expect(execution >= 0 && execution <= elapsed, "execution \(execution) ns, elapsed \(elapsed) ns")

            // The broker serves on, and a plausible figure is passed on as the servant gave it.
            try run.send(id: 2, "twice 2")
            let (_, second) = try await servant.next(.query)
            try #require(second.count == 2)
            try servant.send(
                to: broker, .reply, [second[0], ScriptedServant.answer(id: 2, .atom(.long(4))), WireInteger.encode(1)])
            let next = try #require(try await run.answer(), "the client got no second answer")
            #expect(try ScriptedServant.timings(of: next).execution == 1)
            let status = try #require(await run.broker.snapshot().servants.first)
            #expect(status.served == 2)
            // Held to the first query's time at the servant (under its elapsed time), the mean
            // of the two is no more than that, however long a loaded machine made it.
            #expect(
                status.meanExecution <= .nanoseconds(elapsed), "the mean is skewed: \(status.meanExecution), elapsed \(elapsed) ns")
        }
    }
}
