import MServeProtocol
import MServeTesting
import MServeTestSupport
import POSIXSockets
import Testing
import ZeroMQ

@testable import MServeBroker

/// A HELLO to a servant that is not connected waits in the broker's socket until it comes up,
/// so such a servant gets one every few seconds, not one every heartbeat: a servant down for
/// long does not come back to a pile of HELLOs (and the broker's memory does not grow).
struct HelloPacingTests {
    /// After a loss, HELLOs to a servant that is not connected come soon at first (one that went
    /// into a connection libzmq was still ending is followed by another that finds none), then
    /// further apart, up to five seconds.
    @Test func theHelloPauseDoublesFromTheHeartbeatUpToFiveSeconds() {
        let millisecond: UInt64 = 1_000_000
        let pauses = (0...8).map { BrokerLoop.unconnectedHelloPause(heartbeat: 400 * millisecond, unanswered: $0) / millisecond }
        #expect(pauses == [400, 800, 1_600, 3_200, 5_000, 5_000, 5_000, 5_000, 5_000])
        #expect(BrokerLoop.unconnectedHelloPause(heartbeat: 400 * millisecond, unanswered: 1_000) == 5_000 * millisecond)
        // A heartbeat longer than five seconds is the pause from the start.
        #expect(BrokerLoop.unconnectedHelloPause(heartbeat: 8_000 * millisecond, unanswered: 0) == 8_000 * millisecond)
        #expect(BrokerLoop.unconnectedHelloPause(heartbeat: 8_000 * millisecond, unanswered: 3) == 8_000 * millisecond)
    }

    @Test func aServantBackAfterAnOutageFindsAFewHellosNotOnePerHeartbeat() async throws {
        let endpoint = "tcp://127.0.0.1:\(LoopbackPort.free())"
        var configuration = BrokerConfiguration()
        configuration.clients.endpoint = "tcp://127.0.0.1:0"
        configuration.servants.endpoints = [endpoint]
        configuration.servants.heartbeatInterval = .milliseconds(100)
        let broker = try Broker(configuration: configuration) { _ in InProcessFirstFreeAlgorithm() }
        let running = Task { try await broker.run() }
        _ = try await broker.clientEndpoint
        let context = try ZMQContext()
        // Up once, then gone for forty heartbeats.
        let first = try ScriptedServant(context: context, endpoint: endpoint)
        _ = try await first.becomeReady(capacity: 1)
        first.close()
        try await Task.sleep(for: .seconds(4))

        let back = ContinuousClock.now
        let servant = try ScriptedServant(context: context, endpoint: endpoint)
        // Reconnecting takes up to a second, more on a loaded machine: the count starts with
        // the first HELLO (waited for as long as it takes), and goes on for a second after it.
        // What was waiting comes with the first.
        _ = try await servant.next(.hello)
        var hellos = 1
        let end = ContinuousClock.now + .seconds(1)
        while ContinuousClock.now < end, hellos < 500,
            let frames = try await servant.socket.receiveFrames(within: end - ContinuousClock.now)
        {
            if frames.count >= 3 && frames[2] == ServantCommand.hello.frame { hellos += 1 }
        }
        // HELLOs go each heartbeat (100 ms) while it is connected and not ready: at most one a
        // heartbeat since it came back, however late this test reads them. A backlog from the
        // outage adds forty.
        let heartbeats = Int((ContinuousClock.now - back) / .milliseconds(100))
        #expect(hellos <= heartbeats + 5, "\(hellos) HELLOs came in \(heartbeats) heartbeats since the servant came back")
        servant.close()
        broker.stop()
        try await running.value
        context.terminate()
    }
}
