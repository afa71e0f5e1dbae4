import MServeProtocol
import QData
import Testing

@testable import MServeBroker

/// How the door turns what a kdb+ client sends into a query and a reply form.
struct KdbDoorTests {
    func form(_ query: KdbDoorQuery?) -> KdbReplyForm? {
        guard case .kdb(_, let form)? = query?.route else { return nil }
        return form
    }

    @Test func asyncIdAndQueryGoesAsItIs() throws {
        let message = ClientQuery(id: .atom(.long(1234)), query: .vector(.char(Array("proc1 `IBM".utf8)))).encoded()
        let query = KdbDoor.query(from: message, connection: 1, maximumSize: .max)
        #expect(form(query) == .async)
        #expect(query?.message == message)
    }

    /// `(id; query)` is recognised in its bytes and goes on as it came, neither decoded nor
    /// written again: a boolean written as 2, which decoding and encoding would make 1, stays.
    @Test func idAndQueryIsNotDecodedAndWrittenAgain() throws {
        let query = ClientQuery(id: .atom(.boolean(true)), query: .list([.atom(.symbol("echo")), .vector(.long(Array(0..<100_000)))]))
        for type in [QMessageType.async, .sync] {
            var message = QIPC.encode(.list([query.id, query.query]), messageType: type)
            #expect(message[14] == 0xFF && message[15] == 1)
            message[15] = 2
            let door = KdbDoor.query(from: message, connection: 1, maximumSize: .max)
            #expect(form(door) == (type == .async ? .async : .syncList))
            #expect(door?.message == message)
        }
    }

    /// `(id; (`echo; x))` with `x` an enumeration, which makes the message malformed, as a
    /// `messageType` message; `id` is the id item's bytes (a long 7 by default).
    static func idAndMalformedQuery(id: [UInt8] = [0xF9, 7, 0, 0, 0, 0, 0, 0, 0], messageType: QMessageType) -> [UInt8] {
        var bytes: [UInt8] = [1, messageType.rawValue, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0] + id
        bytes += [0, 0, 2, 0, 0, 0, 0xF5] + Array("echo".utf8) + [0, 0xEC, 1, 0, 0, 0]
        QIPC.patchLength(&bytes)
        return bytes
    }

    /// A sync `(id; query)` whose query is malformed still has the shape of one: its failure
    /// is answered as `(id; "error text"; info)`, as docs/KDB.md says of every sync `(id;
    /// query)`, not as a bare q error; a malformed sync message of no such shape stays bare.
    @Test func aSyncIdAndQueryWithAMalformedQueryIsAnsweredWithTheWholeReply() throws {
        let message = Self.idAndMalformedQuery(messageType: .sync)
        #expect(throws: (any Error).self) { try QIPC.decode(message) }
        let query = KdbDoor.query(from: message, connection: 1, maximumSize: .max)
        #expect(form(query) == .syncList)
        #expect(query?.message == message)
        // A symbol first makes a call in a sync message: bare, as before.
        let call = Self.idAndMalformedQuery(id: [0xF5] + Array("f".utf8) + [0], messageType: .sync)
        #expect(form(KdbDoor.query(from: call, connection: 1, maximumSize: .max)) == .syncBare)
        // So is a message whose first item is no id (an enumeration).
        let noID = Self.idAndMalformedQuery(id: [0xEC, 1, 0, 0, 0], messageType: .sync)
        #expect(form(KdbDoor.query(from: noID, connection: 1, maximumSize: .max)) == .syncBare)
    }

    @Test func syncIdAndQueryIsAnsweredWithTheWholeReply() throws {
        let value = QValue.list([.atom(.long(7)), .vector(.char(Array("proc1 `IBM".utf8)))])
        let query = KdbDoor.query(from: QIPC.encode(value, messageType: .sync), connection: 1, maximumSize: .max)
        #expect(form(query) == .syncList)
        #expect(try ClientQuery(bytes: query?.message ?? []).id == .atom(.long(7)))
    }

    @Test func aSyncStringIsABareQuery() throws {
        let text = QValue.vector(.char(Array("proc1 `IBM".utf8)))
        let query = KdbDoor.query(from: QIPC.encode(text, messageType: .sync), connection: 1, maximumSize: .max)
        #expect(form(query) == .syncBare)
        let parsed = try ClientQuery(bytes: query?.message ?? [])
        #expect(parsed.id == .identity)
        #expect(parsed.query == text)
    }

    @Test func aStringFunctionNameBecomesASymbol() throws {
        let value = QValue.list([.vector(.char(Array("proc1".utf8))), .atom(.symbol("IBM"))])
        let query = KdbDoor.query(from: QIPC.encode(value, messageType: .async), connection: 1, maximumSize: .max)
        #expect(form(query) == .async)
        let parsed = try ClientQuery(bytes: query?.message ?? [])
        #expect(parsed.query == .list([.atom(.symbol("proc1")), .atom(.symbol("IBM"))]))
    }

    /// A sync message is read as q reads it: a symbol or a string first makes a call, so
    /// `h(`f;"text")` and pykx's `conn('f', kx.CharVector("text"))` call `f` with the string.
    @Test(arguments: [
        QValue.atom(.symbol("echo")), .string("echo"),
    ])
    func aSyncCallWithOneStringOrListArgumentIsACall(function: QValue) throws {
        for argument in [QValue.string("proc1 `IBM"), .list([.atom(.long(1)), .atom(.symbol("a"))])] {
            let value = QValue.list([function, argument])
            let query = KdbDoor.query(from: QIPC.encode(value, messageType: .sync), connection: 1, maximumSize: .max)
            #expect(form(query) == .syncBare, "\(value)")
            let parsed = try ClientQuery(bytes: query?.message ?? [])
            #expect(parsed.id == .identity)
            #expect(parsed.query == .list([.atom(.symbol("echo")), argument]))
        }
    }

    @Test func syncIDAndQueryOnlyWhereQHasNoOtherReading() throws {
        for id in [QValue.atom(.long(7)), .atom(.int(7)), .vector(.long([1, 2])), .identity] {
            let value = QValue.list([id, .string("proc1 `IBM")])
            let query = KdbDoor.query(from: QIPC.encode(value, messageType: .sync), connection: 1, maximumSize: .max)
            #expect(form(query) == .syncList, "\(id)")
            #expect(try ClientQuery(bytes: query?.message ?? []).id == id)
        }
    }

    @Test func asyncTwoItemListsAreIDAndQueryWhateverTheID() throws {
        // kola sends (id; query) with a string id; the mserve protocol is async.
        for id in [QValue.string("q1"), .atom(.symbol("q1")), .atom(.long(1))] {
            let value = QValue.list([id, .string("proc1 `IBM")])
            let query = KdbDoor.query(from: QIPC.encode(value, messageType: .async), connection: 1, maximumSize: .max)
            #expect(form(query) == .async)
            #expect(try ClientQuery(bytes: query?.message ?? []).id == id)
        }
    }

    /// `(id; query; options)` is the mserve form with per-query options, sync and async: the
    /// options reach the broker, which checks them.
    @Test func idQueryAndOptionsAreIDAndQueryWithOptions() throws {
        let options = QValue.dictionary(keys: .vector(.symbol(["deadline"])), values: .vector(.timespan([5_000_000_000])))
        for (messageType, expected) in [(QMessageType.sync, KdbReplyForm.syncList), (.async, .async)] {
            let value = QValue.list([.atom(.long(7)), .string("proc1 `IBM"), options])
            let query = KdbDoor.query(from: QIPC.encode(value, messageType: messageType), connection: 1, maximumSize: .max)
            #expect(form(query) == expected)
            let parsed = try ClientQuery(bytes: query?.message ?? [], acceptingOptions: true)
            #expect(parsed.id == .atom(.long(7)))
            #expect(parsed.query == .string("proc1 `IBM"))
            #expect(parsed.options == options)
        }
        // A symbol first is still a call in a sync message, and with a third item that is
        // not a dictionary, in an async one too.
        let call = QValue.list([.atom(.symbol("f")), .string("x"), options])
        #expect(form(KdbDoor.query(from: QIPC.encode(call, messageType: .sync), connection: 1, maximumSize: .max)) == .syncBare)
        let callOfThree = QValue.list([.atom(.symbol("f")), .string("x"), .atom(.long(1))])
        let bare = KdbDoor.query(from: QIPC.encode(callOfThree, messageType: .async), connection: 1, maximumSize: .max)
        #expect(form(bare) == .async)
        #expect(try ClientQuery(bytes: bare?.message ?? []).id == .identity)
    }

    /// A list of two or three items whose first cannot name a function (neither a symbol, a
    /// string nor a function) has no reading as a call, in q or here: it is `(id; query)` or
    /// `(id; query; options)` whatever its other items, sync or async, so that what is wrong
    /// with it (options that are no dictionary, a query that is a long) is refused with the
    /// client's id, as over ZeroMQ, rather than as a call of "item 0 is a long atom" with
    /// the id lost.
    @Test func aListThatCannotBeACallKeepsItsID() throws {
        let messages: [QValue] = [
            .list([.atom(.long(42)), .string("proc1 `IBM"), .identity]),
            .list([.atom(.long(42)), .string("proc1 `IBM"), .atom(.long(1))]),
            .list([.atom(.long(42)), .atom(.symbol("pid"))]),
            .list([.atom(.long(42)), .atom(.long(5))]),
            .list([.identity, .atom(.symbol("pid"))]),
        ]
        for value in messages {
            for (messageType, expected) in [(QMessageType.sync, KdbReplyForm.syncList), (.async, .async)] {
                let query = KdbDoor.query(from: QIPC.encode(value, messageType: messageType), connection: 1, maximumSize: .max)
                #expect(form(query) == expected, "\(value)")
                guard case .list(let items, _) = try QIPC.decode(query?.message ?? []).value else {
                    Issue.record("not a list: \(value)")
                    continue
                }
                guard case .list(let sent, _) = value else { continue }
                #expect(items == sent, "the message goes on as it came: \(value)")
            }
        }
        // The same read from a malformed message's shape: a long first, then anything.
        let malformed = Self.idAndMalformedQuery(messageType: .sync)
        #expect(form(KdbDoor.query(from: malformed, connection: 1, maximumSize: .max)) == .syncList)
    }

    /// q sends ``h(`proc1;`IBM)`` as the symbol vector `` `proc1`IBM ``, and a q process reads
    /// it as the call `proc1[`IBM]`: so does the door, bare or as the query of `(id; query)`,
    /// and it goes on as the general list `` (`proc1;`IBM) ``, which every servant reads.
    @Test func aSymbolVectorIsTheCallQMeansByIt() throws {
        let symbols = QValue.vector(.symbol(["proc1", "IBM"]))
        let call = QValue.list([.atom(.symbol("proc1")), .atom(.symbol("IBM"))])
        for (messageType, expected) in [(QMessageType.sync, KdbReplyForm.syncBare), (.async, .async)] {
            let query = KdbDoor.query(from: QIPC.encode(symbols, messageType: messageType), connection: 1, maximumSize: .max)
            #expect(form(query) == expected)
            let parsed = try ClientQuery(bytes: query?.message ?? [])
            #expect(parsed.id == .identity)
            #expect(parsed.query == call)
        }
        for (messageType, expected) in [(QMessageType.sync, KdbReplyForm.syncList), (.async, .async)] {
            let value = QValue.list([.atom(.long(7)), symbols])
            let query = KdbDoor.query(from: QIPC.encode(value, messageType: messageType), connection: 1, maximumSize: .max)
            #expect(form(query) == expected)
            let parsed = try ClientQuery(bytes: query?.message ?? [])
            #expect(parsed.id == .atom(.long(7)))
            #expect(parsed.query == call)
        }
        // One symbol: a call without arguments. A symbol first item keeps its reading as a
        // call with a symbol vector argument, `f[`a`b]`.
        let one = KdbDoor.query(from: QIPC.encode(.vector(.symbol(["pid"])), messageType: .sync), connection: 1, maximumSize: .max)
        #expect(try ClientQuery(bytes: one?.message ?? []).query == .list([.atom(.symbol("pid"))]))
        let withVector = QValue.list([.atom(.symbol("f")), .vector(.symbol(["a", "b"]))])
        for messageType in [QMessageType.sync, .async] {
            let query = KdbDoor.query(from: QIPC.encode(withVector, messageType: messageType), connection: 1, maximumSize: .max)
            let parsed = try ClientQuery(bytes: query?.message ?? [])
            #expect(parsed.id == .identity)
            #expect(parsed.query == withVector)
        }
    }

    @Test func responseMessagesAreIgnored() {
        #expect(KdbDoor.query(from: QIPC.encode(.atom(.long(1)), messageType: .response), connection: 1, maximumSize: .max) == nil)
    }

    @Test func framingRefusesForgedAndOversizedHeaders() throws {
        var stream = KdbStream(descriptor: -1, maxMessageSize: 100, maxBufferedOutput: 10)
        #expect(try stream.nextMessage() == nil)
        var forged = KdbStream(descriptor: -1, maxMessageSize: 100, maxBufferedOutput: 10)
        forged.appendInputForTesting([1, 1, 0, 0, 3, 0, 0, 0])
        #expect(throws: KdbStream.Failure.self) { try forged.nextMessage() }
        var large = KdbStream(descriptor: -1, maxMessageSize: 100, maxBufferedOutput: 10)
        large.appendInputForTesting([1, 1, 0, 0, 0, 0, 0x40, 6])
        #expect(throws: KdbStream.Failure.self) { try large.nextMessage() }
        var whole = KdbStream(descriptor: -1, maxMessageSize: 100, maxBufferedOutput: 10)
        let message = QIPC.encode(.atom(.long(5)), messageType: .sync)
        whole.appendInputForTesting(Array(message.prefix(5)))
        #expect(try whole.nextMessage() == nil)
        whole.appendInputForTesting(Array(message.dropFirst(5)) + message)
        #expect(try whole.nextMessage() == message)
        #expect(try whole.nextMessage() == message)
        #expect(try whole.nextMessage() == nil)
    }
}
