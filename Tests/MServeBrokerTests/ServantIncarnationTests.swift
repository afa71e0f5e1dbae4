import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A PONG names the servant's incarnation: the same one keeps it in dispatch, another one
/// means it restarted, and the broker greets it again before it sends it anything more.
struct ServantIncarnationTests {
    @Test func aPongWithTheSameIncarnationKeepsTheServantAndAnotherRestartsIt() async throws {
        try await ScriptedBroker.run(
            servants: 1, configure: { $0.servants.heartbeatInterval = .milliseconds(100) }
        ) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)  // incarnation 9
            #expect(await run.servantsBecomeReady(1))

            // Its own incarnation: still ready, and a query comes to it.
            _ = try await servant.next(.ping)
            try servant.send(to: broker, .pong, [WireInteger.encode(9)])
            try run.send(id: 1, "twice 1")
            let (_, query) = try await servant.next(.query)
            try #require(query.count == 2)
            try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: 1, .atom(.long(2)))])
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer).result == .atom(.long(2)))

            // Another incarnation: a restarted process, greeted again and out of dispatch until READY.
            _ = try await servant.next(.ping)
            try servant.send(to: broker, .pong, [WireInteger.encode(10)])
            _ = try await servant.next(.hello)
            #expect(await run.servantsBecomeReady(0))
        }
    }
}
