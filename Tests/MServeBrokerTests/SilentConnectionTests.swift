import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ
import Logging

@testable import MServeBroker

/// A servant that stops reading the broker's connection while TCP still holds it up (its
/// ROUTER gave the broker's routing id to another peer, or the connection is half-open) is
/// lost for missed heartbeats; libzmq never reconnects a connection that did not fail, so the
/// broker makes a new one itself and the servant is used again.
struct SilentConnectionTests {
    /// A servant that misses its heartbeats (its host unreachable, the process paused, or the
    /// connection deaf) is logged as lost for that reason alone: the new connection the broker
    /// makes then is a precaution, and it is said to carry nothing back only once a new
    /// connection came up and stayed silent for the liveness time. Here the servant goes for
    /// good after its loss (as a host whose link was cut): no such line ever comes.
    @Test func aServantLostForMissedHeartbeatsIsNotSaidToBeDeaf() async throws {
        let log = LogRecorder()
        // A liveness long enough for the script to answer its HELLO on a loaded machine: a READY
        // later than that finds the connection ended, and the servant is never in session.
        try await ScriptedBroker.withOneServant(liveness: .seconds(5), log: log) { _, servant in
            // Ready, then silent: it never reads its socket again, and takes no new connection
            // (its port is closed; the connection it has stays up), as a host whose link was cut.
            _ = try await servant.becomeReady(capacity: 1)
            try servant.socket.unbind(servant.endpoint)
            let lost = await eventually(timeout: .seconds(60)) {
                log.entries.contains { $0.message == "servant lost" && $0.metadata["reason"] == "missed heartbeats" }
            }
            #expect(lost, "\(log.messages)")
            try await Task.sleep(for: .seconds(3))
            #expect(!log.messages.contains { $0.hasPrefix("connecting to servant again: ") }, "\(log.messages)")
        }
    }

    @Test func aServantThatStoppedReadingTheConnectionIsConnectedAgain() async throws {
        try await ScriptedBroker.run(
            servants: 1,
            configure: {
                $0.servants.heartbeatInterval = .milliseconds(100)
                // Long enough for the takeover to be done before the broker, which hears nothing
                // from then on, loses the servant and takes its id back by connecting again.
                $0.servants.livenessTimeout = .seconds(3)
                // The query may be sent into a taken connection, before the loss is seen.
                $0.servants.redispatchLimit = 3
            }
        ) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            // A peer presenting the broker's routing id takes it over at the scripted servant
            // (ZMQ_ROUTER_HANDOVER): the broker's connection stays up, and is never read again.
            let intruder = try ZMQSocket(context: run.context, type: .dealer)
            try intruder.setLinger(milliseconds: 0)
            try intruder.setRoutingId(broker)
            try intruder.connect(servant.endpoint)
            // Its message comes under the broker's id: the takeover is done. Sent until one
            // comes: on a loaded machine the broker may lose the servant first and connect
            // again, taking its id back and dropping what the intruder had sent.
            var tookOver = false
            var seen: [String: Int] = [:]
            let giveUp = ContinuousClock.now + .seconds(30)
            while !tookOver, ContinuousClock.now < giveUp {
                try intruder.send(multipart: [ServantLink.protocolMarker, ServantCommand.bye.frame])
                if let frames = try await servant.socket.receiveFrames(within: .milliseconds(200)), frames.count >= 3 {
                    let what = "\(frames[0] == broker ? "broker's id" : "other id") \(String(decoding: frames[2], as: UTF8.self))"
                    seen[what, default: 0] += 1
                    tookOver = frames[0] == broker && frames[2] == ServantCommand.bye.frame
                }
            }
            try #require(tookOver, "the intruder never took the broker's routing id; the servant got \(seen)")
            intruder.close()
            // Lost for missed heartbeats, the servant is greeted on a new connection. It answers
            // each HELLO, heartbeat and query until the client has its answer: on a loaded machine
            // the broker may have been greeting it before the takeover too (on a connection since
            // taken), or lose it once more while a reply is on its way, and send the query again.
            try run.send(id: 1, "twice 1")
            let deadline = ContinuousClock.now + .seconds(60)
            var received: [UInt8]?
            while received == nil, ContinuousClock.now < deadline {
                if let frames = try await servant.socket.receiveFrames(within: .milliseconds(50)) {
                    try #require(frames.count >= 3 && frames[1] == ServantLink.protocolMarker)
                    switch frames[2] {
                    case ServantCommand.hello.frame:
                        try servant.send(to: frames[0], .ready, [ScriptedServant.readyInfo(capacity: 1, batch: nil, incarnation: 10)])
                    case ServantCommand.ping.frame:
                        try servant.send(to: frames[0], .pong, [WireInteger.encode(10)])
                    case ServantCommand.query.frame:
                        try servant.send(to: frames[0], .reply, [frames[3], ScriptedServant.answer(id: 1, .atom(.long(2)))])
                    default:
                        break
                    }
                }
                received = try await run.answer(within: .milliseconds(1))
            }
            let answer = try #require(received, "the client got no answer")
            let result = try ScriptedServant.idAndResult(of: answer).result
            #expect(result == .atom(.long(2)), "\(result)")
        }
    }
}
