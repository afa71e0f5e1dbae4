import MServeProtocol
import QData
import Testing
import MServeTestScheduling

/// ``ClientQueryLayout`` reads in place what ``ClientQuery`` decodes, and refuses what it refuses.
struct ClientQueryLayoutTests {
    private static let seeds: [QValue] = [
        .list([.atom(.long(7)), .string("proc1 `IBM")]),
        .list([.atom(.long(8)), .list([.atom(.symbol("echo")), .vector(.long(Array(0..<50))), .string("x")])]),
        .list([.string("id"), .atom(.symbol("f")), .dictionary(["deadline": .atom(.long(1_000))])]),
        .list([.atom(.long(1)), .list([.atom(.symbol("f")), .dictionary(keys: .vector(.symbol(["a"])), values: .list([.atom(.long(1))]), sorted: false)])]),
    ]

    /// (9; "f 1") written big-endian, as a big-endian host sends it.
    private static let bigEndian: [UInt8] =
        [0, 0, 0, 0, 0, 0, 0, 32] + [0, 0, 0, 0, 0, 2] + [0xF9, 0, 0, 0, 0, 0, 0, 0, 9]
        + [10, 0, 0, 0, 0, 3] + Array("f 1".utf8)

    private func outcome(_ bytes: [UInt8]) -> String {
        do {
            let query = try ClientQuery(bytes: bytes, maximumSize: 1 << 20, acceptingOptions: true)
            return "id \(query.id) query \(QIPC.encode(query.query)) options \(query.options.map { "\($0)" } ?? "-")"
        } catch {
            return "error \(error.code): \(error.message)"
        }
    }

    private func layoutOutcome(_ bytes: [UInt8]) -> String {
        do {
            let layout = try ClientQueryLayout(reading: bytes.span, maximumSize: 1 << 20, acceptingOptions: true)
            let plain = layout.rewritten ?? bytes
            var message: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0] + plain[layout.query]
            QIPC.patchLength(&message)
            let query = try QIPC.decode(message).value
            return "id \(layout.id) query \(QIPC.encode(query)) options \(layout.options.map { "\($0)" } ?? "-")"
        } catch let error as ProtocolError {
            return "error \(error.code): \(error.message)"
        } catch {
            return "undecodable query \(error)"
        }
    }

    @Test func readsWhatDecodingReads() throws {
        for seed in Self.seeds {
            let bytes = QIPC.encode(seed)
            #expect(layoutOutcome(bytes) == outcome(bytes))
            let layout = try ClientQueryLayout(reading: bytes.span, acceptingOptions: true)
            #expect(layout.rewritten == nil)
            if layout.options != nil {
                // Without options: the first two items' bytes after a head of their own.
                let plain = layout.headWithoutOptions + bytes[layout.idItem] + bytes[layout.query]
                #expect(plain == ClientQuery.withoutOptions(bytes))
            }
        }
    }

    /// An id that is or holds a q error is refused, read in place or decoded: it would come
    /// back inside the reply list, where q, pykx, qpython and kola read no error.
    @Test(arguments: [
        QValue.error("boom"), .list([.atom(.long(1)), .error("x")]),
        .dictionary(keys: .vector(.symbol(["a"])), values: .list([.error("x")]), sorted: false),
    ])
    func anIdHoldingAQErrorIsRefused(id: QValue) throws {
        let bytes = QIPC.encode(.list([id, .string("echo 1")]), messageType: .async)
        #expect(layoutOutcome(bytes).hasPrefix("error unexpectedShape: "))
        #expect(layoutOutcome(bytes) == outcome(bytes))
        #expect(throws: ProtocolError.self) { try ClientQueryLayout(reading: bytes.span, acceptingOptions: true) }
    }

    /// A parse form carrying a value no q process can hold — a table whose columns differ in
    /// length, a dictionary of three keys and one value — is malformed, read in place (as the
    /// broker and a servant read every query) or decoded: no function is handed it.
    @Test(arguments: [
        (
            QValue.table(QTable(columns: ["a", "b"], values: [.vector(.long([1, 2, 3])), .vector(.float([1.5, 2.5]))])),
            "the table at offset 32: its columns differ in length (`a` has 3 items, `b` 2)"
        ),
        (
            .dictionary(keys: .vector(.symbol(["a", "b", "c"])), values: .list([.atom(.long(1))])),
            "the dictionary at offset 32: its keys and values differ in count (3 and 1)"
        ),
    ] as [(QValue, String)])
    func anArgumentNoQProcessCanHoldIsMalformed(argument: QValue, reason: String) {
        let bytes = QIPC.encode(.list([.atom(.long(1)), .list([.atom(.symbol("f")), argument])]))
        let inPlace = #expect(throws: ProtocolError.self) { try ClientQueryLayout(reading: bytes.span, acceptingOptions: true) }
        #expect(inPlace?.code == .malformed)
        #expect(inPlace?.message == "malformed message: \(reason)")
        #expect(layoutOutcome(bytes) == outcome(bytes))
    }

    /// The id of a message that is not a valid `(id; query)` is read when its first item is
    /// one, and only then.
    @Test func theIDOfAMalformedMessageIsReadWhenItIsOne() throws {
        let valid = QIPC.encode(.list([.atom(.long(7)), .string("echo 1")]), messageType: .async)
        var truncated = Array(valid.dropLast(2))
        QIPC.patchLength(&truncated)
        #expect(throws: ProtocolError.self) { try ClientQueryLayout(reading: truncated.span) }
        #expect(ClientQueryLayout.readableID(in: truncated.span) == .atom(.long(7)))
        let textID = QIPC.encode(.list([.string("q1"), .atom(.long(1)), .atom(.long(2)), .atom(.long(3))]), messageType: .async)
        #expect(ClientQueryLayout.readableID(in: textID.span) == nil, "four items: no (id; query)")
        let errorID = QIPC.encode(.list([.error("x"), .string("echo 1")]), messageType: .async)
        #expect(ClientQueryLayout.readableID(in: errorID.span) == nil)
        let atom = QIPC.encode(.atom(.long(7)), messageType: .async)
        #expect(ClientQueryLayout.readableID(in: atom.span) == nil)
        let compressed = try #require(
            QIPC.compress(QIPC.encode(.list([.atom(.long(7)), .vector(.long(Array(repeating: 0, count: 10_000)))]), messageType: .async)))
        #expect(compressed[2] == 1)
        // Compressed, and over the limit once decompressed: refused unread, its id read still.
        #expect(throws: ProtocolError.self) { try ClientQueryLayout(reading: compressed.span, maximumSize: 50_000) }
        #expect(ClientQueryLayout.readableID(in: compressed.span) == .atom(.long(7)))
    }

    /// A sync message of `body` after its header, as a kdb+ client sends it.
    private static func message(_ body: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [1, 1, 0, 0, 0, 0, 0, 0] + body
        QIPC.patchLength(&bytes)
        return bytes
    }

    /// Bytes that are no q value are malformed, whatever their first type byte: said so
    /// precisely, read in place or decoded, not refused as a value of the wrong shape; a
    /// well-formed value that is no list is of the wrong shape.
    @Test(arguments: [
        ([0xF5] + Array("pid".utf8), "a symbol at offset 9 has no NUL terminator"),
        ([10, 0, 9, 0, 0, 0] + Array("pid".utf8), "count 9 at offset 10 needs at least 9 bytes; 3 left"),
        ([10, 0, 0xFF, 0xFF, 0xFF, 0xFF] + Array("pid".utf8), "negative count -1 at offset 10"),
        ([0xF5] + Array("pid".utf8) + [0, 7], "1 bytes after the value at offset 13"),
    ] as [([UInt8], String)])
    func bytesThatAreNoValueAreMalformedWhateverTheirType(body: [UInt8], reason: String) {
        let bytes = Self.message(body)
        let inPlace = #expect(throws: ProtocolError.self) { try ClientQueryLayout(reading: bytes.span, acceptingOptions: true) }
        #expect(inPlace?.code == .malformed)
        #expect(inPlace?.message == "malformed message: \(reason)")
        let decoded = #expect(throws: ProtocolError.self) { try ClientQuery(bytes: bytes, acceptingOptions: true) }
        #expect(decoded?.code == .malformed)
        #expect(decoded?.message == "malformed message: \(reason)")
    }

    @Test func aTypeThatDoesNotExistIsMalformedAndAWellFormedAtomIsOfTheWrongShape() {
        let unknownType = Self.message([0x4D, 0, 1, 0, 0, 0] + Array("x".utf8))
        #expect(layoutOutcome(unknownType).hasPrefix("error malformed: "))
        #expect(layoutOutcome(unknownType) == outcome(unknownType))
        let symbol = Self.message([0xF5] + Array("pid".utf8) + [0])
        let shape = #expect(throws: ProtocolError.self) { try ClientQueryLayout(reading: symbol.span, acceptingOptions: true) }
        #expect(shape?.code == .unexpectedShape)
        #expect(
            shape?.message
                == "expected the general list (id; query) or (id; query; options): expected a general list (type 0), got type -11")
        #expect(outcome(symbol) == "error unexpectedShape: \(shape?.message ?? "?")")
    }

    @Test func compressedAndBigEndianMessagesAreRewritten() throws {
        let value = QValue.list([.atom(.long(9)), .list([.atom(.symbol("f")), .vector(.long(Array(repeating: 5, count: 4_000)))])])
        let compressed = try #require(QIPC.compress(QIPC.encode(value)))
        let layout = try ClientQueryLayout(reading: compressed.span, acceptingOptions: true)
        #expect(layout.rewritten == QIPC.encode(value))
        #expect(layoutOutcome(compressed) == outcome(compressed))
        let bigEndian = Self.bigEndian
        #expect(outcome(bigEndian).hasPrefix("id 9"))
        #expect(layoutOutcome(bigEndian) == outcome(bigEndian))
    }

    /// Damaged messages, little-endian and big-endian: refused by the in-place reading exactly
    /// when decoding refuses them, with the same error.
    @Test(.heavyComputation) func fuzzedMessagesAreRefusedAsDecodingRefusesThem() {
        var state: UInt64 = 0x1A70
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var refused = 0
        for round in 0..<20_000 {
            var bytes = round % 5 == 4 ? Self.bigEndian : QIPC.encode(Self.seeds[round % Self.seeds.count])
            for _ in 0..<(1 + next() % 3) {
                let index = Int(next() % UInt64(bytes.count))
                switch next() % 4 {
                case 0: bytes[index] = UInt8(truncatingIfNeeded: next())
                case 1: bytes[index] = [0, 0xFF, 0x80, 11, 245, 98, 99, 101, 3, 20][Int(next() % 10)]
                case 2: bytes.remove(at: index)
                default: bytes.insert(bytes[index], at: index)
                }
                if next() % 2 == 0, bytes.count >= 8 {
                    // The length, in the message's byte order.
                    let length = UInt32(bytes.count)
                    for index in 0..<4 {
                        bytes[bytes[0] == 0 ? 7 - index : 4 + index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index)))
                    }
                }
            }
            let expected = outcome(bytes)
            #expect(layoutOutcome(bytes) == expected, "\(bytes)")
            if expected.hasPrefix("error") { refused += 1 }
        }
        #expect(refused > 1_000 && refused < 19_000, "\(refused) refused")
    }
}
