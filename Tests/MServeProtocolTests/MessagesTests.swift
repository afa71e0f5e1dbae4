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

    @Test func repliesOfTheWrongLengthAreRefused() {
        #expect(throws: ProtocolError.self) { try SlicedReply(bytes: QIPC.encode(.list([.atom(.long(1))]))) }
        #expect(throws: ProtocolError.self) { try SlicedReply(bytes: QIPC.encode(.atom(.long(1)))) }
        #expect(throws: ProtocolError.self) { try SlicedReply(bytes: [0xff, 0, 0]) }
    }

    @Test func errorRepliesCarryIdErrorAndInfo() throws {
        let info = InfoDictionary.dictionary([("routing", .atom(.symbol("")))])
        let bytes = ReplyAssembly.errorReply(id: .identity, message: "mserve: no", info: info)
        #expect(try QIPC.decode(bytes).value == .list([.identity, .error("mserve: no"), info]))
    }
}
