import MServeProtocol
import MServeTesting
import MServeTestSupport
import QData
import Testing
import ZeroMQ

import Logging
@testable import MServeBroker

/// A draining servant's connection may close before its BYE is read: with nothing left to
/// answer it has simply left (no warning); with queries still running there it is lost,
/// and they go to another servant.
struct ServantDepartureTests {
    @Test func aDrainedServantThatDisconnectsHasLeftAndOneWithWorkIsLost() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 3, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let (idle, busy, spare) = (run.servants[0], run.servants[1], run.servants[2])
            let idleBroker = try await idle.becomeReady(capacity: 1)
            let busyBroker = try await busy.becomeReady(capacity: 1)
            let spareBroker = try await spare.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(3))

            // The idle servant drains with nothing running and goes without a BYE.
            try idle.send(to: idleBroker, .drain, [])
            #expect(await eventually { await run.broker.snapshot().servants.first?.state == "draining" })
            idle.close()
            #expect(await eventually { log.messages.contains("servant left") })
            #expect(!log.messages.contains("servant lost"), "\(log.messages)")

            // The busy one drains with a query running and goes: that is a loss.
            try run.send(id: 1, "twice 1")
            let (_, query) = try await busy.next(.query)
            try busy.send(to: busyBroker, .drain, [])
            #expect(await eventually { await run.broker.snapshot().servants.map(\.state).dropFirst().first == "draining" })
            busy.close()
            let (_, again) = try await spare.next(.query)
            #expect(again[1] == query[1], "the running query goes to the spare servant")
            #expect(log.messages.contains("servant lost"))
            try spare.send(to: spareBroker, .reply, [again[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            #expect(try ScriptedServant.idAndResult(of: try #require(try await run.answer())).result == .atom(.long(2)))

            // The broker tries to reach both again (they were given as endpoints). That the lost
            // one cannot be reached is news; the one that said it was going gets no such line.
            let unreachable = "cannot reach servant; retrying until it is up"
            func unreachableLines(_ servant: ScriptedServant) -> Int {
                log.entries.count { $0.message == unreachable && $0.metadata["endpoint"] == servant.endpoint }
            }
            #expect(await eventually { unreachableLines(busy) == 1 }, "\(log.messages)")
            #expect(unreachableLines(idle) == 0, "\(log.entries)")
        }
    }

    /// A servant that sends BYE said it was going: the broker's tries to reach it again at its
    /// endpoint are not logged as a servant it cannot reach.
    @Test func aServantThatSaidGoodbyeIsNotLoggedAsUnreachable() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 2, logger: log.logger(label: "mserve.broker", level: .info)) { run in
            let (leaving, lost) = (run.servants[0], run.servants[1])
            let leavingBroker = try await leaving.becomeReady(capacity: 1)
            _ = try await lost.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(2))
            try leaving.send(to: leavingBroker, .bye, [])
            #expect(await eventually { await run.broker.snapshot().servants.first?.state == "lost" })
            leaving.close()
            lost.close()

            let unreachable = "cannot reach servant; retrying until it is up"
            func unreachableLines(_ servant: ScriptedServant) -> Int {
                log.entries.count { $0.message == unreachable && $0.metadata["endpoint"] == servant.endpoint }
            }
            // Both sockets closed together: by the time the lost one's line is written, the
            // other's tries have failed as often.
            #expect(await eventually { unreachableLines(lost) == 1 }, "\(log.messages)")
            #expect(unreachableLines(leaving) == 0, "\(log.entries)")
        }
    }
}
