import MServeProtocol
import QData
import Testing

@testable import MServeBroker

/// How the broker writes queries for q servants and reads their replies.
struct KdbServantLinksTests {
    @Test func kdbEndpointsAreRecognisedAndParsed() throws {
        #expect(KdbServantLinks.isKdbEndpoint("kdb://127.0.0.1:5001"))
        #expect(!KdbServantLinks.isKdbEndpoint("tcp://127.0.0.1:5001"))
        let (host, port) = try KdbServantLinks.hostAndPort(of: "kdb://q-host:5001")
        #expect(host == "q-host")
        #expect(port == 5001)
        #expect(throws: BrokerError.self) { try KdbServantLinks.hostAndPort(of: "kdb://q-host") }
        #expect(throws: BrokerError.self) { try KdbServantLinks.hostAndPort(of: "kdb://:5001") }
        #expect(throws: BrokerError.self) { try KdbServantLinks.hostAndPort(of: "kdb://q-host:99999") }
    }

    @Test func theQueryGoesOutWithTheBrokersTagInTheIDsPlace() throws {
        let query = QValue.list([.atom(.symbol("proc1")), .atom(.symbol("IBM"))])
        let client = ClientQuery(id: .vector(.char(Array("mine".utf8))), query: query).encoded()
        let message = try KdbServantLinks.servantMessage(tag: 42, clientMessage: client)
        #expect(message[1] == QMessageType.async.rawValue)
        // The symbol argument quoted: in a q parse tree a bare symbol names a variable.
        #expect(
            try QIPC.decode(message).value
                == .list([.atom(.long(42)), .list([.atom(.symbol("proc1")), .vector(.symbol(["IBM"]))])]))
    }

    @Test func aTextQueryGoesAsTheParseTreeTheBrokerChecked() throws {
        func sent(_ text: String) throws -> QValue {
            let client = ClientQuery(id: .atom(.long(1)), query: .vector(.char(Array(text.utf8)))).encoded()
            guard case .list(let items, _) = try QIPC.decode(KdbServantLinks.servantMessage(tag: 7, clientMessage: client)).value,
                items.count == 2
            else { return .identity }
            return items[1]
        }
        #expect(
            try sent("proc1[`IBM;2024.01.02;10]")
                == .list([.atom(.symbol("proc1")), .vector(.symbol(["IBM"])), .atom(.date(8_767)), .atom(.long(10))]))
        #expect(
            try sent("proc1 `A`B")
                == .list([.atom(.symbol("proc1")), .list([.vector(.symbol(["A", "B"]))])]))
        #expect(try sent("proc1 \"IBM\"") == .list([.atom(.symbol("proc1")), .vector(.char(Array("IBM".utf8)))]))
        #expect(try sent("status[]") == .list([.atom(.symbol("status")), .identity]))
    }

    @Test func aBigEndianClientsQueryGoesOutIntact() throws {
        // (5; (`f;`x)) written big-endian: type 0, attr, count 2; a -7 long; a general list of
        // two symbols.
        let payload: [UInt8] =
            [0, 0, 0, 0, 0, 2] + [0xf9, 0, 0, 0, 0, 0, 0, 0, 5] + [0, 0, 0, 0, 0, 2, 0xf5, 0x66, 0, 0xf5, 0x78, 0]
        let client: [UInt8] = [0, 0, 0, 0, 0, 0, 0, UInt8(8 + payload.count)] + payload
        let message = try KdbServantLinks.servantMessage(tag: 42, clientMessage: client)
        #expect(
            try QIPC.decode(message).value
                == .list([.atom(.long(42)), .list([.atom(.symbol("f")), .vector(.symbol(["x"]))])]))
    }

    @Test func aGeneralListReplyGivesItsTag() throws {
        let reply = QIPC.encode(.list([.atom(.long(7)), .vector(.symbol(["IBM"])), .atom(.long(1))]))
        let (tag, message) = try KdbServantLinks.reply(from: reply, maximumSize: .max)
        #expect(tag == 7)
        #expect(message == reply)
    }

    @Test func aLongVectorReplyIsRebuiltAsAList() throws {
        let (tag, message) = try KdbServantLinks.reply(from: QIPC.encode(.vector(.long([9, 9_800]))), maximumSize: .max)
        #expect(tag == 9)
        #expect(try QIPC.decode(message).value == .list([.atom(.long(9)), .atom(.long(9_800))]))
    }

    @Test func repliesOfOtherShapesAreRefused() {
        #expect(throws: ProtocolError.self) { try KdbServantLinks.reply(from: QIPC.encode(.atom(.long(1))), maximumSize: .max) }
        #expect(throws: ProtocolError.self) {
            try KdbServantLinks.reply(from: QIPC.encode(.vector(.long([1, 2, 3]))), maximumSize: .max)
        }
        #expect(throws: ProtocolError.self) {
            try KdbServantLinks.reply(from: QIPC.encode(.list([.atom(.symbol("x")), .atom(.long(1))])), maximumSize: .max)
        }
        #expect(throws: ProtocolError.self) { try KdbServantLinks.reply(from: [1, 0, 0, 0, 9, 0, 0], maximumSize: .max) }
    }
}
