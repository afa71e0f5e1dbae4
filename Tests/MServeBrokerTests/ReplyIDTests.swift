import MServeProtocol
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

@testable import MServeBroker

/// The broker matches a servant's answer to its query by the frame it tagged the query with,
/// and answers the client with the id the client sent: a servant that garbles the id in its
/// `(id; result)` must not leave the client waiting for an answer it cannot recognise.
struct ReplyIDTests {
    /// A message that is no valid `(id; query)` is refused with the client's id when its first
    /// item reads as one, so that a client with many queries in flight knows which one failed;
    /// with the generic null when it does not.
    /// A query sent again after its servant was lost may go back to that servant once it is in
    /// session again: the answer the first sending still owes (the servant kept running it)
    /// is not taken for the new one's, which would free a place the servant still holds.
    @Test func anAnswerOwedFromBeforeALossIsNotTakenForTheQuerySentAgain() async throws {
        try await ScriptedBroker.run(servants: 1, configure: { $0.servants.redispatchLimit = 3 }) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            try run.send(id: 1, "twice 1")
            let (_, first) = try await servant.next(.query)
            // Lost (it said goodbye without draining): the query goes back to the queue, and
            // the broker greets the servant again.
            try servant.send(to: broker, .bye, [])
            _ = try await servant.becomeReady(capacity: 1, incarnation: 10)
            let (_, again) = try await servant.next(.query)
            #expect(again[0] != first[0], "the query sent again has a tag of its own")
            #expect(again[1] == first[1])
            // The first sending's late answer is dropped; the new sending's is the client's.
            try servant.send(to: broker, .reply, [first[0], ScriptedServant.answer(id: 1, .atom(.long(111)))])
            try servant.send(to: broker, .reply, [again[0], ScriptedServant.answer(id: 1, .atom(.long(222)))])
            let answer = try #require(try await run.answer(), "the client got no answer")
            #expect(try ScriptedServant.idAndResult(of: answer).result == .atom(.long(222)))
            #expect(try await run.answer(within: .milliseconds(300)) == nil, "one answer only")
        }
    }

    /// A compressed query over `--max-message` once decompressed is refused without being
    /// decompressed whole, with the client's id, read from its first bytes.
    @Test func aCompressedQueryOverTheLimitIsRefusedWithItsID() async throws {
        try await ScriptedBroker.run(servants: 1, configure: { $0.clients.maxMessageSize = 200_000 }) { run in
            let query = ClientQuery(
                id: .atom(.long(42)), query: .list([.atom(.symbol("echo")), .vector(.long(Array(repeating: 5, count: 50_000)))]))
            let compressed = try #require(QIPC.compress(query.encoded()))
            try #require(compressed.count < 200_000 && compressed[2] == 1)
            try run.client.send(compressed)
            let answer = try #require(try await run.answer(), "the client got no answer")
            guard case .list(let items, _) = try QIPC.decode(answer).value, items.count == 3,
                case .vector(.char(let text), _) = items[1]
            else {
                Issue.record("not (id; text; info): \(answer)")
                return
            }
            #expect(items[0] == .atom(.long(42)))
            #expect(String(decoding: text, as: UTF8.self).contains("decompresses to 400"), "\(String(decoding: text, as: UTF8.self))")
        }
    }

    @Test func aMalformedMessageIsRefusedWithItsIDWhenItReadsAsOne() async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            for (id, expected) in [([UInt8]([0xF9, 7, 0, 0, 0, 0, 0, 0, 0]), QValue.atom(.long(7))), ([0xEC, 1, 0, 0, 0], .identity)] {
                try run.client.send(KdbDoorTests.idAndMalformedQuery(id: id, messageType: .async))
                let answer = try #require(try await run.answer(), "the client got no answer")
                guard case .list(let items, _) = try QIPC.decode(answer).value, items.count == 3 else {
                    Issue.record("not (id; text; info): \(answer)")
                    continue
                }
                #expect(items[0] == expected)
                guard case .vector(.char(let text), _) = items[1] else {
                    Issue.record("no error text: \(items[1])")
                    continue
                }
                #expect(String(decoding: text, as: UTF8.self).hasPrefix("mserve: malformed message: "))
            }
        }
    }

    @Test func theClientGetsItsOwnIDWhateverIDTheServantAnswersWith() async throws {
        try await ScriptedBroker.run(servants: 1) { run in
            let servant = run.servants[0]
            let broker = try await servant.becomeReady(capacity: 1)
            #expect(await run.servantsBecomeReady(1))

            try run.send(id: 7, "twice 1")
            let (_, query) = try await servant.next(.query)
            try #require(query.count == 2)
            // An id of another type and length: the result and info after it move too.
            let garbled = QIPC.encode(
                .list([.vector(.char(Array("not the id".utf8))), .atom(.long(2)), .dictionary(
                    keys: .vector(.symbol(["host"])), values: .list([.atom(.symbol("h1"))]))]),
                messageType: .async)
            try servant.send(to: broker, .reply, [query[0], garbled])
            let answer = try #require(try await run.answer(), "the client got no answer")
            let (id, result) = try ScriptedServant.idAndResult(of: answer)
            #expect(id == .atom(.long(7)))
            #expect(result == .atom(.long(2)))
            let reply = try QIPC.decode(answer).value
            guard case .list(let items, _) = reply, items.count == 3 else {
                Issue.record("not (id; result; info): \(reply)")
                return
            }
            #expect(InfoDictionary.symbolKeyedEntries(items[2])?.first { $0.0 == "host" }?.1 == .atom(.symbol("h1")))

            // A servant that answers with the right id is passed on unchanged.
            try run.send(id: 8, "twice 2")
            let (_, second) = try await servant.next(.query)
            try servant.send(to: broker, .reply, [second[0], ScriptedServant.answer(id: 8, .atom(.long(4)))])
            let next = try #require(try await run.answer(), "the client got no second answer")
            let (nextID, nextResult) = try ScriptedServant.idAndResult(of: next)
            #expect(nextID == .atom(.long(8)))
            #expect(nextResult == .atom(.long(4)))
        }
    }
}
