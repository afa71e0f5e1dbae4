import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// A compressed client message is held to the broker's message size limit once decompressed,
/// as a plain one is to it on the wire: a few kilobytes that claim gigabytes are refused with
/// an error reply before anything is allocated, and the broker serves on.
struct CompressedMessageLimitTests {
    @Test func aMessageThatDecompressesOverTheLimitGetsAnErrorReply() async throws {
        try await ScriptedBroker.run(servants: 1, configure: { $0.clients.maxMessageSize = 4_096 }) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))

            let long = ClientQuery(id: .atom(.long(1)), query: .string("twice " + String(repeating: "1", count: 20_000)))
            let compressed = try #require(QIPC.compress(long.encoded()))
            try #require(compressed.count < 4_096, "the compressed message itself is within the limit")
            try run.client.send(compressed)
            let answer = try #require(try await run.answer(), "the client got no answer")
            let (_, result) = try ScriptedServant.idAndResult(of: answer)
            guard case .error(let message) = result else {
                Issue.record("expected an error reply, got \(result)")
                return
            }
            #expect(message.contains("over the limit of 4096"), "\(message)")

            // Within the limit, compressed queries are taken as ever.
            let short = ClientQuery(id: .atom(.long(2)), query: .string("twice \"" + String(repeating: "2", count: 3_000) + "\""))
            try run.client.send(try #require(QIPC.compress(short.encoded())))
            let (_, query) = try await servant.next(.query)
            try #require(query.count == 2)
            try servant.send(to: broker, .reply, [query[0], ScriptedServant.answer(id: 2, .atom(.long(4)))])
            let next = try #require(try await run.answer(), "the client got no second answer")
            #expect(try ScriptedServant.idAndResult(of: next) == (.atom(.long(2)), .atom(.long(4))))
        }
    }
}
