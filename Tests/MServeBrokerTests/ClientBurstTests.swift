import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A burst of client messages does not hold up the servants' side: the broker reads a
/// bounded number of client messages at a time, then its servants and its timers, so a
/// servant's answer that waits behind a burst reaches its client long before the burst has
/// been read to its end.
struct ClientBurstTests {
    @Test func aServantsAnswerBehindABurstOfClientsIsPassedOnBeforeTheBurstEnds() async throws {
        let algorithm = LoopStallTests.StallingAlgorithm()
        try await ScriptedBroker.run(
            servants: 1, configure: { $0.statusInterval = nil }, algorithm: { algorithm }
        ) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 2)
            #expect(await run.servantsBecomeReady(1))

            // The client's query is at the servant.
            try run.send(id: 1, "twice 1")
            let (_, query) = try await servant.next(.query)
            try #require(query.count == 2)

            // A query holds the broker's loop (the algorithm pauses in choosing its servant);
            // meanwhile a burst of malformed messages (each gets an error reply) and the
            // servant's answer to the first query wait in its sockets. All from one client,
            // whose replies come in the order the broker sends them.
            try run.send(id: 2, "twice `stall")
            #expect(await algorithm.holdsTheLoop(), "the loop never stalled")
            let burst = 5_000
            for _ in 0..<burst { try run.client.send([1, 2, 3]) }
            try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            // Let both reach the broker's sockets before its loop goes on (the sends are queued
            // in libzmq; a second is ample even on a loaded machine).
            try await Task.sleep(for: .seconds(1))
            algorithm.letGo()

            // The answer comes after only part of the burst's error replies.
            var burstRepliesBefore = 0
            var answered = false
            while !answered, let frames = try await run.client.receiveFrames(within: .seconds(20)) {
                let (id, result) = try ScriptedServant.idAndResult(of: frames[0])
                if id == .atom(.long(1)) {
                    #expect(result == .atom(.long(2)))
                    answered = true
                } else {
                    burstRepliesBefore += 1
                }
            }
            #expect(answered, "the client got no answer")
            #expect(burstRepliesBefore < burst / 2, "\(burstRepliesBefore) of \(burst) burst messages were answered first")
            var rest = 0
            while burstRepliesBefore + rest < burst, try await run.client.receiveFrames(within: .seconds(20)) != nil { rest += 1 }
            #expect(burstRepliesBefore + rest == burst, "every malformed message gets its error reply")
        }
    }
}
