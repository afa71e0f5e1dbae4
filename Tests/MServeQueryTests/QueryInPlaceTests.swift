import MServeQuery
import QData
import Testing
import MServeTestScheduling

/// ``QueryParser/check(queryIn:range:routing:decodingArgumentsUpTo:)`` against the decoding path
/// it replaces in the broker: `parse`, ``SecureInvocation``, ``RoutingSpec``.
@Suite("Query checked in place")
struct QueryInPlaceTests {
    /// What the broker made of a query before: the function and routing string, or the error.
    private func decodedOutcome(_ query: QValue, spec: RoutingSpec) -> String {
        do {
            let parsed = try QueryParser.parse(query)
            try SecureInvocation.validate(parsed)
            return "\(parsed.function) -> \(spec.routingString(for: parsed).value)"
        } catch {
            return "error \(error.code): \(error.message)"
        }
    }

    /// The same, read in place from `(0; query)` as the broker reads it now.
    private func inPlaceOutcome(
        _ query: QValue, spec: RoutingSpec, limit: Int = QueryParser.largestDecodedArgument
    ) -> (outcome: String, checked: CheckedQuery?) {
        let message = QIPC.encode(.list([.atom(.long(0)), query]))
        let itemEnd = message.count
        let itemStart = 14 + 9  // header, list head, the long id
        do {
            let checked = try QueryParser.check(
                queryIn: message.span, range: itemStart..<itemEnd, routing: spec, decodingArgumentsUpTo: limit)
            if let parsed = checked.parsed {
                try SecureInvocation.validate(parsed)
                #expect(parsed.function == checked.function)
                return ("\(parsed.function) -> \(spec.routingString(for: parsed).value)", checked)
            }
            return ("\(checked.function) -> \(checked.routing?.value ?? "nil")", checked)
        } catch {
            return ("error \(error.code): \(error.message)", nil)
        }
    }

    private static let specs = [
        RoutingSpec.default, try! RoutingSpec(parsing: "function,arg:2"), try! RoutingSpec(parsing: "arg:3"),
    ]

    /// Random parse forms, large arguments checked in place (limit 0: every argument is large),
    /// give what decoding gave: the same function, routing string, or refusal.
    @Test(.heavyComputation) func fuzzedParseFormsGiveWhatDecodingGave() {
        var generator = SplitMix64(seed: 0xC4EC)
        var refused = 0
        for round in 0..<3_000 {
            let query = randomQuery(&generator)
            let spec = Self.specs[round % Self.specs.count]
            let expected = decodedOutcome(query, spec: spec)
            #expect(inPlaceOutcome(query, spec: spec, limit: 0).outcome == expected, "\(query)")
            #expect(inPlaceOutcome(query, spec: spec).outcome == expected, "\(query)")
            if expected.hasPrefix("error") { refused += 1 }
        }
        // Both kinds were tried.
        #expect(refused > 100 && refused < 2_900, "\(refused) refused")
    }

    /// Boolean, byte and integer vectors over the size read in chunks are written straight
    /// from their bytes: their routing strings (shortened, hashed over the whole text) are
    /// those of decoding, nulls, infinities, extremes and a boolean byte of 2 included.
    @Test func largeIntegerVectorsRouteAsDecodingRoutesThem() {
        let count = 70_000
        func pick<T>(_ index: Int, _ specials: [T], _ other: (Int) -> T) -> T {
            index % 97 < specials.count ? specials[index % 97] : other(index)
        }
        let vectors: [QValue] = [
            .vector(.boolean((0..<count).map { $0 % 3 == 0 })),
            .vector(.byte((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) })),
            .vector(.short((0..<count).map { pick($0, [.min, .max, -.max, 0, -1], { Int16(truncatingIfNeeded: $0 &* 7919) }) })),
            .vector(.int((0..<count).map { pick($0, [.min, .max, -.max, 0, -1], { Int32(truncatingIfNeeded: $0 &* 104_729) }) })),
            .vector(.long((0..<count).map { pick($0, [.min, .max, -.max, 0, -1], { Int64($0) &* 1_000_003 &- 35_000_000_000 }) })),
        ]
        for vector in vectors {
            for query in [QValue.list([.atom(.symbol("echo")), vector]), .list([.atom(.symbol("echo")), .list([.atom(.long(1)), vector])])] {
                let expected = decodedOutcome(query, spec: .default)
                #expect(!expected.hasPrefix("error"), "\(expected.prefix(100))")
                #expect(inPlaceOutcome(query, spec: .default, limit: 0).outcome == expected, "\(vector.description.prefix(40))")
            }
        }
        // A boolean byte other than 0 or 1 reads as true, as decoding reads it.
        var message = QIPC.encode(.list([.atom(.long(0)), .list([.atom(.symbol("echo")), vectors[0]])]))
        let first = 14 + 9 + 6 + 6 + 6  // header and list, the id, the query list, `echo, the vector head
        #expect(message[first] == 1)
        message[first] = 2
        guard case .list(let items, _)? = try? QIPC.decode(message).value, items.count == 2 else {
            Issue.record("not (id; query)")
            return
        }
        let expected = decodedOutcome(items[1], spec: .default)
        let checked = try? QueryParser.check(queryIn: message.span, range: 23..<message.count, routing: .default, decodingArgumentsUpTo: 0)
        #expect("\(checked?.function ?? "") -> \(checked?.routing?.value ?? "nil")" == expected)
    }

    /// The texts, symbols and odd shapes a client may send: the same outcome as decoding.
    @Test func otherQueryShapesGiveWhatDecodingGave() {
        let queries: [QValue] = [
            .string("proc1 `IBM"), .string("value \"exit 0\""), .atom(.symbol("proc1")), .atom(.symbol("value")),
            .list([]), .list([.atom(.long(1)), .atom(.symbol("IBM"))]), .list([.atom(.symbol(""))]),
            .list([.atom(.symbol(".z.pw")), .atom(.long(1))]), .vector(.long([1, 2])),
            .list([.atom(.symbol("f")), .dictionary(keys: .vector(.symbol(["a"])), values: .vector(.long([1])), sorted: false)]),
            .list([.atom(.symbol("f")), .list([.atom(.symbol("g")), .atom(.long(1))])]),
        ]
        for query in queries {
            for limit in [0, QueryParser.largestDecodedArgument] {
                #expect(inPlaceOutcome(query, spec: .default, limit: limit).outcome == decodedOutcome(query, spec: .default), "\(query)")
            }
        }
    }

    /// An argument that is or holds a q error is refused, small or large, decoded or read in
    /// place: a function that echoes it would put it inside the reply list.
    @Test func anArgumentHoldingAQErrorIsRefused() throws {
        let large = QValue.vector(.long(Array(repeating: 1, count: 20_000)))
        // Deeper than the 64 levels of general lists a parse form may hold: dictionaries and
        // tables have no such limit, but the message's own (128; this error is 80 deep).
        var deep = QValue.error("boom")
        for level in 0..<60 {
            deep =
                level % 10 == 9
                ? .table(QTable(columns: ["c"], values: [.list([deep])]))
                : .dictionary(keys: .vector(.symbol(["a"])), values: deep, sorted: false)
        }
        let queries: [QValue] = [
            .list([.atom(.symbol("echo")), deep]),
            .list([.atom(.symbol("echo")), .error("boom")]),
            .list([.atom(.symbol("echo")), .list([.atom(.long(1)), .error("boom")])]),
            .list([.atom(.symbol("echo")), .list([large, .error("boom")])]),
            .list([
                .atom(.symbol("echo")),
                .dictionary(keys: .vector(.symbol(["a", "b"])), values: .list([large, .error("boom")]), sorted: false),
            ]),
        ]
        for query in queries {
            for limit in [0, QueryParser.largestDecodedArgument] {
                let (outcome, _) = inPlaceOutcome(query, spec: .default, limit: limit)
                #expect(outcome.hasPrefix("error unsupported form: item 1: a q error (type -128)"), "\(outcome.prefix(200))")
                #expect(outcome == decodedOutcome(query, spec: .default))
            }
        }
        let fine = QValue.list([.atom(.symbol("echo")), .list([large, .string("boom")])])
        #expect(inPlaceOutcome(fine, spec: .default, limit: 0).outcome == decodedOutcome(fine, spec: .default))
        #expect(!inPlaceOutcome(fine, spec: .default, limit: 0).outcome.hasPrefix("error"))
    }

    /// Query text over ``QueryParser/longestQueryText`` is refused, read in place or decoded,
    /// with advice; text at the limit is parsed, and the same data as a parse form is taken.
    @Test func queryTextOverTheLimitIsRefusedWithAdvice() throws {
        let numbers = String(repeating: " 0", count: QueryParser.longestQueryText / 2)
        let over = QValue.string("echo" + numbers)
        let (outcome, _) = inPlaceOutcome(over, spec: .default)
        #expect(outcome == decodedOutcome(over, spec: .default))
        let error = #expect(throws: QueryError.self) { try QueryParser.parse(over) }
        #expect(error?.code == .tooLong)
        #expect(
            error?.message.contains("the query text is \(4 + numbers.utf8.count) bytes, over the 1048576 query text may have") == true,
            "\(String(describing: error))")
        #expect(error?.message.contains("send large arguments as a parse form") == true)
        let atTheLimit = "echo" + String(repeating: " 0", count: (QueryParser.longestQueryText - 4) / 2)
        #expect(try QueryParser.parse(atTheLimit).arguments.count == 1)
        let asParseForm = QValue.list([.atom(.symbol("echo")), .vector(.long(Array(repeating: 0, count: QueryParser.longestQueryText)))])
        #expect(try QueryParser.parse(asParseForm).function == "echo")
    }

    /// A 1M-long vector argument is checked by its type and length, and its routing string
    /// rendered in chunks: nothing near its 8 MB is decoded at once, and the routing string is
    /// the one the decoded vector gives.
    @Test(.heavyComputation) func aLargeVectorArgumentIsNotDecoded() throws {
        let longs = QValue.vector(.long((0..<1_000_000).map { Int64($0) * 7 - 3_000_000 }))
        let query = QValue.list([.atom(.symbol("echo")), longs, .atom(.symbol("IBM"))])
        let (outcome, checked) = inPlaceOutcome(query, spec: try RoutingSpec(parsing: "arg:1,function,arg:2"))
        #expect(outcome == decodedOutcome(query, spec: try RoutingSpec(parsing: "arg:1,function,arg:2")))
        let result = try #require(checked)
        #expect(result.parsed == nil)
        #expect(result.argumentRanges.count == 2)
        #expect(result.largestDecode <= 2 * QueryParser.largestDecodedArgument, "decoded \(result.largestDecode) bytes at once")
    }

    /// Strings and lists of strings, with characters of several bytes across chunk boundaries
    /// and invalid UTF-8: rendered in chunks, the routing string is the whole one's.
    @Test(.heavyComputation) func largeStringsAndListsRouteAsDecoded() throws {
        var text: [UInt8] = []
        var generator = SplitMix64(seed: 7)
        while text.count < 300_000 {
            switch generator.next() % 5 {
            case 0: text += Array("é".utf8)
            case 1: text += Array("👍🏽".utf8)
            case 2: text.append(0xFF)
            case 3: text += Array("e\u{301}".utf8)
            default: text += Array("abc".utf8)
            }
        }
        let strings = QValue.list((0..<10_000).map { .string("s\($0)") } + [.vector(.long([1, 2])), .vector(.symbol(["a", "b"]))])
        let symbols = QValue.vector(.symbol((0..<40_000).map { "sym\($0)" }))
        for argument in [QValue.vector(.char(text)), strings, symbols, .list([.vector(.char(text)), .atom(.long(1))])] {
            let query = QValue.list([.atom(.symbol("f")), argument])
            let (outcome, checked) = inPlaceOutcome(query, spec: .default)
            #expect(outcome == decodedOutcome(query, spec: .default))
            #expect(checked?.parsed == nil)
        }
    }

    /// A call hidden deep in a large argument is refused as SecureInvocation refuses it.
    @Test func aNestedCallInALargeArgumentIsRefused() {
        let hidden = QValue.list([.atom(.symbol("system")), .string("rm -rf /")])
        let large = QValue.list(
            (0..<20_000).map { _ in QValue.vector(.long([1, 2, 3])) } + [.list([.atom(.long(1)), hidden])])
        let query = QValue.list([.atom(.symbol("f")), .atom(.long(1)), large])
        let (outcome, checked) = inPlaceOutcome(query, spec: .default)
        #expect(checked == nil)
        #expect(outcome.hasPrefix("error refused: item 2: the list (`system;...)"), "\(outcome)")
        #expect(outcome == decodedOutcome(query, spec: .default))
    }

    // MARK: random parse forms

    private func randomQuery(_ generator: inout SplitMix64) -> QValue {
        let functions = ["proc1", ".api.trades", "value", "system", ".z.pw", "f", ""]
        var items: [QValue] = []
        switch generator.next() % 20 {
        case 0: items.append(.atom(.long(1)))
        case 1: break
        default: items.append(.atom(.symbol(functions[Int(generator.next() % UInt64(functions.count))])))
        }
        for _ in 0..<(generator.next() % 4) { items.append(randomValue(&generator, depth: 0)) }
        return .list(items)
    }

    private func randomValue(_ generator: inout SplitMix64, depth: Int) -> QValue {
        switch generator.next() % (depth > 3 ? 8 : 11) {
        case 0: return .atom(.symbol(["IBM", "", "é"][Int(generator.next() % 3)]))
        case 1: return .atom(.long(Int64(bitPattern: generator.next()) % 1000))
        case 2: return .vector(.long((0..<(generator.next() % 5)).map { Int64($0) }))
        case 3: return .string(["", "abc", "é\u{301}x"][Int(generator.next() % 3)])
        case 4: return .vector(.symbol(["a", "b"]))
        case 5: return .atom(.float([1.5, .nan, -.infinity][Int(generator.next() % 3)]))
        case 6: return .vector(.date([0, -1, Int32.min]))
        case 7: return .identity
        case 8:
            // A list headed by a symbol: a nested call.
            return .list([.atom(.symbol("g")), randomValue(&generator, depth: depth + 1)])
        case 9: return .dictionary(keys: .vector(.symbol(["k"])), values: .list([randomValue(&generator, depth: depth + 1)]), sorted: false)
        default:
            return .list((0..<(generator.next() % 4)).map { _ in randomValue(&generator, depth: depth + 1) })
        }
    }
}
