import Foundation
import MServeProtocol
import QData
import Testing

struct MessagesTests {
    @Test func aClientQueryRoundTrips() throws {
        let query = ClientQuery(id: .atom(.long(1234)), query: .vector(.char(Array("proc1 `IBM".utf8))))
        let decoded = try ClientQuery(bytes: query.encoded())
        #expect(decoded.id == .atom(.long(1234)))
        #expect(decoded.query == .vector(.char(Array("proc1 `IBM".utf8))))
    }

    @Test func malformedAndMisshapenClientMessagesAreRefused() {
        #expect(throws: ProtocolError.self) { try ClientQuery(bytes: [1, 2, 3]) }
        do {
            _ = try ClientQuery(bytes: QIPC.encode(.list([.atom(.long(1))])))
            Issue.record("a one-item list was accepted")
        } catch {
            #expect(error.code == .unexpectedShape)
            #expect(error.message.contains("(id; query)"))
        }
        for value in [QValue.list([.atom(.long(1)), .string("f 1"), .atom(.long(2))]), .string("f 1")] {
            do {
                _ = try ClientQuery(bytes: QIPC.encode(value))
                Issue.record("\(value) was accepted as (id; query)")
            } catch {
                #expect(error.code == .unexpectedShape)
            }
        }
    }

    @Test func aReplyIsSlicedAndReassembledWithoutTouchingTheResult() throws {
        let result = QValue.table(
            QTable(columns: ["a", "b"], values: [.vector(.long([1, 2])), .vector(.symbol(["x", "y"]))]))
        let servantReply = QIPC.encode(.list([.atom(.long(9)), result]))
        let sliced = try SlicedReply(bytes: servantReply)
        #expect(sliced.info == nil)
        #expect(!sliced.resultIsError)
        let info = InfoDictionary.dictionary([("routing", .atom(.symbol("x")))])
        let clientReply = try QIPC.decode(ReplyAssembly.clientReply(sliced, info: info)).value
        #expect(clientReply == .list([.atom(.long(9)), result, info]))
    }

    @Test func theServantsInfoIsDecodedAndErrorsRecognised() throws {
        let servantInfo = InfoDictionary.dictionary([("rows", .atom(.long(5)))])
        let sliced = try SlicedReply(bytes: QIPC.encode(.list([.atom(.long(1)), .error("boom"), servantInfo])))
        #expect(sliced.decodeInfo() == servantInfo)
        #expect(sliced.resultIsError)
    }

    @Test func theIDOfAReplyIsReplacedAndTheRestMovesWithIt() throws {
        let servantInfo = InfoDictionary.dictionary([("rows", .atom(.long(5)))])
        let sliced = try SlicedReply(bytes: QIPC.encode(.list([.atom(.symbol("x")), .atom(.long(2)), servantInfo])))
        var idPayload: [UInt8] = []
        QIPC.encodePayload(.vector(.long([1, 2, 3])), into: &idPayload)
        let replaced = sliced.replacingID(with: idPayload)
        #expect(replaced.decodeInfo() == servantInfo)
        let info = InfoDictionary.dictionary([("routing", .atom(.symbol("x")))])
        #expect(
            try QIPC.decode(ReplyAssembly.clientReply(replaced, info: info)).value
                == .list([.vector(.long([1, 2, 3])), .atom(.long(2)), info]))
        #expect(sliced.hasID(.atom(.symbol("x"))))
        #expect(!sliced.hasID(.atom(.symbol("y"))))
        #expect(replaced.hasID(.vector(.long([1, 2, 3]))))
        let longID = try SlicedReply(bytes: QIPC.encode(.list([.atom(.long(-5)), .atom(.long(2))])))
        #expect(longID.hasID(.atom(.long(-5))))
        #expect(!longID.hasID(.atom(.long(5))))
        #expect(!longID.hasID(.atom(.int(-5))))
        // A symbol id that is not UTF-8 matches the id it decodes to, so its bytes go on as
        // they came.
        let raw: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0xF5, 0xFF, 0xFE, 0, 0xF9] + Array(repeating: 0, count: 8)
        var message = raw
        message[4] = UInt8(raw.count)
        let oddSymbol = try SlicedReply(bytes: message)
        let decodedID = try ReplyAssembly.decodePayload(oddSymbol.bytes[oddSymbol.id])
        #expect(oddSymbol.hasID(decodedID))
        // The same id leaves the reply as it was.
        var sameID: [UInt8] = []
        QIPC.encodePayload(.atom(.symbol("x")), into: &sameID)
        #expect(sliced.replacingID(with: sameID).bytes == sliced.bytes)
    }

    @Test func repliesOfTheWrongLengthAreRefused() {
        #expect(throws: ProtocolError.self) { try SlicedReply(bytes: QIPC.encode(.list([.atom(.long(1))]))) }
        #expect(throws: ProtocolError.self) { try SlicedReply(bytes: QIPC.encode(.atom(.long(1)))) }
        #expect(throws: ProtocolError.self) { try SlicedReply(bytes: [0xff, 0, 0]) }
        do {
            _ = try SlicedReply(bytes: QIPC.encode(.list([.atom(.long(1)), .atom(.long(2)), .identity, .identity])))
            Issue.record("a reply of four items was accepted")
        } catch {
            #expect(error.code == .unexpectedShape)
        }
    }

    @Test func aBigEndianReplyIsReassembledIntact() throws {
        // (7; 14) written big-endian: type 0, attr, count 2; two -7 longs.
        let payload: [UInt8] =
            [0, 0, 0, 0, 0, 2] + [0xf9, 0, 0, 0, 0, 0, 0, 0, 7] + [0xf9, 0, 0, 0, 0, 0, 0, 0, 14]
        let bytes: [UInt8] = [0, 2, 0, 0, 0, 0, 0, UInt8(8 + payload.count)] + payload
        let sliced = try SlicedReply(bytes: bytes)
        let info = InfoDictionary.dictionary([("routing", .atom(.symbol("x")))])
        let clientReply = try QIPC.decode(ReplyAssembly.clientReply(sliced, info: info)).value
        #expect(clientReply == .list([.atom(.long(7)), .atom(.long(14)), info]))
    }
}

struct DirectInfoReplyTests {
    let timings = QueryTimings(received: 815_000_000_000_000_000, queued: 1_234, execution: 56_789, elapsed: 58_023)

    @Test(arguments: [("IBM", "127.0.0.1:5001"), ("", ""), ("a\u{0}b", "h"), (String(repeating: "long routing ", count: 20), "ü:1")])
    func theDirectReplyEqualsTheEncodedInfoDictionary(routing: String, servant: String) throws {
        let result = QValue.table(
            QTable(columns: ["a"], values: [.vector(.long([1, 2, 3]))]))
        let sliced = try SlicedReply(bytes: QIPC.encode(.list([.atom(.long(42)), result])))
        let reply = ReplyAssembly.clientReply(sliced, routing: routing, servant: servant, timings: timings)
        #expect(reply.failure == nil)
        let direct = reply.bytes
        let viaValue = ReplyAssembly.clientReply(
            sliced, info: InfoDictionary.make(routing: routing, servant: servant, timings: timings))
        #expect(direct == viaValue)
        let decoded = try QIPC.decode(direct).value
        guard case .list(let items, _) = decoded, items.count == 3 else {
            Issue.record("not a three-item list: \(decoded)")
            return
        }
        #expect(items[0] == .atom(.long(42)))
        #expect(items[1] == result)
        let entries = try #require(InfoDictionary.symbolKeyedEntries(items[2]))
        #expect(entries.map(\.0) == InfoDictionary.brokerKeys)
        #expect(entries[0].1 == .atom(.symbol(routing.replacingOccurrences(of: "\u{0}", with: ""))))
        #expect(entries[3].1 == .atom(.timespan(56_789)))
        #expect(entries[5].1 == .atom(.timestamp(815_000_000_000_000_000)))
    }

    @Test func aServantsOwnInfoIsStillMerged() throws {
        let servantInfo = InfoDictionary.dictionary([("rows", .atom(.long(5))), ("elapsed", .atom(.long(1)))])
        let sliced = try SlicedReply(bytes: QIPC.encode(.list([.atom(.long(1)), .atom(.long(2)), servantInfo])))
        let direct = ReplyAssembly.clientReply(sliced, routing: "IBM", servant: "s:1", timings: timings).bytes
        let expected = ReplyAssembly.clientReply(
            sliced,
            info: InfoDictionary.make(routing: "IBM", servant: "s:1", timings: timings, servantInfo: servantInfo))
        #expect(direct == expected)
        let info = try QIPC.decode(direct).value
        guard case .list(let items, _) = info else { Issue.record("not a list"); return }
        let keys = try #require(InfoDictionary.symbolKeyedEntries(items[2])).map(\.0)
        #expect(keys.contains("rows") && keys.contains("brokerElapsed"))
    }
}
