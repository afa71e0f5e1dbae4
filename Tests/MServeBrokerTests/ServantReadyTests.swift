import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// What a servant's READY must carry for the broker to put it in dispatch (docs/PROTOCOL.md).
struct ServantReadyTests {
    @Test func aReadyWithoutAnIncarnationIsIgnoredWithOneWarningUntilAProperOneComes() async throws {
        let log = LogRecorder()
        try await ScriptedBroker.run(servants: 1, logger: log.logger(label: "broker")) { run in
            let servant = run.servants[0]
            let (broker, _) = try await servant.next(.hello)
            let warning = "ignored a READY without an incarnation"
            // No incarnation, a zero one, and no dictionary at all.
            try servant.send(to: broker, .ready, [QIPC.encode(InfoDictionary.dictionary([("capacity", .atom(.long(4)))]))])
            try servant.send(
                to: broker, .ready,
                [QIPC.encode(InfoDictionary.dictionary([("incarnation", .atom(.long(0))), ("capacity", .atom(.long(4)))]))])
            try servant.send(to: broker, .ready, [])
            try run.send(id: 1, "twice 1")
            #expect(await eventually { await run.broker.snapshot().queued == 1 })
            #expect(log.messages.filter { $0.hasPrefix(warning) }.count == 1, "\(log.messages)")
            #expect(await run.broker.snapshot().servants.map(\.state) == ["connecting"])

            // A READY with its incarnation puts it in dispatch, and the waiting query goes to it.
            try servant.send(to: broker, .ready, [ScriptedServant.readyInfo(capacity: 1, batch: nil)])
            let (_, query) = try await servant.next(.query)
            #expect(query.count == 2)
            #expect(await run.broker.snapshot().servants.map(\.state) == ["ready"])
        }
    }
}
