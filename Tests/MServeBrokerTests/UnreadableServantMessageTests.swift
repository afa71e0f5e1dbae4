import MServeProtocol
import MServeTestSupport
import MServeTesting
import Testing
import ZeroMQ

@testable import MServeBroker

/// A servant message the protocol does not define, or a command only a broker sends, is
/// dropped with a warning saying what is wrong with it: a line a second of each kind, so a
/// flood of one kind never hides another, nor is counted in its "more like it".
struct UnreadableServantMessageTests {
    @Test func eachKindOfUnreadableMessageHasItsOwnLine() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.withOneReadyServant(log: log) { run, servant, broker in
            for _ in 0..<3 {
                try servant.socket.send(multipart: [broker, ServantLink.protocolMarker, Array("FOO".utf8)])
            }
            try servant.socket.send(multipart: [broker, Array("XYZ1".utf8), Array("READY".utf8)])
            for _ in 0..<2 { try servant.send(to: broker, .query, []) }
            try servant.send(to: broker, .ping, [])
            let expected = [
                "dropped a servant message: an MSV1 message with an unknown command \"FOO\"",
                "dropped a servant message: a message that is not MSV1 (its first frame is \"XYZ1\")",
                "dropped an unexpected QUERY from servant",
                "dropped an unexpected PING from servant",
            ]
            #expect(
                await eventually { expected.allSatisfy { line in log.messages.contains { $0.hasPrefix(line) } } },
                "\(log.messages)")
            #expect(await run.broker.snapshot().servants.map(\.state) == ["ready"])
        }
    }
}
