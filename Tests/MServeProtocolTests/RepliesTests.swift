import MServeProtocol
import QData
import Testing

/// The one reply builder: a failure is `(id; "text"; info)` with the text under info's
/// `error` key, never a q error inside a list; results keep their bytes.
struct RepliesTests {
    let timings = QueryTimings(received: 815_000_000_000_000_000, queued: 0, execution: 0, elapsed: 58_023)

    /// No q error (type −128) anywhere inside a value: what q, pykx, qpython and kola need.
    func holdsNoQError(_ value: QValue) -> Bool {
        switch value {
        case .error: false
        case .list(let items, _): items.allSatisfy(holdsNoQError)
        case .dictionary(let keys, let values, _): holdsNoQError(keys) && holdsNoQError(values)
        default: true
        }
    }

    @Test func aServantsFailureHasTheDocumentedBytes() throws {
        // docs/PROTOCOL.md, "A failed query": (7; "nope"; (enlist`error)!enlist "nope").
        let bytes = ReplyAssembly.servantFailure(id: .atom(.long(7)), message: "nope")
        let documented: [UInt8] =
            [0x01, 0x00, 0x00, 0x00, 0x3e, 0x00, 0x00, 0x00]
            + [0x00, 0x00, 0x03, 0x00, 0x00, 0x00]
            + [0xf9, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
            + [0x0a, 0x00, 0x04, 0x00, 0x00, 0x00, 0x6e, 0x6f, 0x70, 0x65]
            + [0x63]
            + [0x0b, 0x00, 0x01, 0x00, 0x00, 0x00, 0x65, 0x72, 0x72, 0x6f, 0x72, 0x00]
            + [0x00, 0x00, 0x01, 0x00, 0x00, 0x00]
            + [0x0a, 0x00, 0x04, 0x00, 0x00, 0x00, 0x6e, 0x6f, 0x70, 0x65]
        #expect(bytes == documented)
        let sliced = try SlicedReply(bytes: bytes)
        #expect(sliced.reportsFailure)
        #expect(!sliced.resultIsError)
    }

    @Test func theBrokersFailureCarriesTheTextTwiceAndTheInfoInOrder() throws {
        let reply = ReplyAssembly.failure(
            id: .atom(.long(9)), message: ReplyAssembly.mserveError("queue full"), routing: "IBM", servant: "",
            timings: timings)
        #expect(reply.failure == "mserve: queue full")
        let value = try QIPC.decode(reply.bytes).value
        #expect(holdsNoQError(value))
        guard case .list(let items, _) = value, items.count == 3 else {
            Issue.record("not (id; result; info): \(value)")
            return
        }
        #expect(items[0] == .atom(.long(9)))
        #expect(items[1] == .string("mserve: queue full"))
        let entries = try #require(InfoDictionary.symbolKeyedEntries(items[2]))
        #expect(entries.map(\.0) == InfoDictionary.brokerKeys + ["error"])
        #expect(entries.last?.1 == .string("mserve: queue full"))
        #expect(ReplyAssembly.failure(result: items[1], info: items[2]) == "mserve: queue full")
        #expect(try SlicedReply(bytes: reply.bytes).reportsFailure)
    }

    @Test func aResultReportsNoFailureEvenWhenItIsAString() throws {
        let reply = ReplyAssembly.result(
            id: .atom(.long(1)), result: .string("mserve: looks like an error"),
            info: InfoDictionary.make(routing: "", servant: "", timings: timings))
        #expect(reply.failure == nil)
        let sliced = try SlicedReply(bytes: reply.bytes)
        #expect(!sliced.reportsFailure)
        guard case .list(let items, _) = try QIPC.decode(reply.bytes).value else { return }
        #expect(ReplyAssembly.failure(result: items[1], info: items[2]) == nil)
    }

    @Test func aServantsFailureKeepsItsShapeAndGainsTheBrokersInfo() throws {
        let servantReply = ReplyAssembly.servantFailure(id: .atom(.long(3)), message: "unknown function nope")
        let reply = ReplyAssembly.clientReply(
            try SlicedReply(bytes: servantReply), routing: "IBM", servant: "h:1", timings: timings)
        #expect(reply.failure == "unknown function nope")
        let value = try QIPC.decode(reply.bytes).value
        guard case .list(let items, _) = value, items.count == 3 else {
            Issue.record("not (id; result; info): \(value)")
            return
        }
        #expect(items[1] == .string("unknown function nope"))
        let keys = try #require(InfoDictionary.symbolKeyedEntries(items[2])).map(\.0)
        #expect(keys == InfoDictionary.brokerKeys + ["error"])
    }

    @Test func aQErrorFromAnOlderServantBecomesTheFailureShape() throws {
        // An older servant, or a q servant, puts a q error in the result's place.
        let servantInfo = InfoDictionary.dictionary([("rows", .atom(.long(0)))])
        for legacy in [
            QIPC.encode(.list([.atom(.long(4)), .error("type")])),
            QIPC.encode(.list([.atom(.long(4)), .error("type"), servantInfo])),
        ] {
            let reply = ReplyAssembly.clientReply(
                try SlicedReply(bytes: legacy), routing: "IBM", servant: "h:1", timings: timings)
            #expect(reply.failure == "type")
            let value = try QIPC.decode(reply.bytes).value
            #expect(holdsNoQError(value))
            guard case .list(let items, _) = value, items.count == 3 else {
                Issue.record("not (id; result; info): \(value)")
                continue
            }
            #expect(items[0] == .atom(.long(4)))
            #expect(items[1] == .string("type"))
            #expect(InfoDictionary.failure(in: items[2]) == "type")
        }
    }

    @Test func theServantsInfoWithAnErrorKeyPutsItLast() {
        let servantInfo = InfoDictionary.dictionary([("error", .string("boom")), ("rows", .atom(.long(1)))])
        let info = InfoDictionary.make(
            routing: "x", servant: "", timings: timings, servantInfo: servantInfo, error: "boom")
        let keys = InfoDictionary.symbolKeyedEntries(info)?.map(\.0)
        #expect(keys == ["rows"] + InfoDictionary.brokerKeys + ["error"])
    }

    @Test func theDoorsFormsOfAResultAndOfAFailure() throws {
        let info = InfoDictionary.make(routing: "", servant: "", timings: timings)
        let result = ReplyAssembly.result(id: .atom(.long(1)), result: .atom(.long(42)), info: info)
        #expect(ReplyAssembly.kdbMessage(result, form: .async) == result.bytes)
        let list = ReplyAssembly.kdbMessage(result, form: .syncList)
        #expect(list[1] == QMessageType.response.rawValue)
        #expect(Array(list[2...]) == Array(result.bytes[2...]))
        #expect(ReplyAssembly.kdbMessage(result, form: .syncBare) == QIPC.encode(.atom(.long(42)), messageType: .response))

        let failure = ReplyAssembly.failure(
            id: .atom(.long(1)), message: "mserve: no", routing: "", servant: "", timings: timings)
        // A sync bare query fails as q's h"…" expects: a q error response.
        #expect(ReplyAssembly.kdbMessage(failure, form: .syncBare) == QIPC.encode(.error("mserve: no"), messageType: .response))
        // The list forms carry the failure shape.
        let failedList = try QIPC.decode(ReplyAssembly.kdbMessage(failure, form: .syncList))
        #expect(failedList.header.messageType == .response)
        #expect(holdsNoQError(failedList.value))
        #expect(ReplyAssembly.kdbMessage(failure, form: .async) == failure.bytes)
    }
}
