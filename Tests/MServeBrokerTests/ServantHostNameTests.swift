import MServeProtocol
import POSIXSockets
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A servant the broker knows by host name (`tcp://localhost:PORT`) comes back after it
/// restarts. libzmq names a reconnection by the resolved address (`tcp://127.0.0.1:PORT`), so
/// its connection event matches no configured endpoint; the broker greets servants that are
/// not ready on every heartbeat all the same, and takes any message from one as proof of a
/// connection.
struct ServantHostNameTests {
    @Test func aServantKnownByHostNameIsReadyAgainAfterItRestarts() async throws {
        // A port no other test of this process is given, outside the range the system hands
        // out for port 0: while the servant is down, nobody else can take it.
        let port = LoopbackPort.free()
        try await ScriptedBroker.run(
            servants: 0,
            configure: {
                $0.servants.endpoints = ["tcp://localhost:\(port)"]
                $0.servants.heartbeatInterval = .milliseconds(100)
            }
        ) { run in
            let first = try ScriptedServant(context: run.context, endpoint: "tcp://127.0.0.1:\(port)")
            _ = try await first.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))

            // The servant stops; another takes its port, as a restarted one does.
            first.close()
            #expect(await run.servantsBecomeReady(0))
            let restarted = try ScriptedServant(context: run.context, endpoint: "tcp://127.0.0.1:\(port)")
            defer { restarted.close() }
            // Reconnecting takes the broker up to a second; the HELLO it queued when it lost the
            // servant comes with the connection (not after the seconds between HELLOs to a
            // servant not known to be connected). Waited for without blocking.
            let (broker, _) = try await restarted.next(.hello)
            try restarted.send(to: broker, .ready, [ScriptedServant.readyInfo(capacity: 1, batch: nil)])
            #expect(await run.servantsBecomeReady(1))

            // And it is in dispatch, heartbeats and all.
            try run.send(id: 1, "twice 1")
            let (_, query) = try await restarted.next(.query)
            try #require(query.count == 2)
            try restarted.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer).result == .atom(.long(2)))
        }
    }
}
