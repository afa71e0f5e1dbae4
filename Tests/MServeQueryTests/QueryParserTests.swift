import MServeQuery
import QData
import Testing
import MServeTestScheduling

@Suite("Query parser")
struct QueryParserTests {
    @Test func monadicApplicationOfASymbol() throws {
        let query = try QueryParser.parse("proc1 `IBM")
        #expect(query.function == "proc1")
        #expect(same(query.arguments, [.atom(.symbol("IBM"))]))
        #expect(query.text == "proc1 `IBM")
    }

    @Test func bracketApplicationWithSeveralArguments() throws {
        let query = try QueryParser.parse("proc1[`IBM;2024.01.02;10]")
        #expect(query.function == "proc1")
        #expect(
            same(
                query.arguments,
                [
                    .atom(.symbol("IBM")), .atom(.date(daysSince2000(2024, 1, 2))),
                    .atom(.long(10)),
                ]))
    }

    @Test func emptyBracketsHaveNoArguments() throws {
        #expect(try QueryParser.parse("proc1[]").arguments.isEmpty)
        #expect(try QueryParser.parse("proc1[ ]").arguments.isEmpty)
    }

    @Test func dottedFunctionNames() throws {
        let query = try QueryParser.parse(".ns.func[`a;1]")
        #expect(query.function == ".ns.func")
        #expect(query.arguments.count == 2)
        #expect(try QueryParser.parse("api.trades `IBM").function == "api.trades")
        #expect(try QueryParser.parse("get_trades2 `IBM").function == "get_trades2")
    }

    @Test func monadicApplicationOfASymbolVectorIsOneArgument() throws {
        let query = try QueryParser.parse("proc2 `IBM`MSFT")
        #expect(same(query.arguments, [.vector(.symbol(["IBM", "MSFT"]))]))
    }

    @Test func monadicApplicationOfAGeneralListIsOneArgument() throws {
        let query = try QueryParser.parse("proc1 (`IBM;10)")
        #expect(same(query.arguments, [.list([.atom(.symbol("IBM")), .atom(.long(10))])]))
        let bracket = try QueryParser.parse("proc1[`IBM;10]")
        #expect(bracket.arguments.count == 2)
    }

    @Test func applicationWithoutSpaceBeforeSelfDelimitingLiterals() throws {
        #expect(same(try QueryParser.parse("proc1`IBM").arguments, [.atom(.symbol("IBM"))]))
        #expect(
            same(try QueryParser.parse("proc1\"abc\"").arguments, [.vector(.char(Array("abc".utf8)))]))
        #expect(try QueryParser.parse("proc1(1;`a)").arguments.count == 1)
    }

    /// q reads a minus right after a name as subtraction (`proc1-1` is `proc1 - 1`), and a
    /// minus after a space as a negative number (`proc1 -1` is `proc1[-1]`). The first is an
    /// operator, refused at the minus; it must never be read as a call with `-1`.
    @Test func aMinusRightAfterTheNameIsSubtractionNotANegativeArgument() throws {
        for (text, column) in [("proc1-1", 6), ("proc1-1 2", 6), (".api.f-1.5", 7), ("proc1-0Wj", 6), ("proc1 -1-1", 9)] {
            let error = parseError(text)
            #expect(error?.code == .refused, "\(text): \(String(describing: error))")
            #expect(error?.column == column, "\(text): \(String(describing: error))")
        }
        #expect(same(try QueryParser.parse("proc1 -1").arguments, [.atom(.long(-1))]))
        #expect(same(try QueryParser.parse("proc1 -1 2").arguments, [.vector(.long([-1, 2]))]))
        #expect(same(try QueryParser.parse("proc1[-1]").arguments, [.atom(.long(-1))]))
    }

    @Test func monadicApplicationOfANumericVector() throws {
        let query = try QueryParser.parse("proc1 1 2 3")
        #expect(same(query.arguments, [.vector(.long([1, 2, 3]))]))
        #expect(same(try QueryParser.parse("proc1 -5").arguments, [.atom(.long(-5))]))
    }

    @Test func parseFormAsText() throws {
        let query = try QueryParser.parse("(`proc1;`IBM;10)")
        #expect(query.function == "proc1")
        #expect(same(query.arguments, [.atom(.symbol("IBM")), .atom(.long(10))]))
    }

    @Test func whitespaceAnywhereReasonable() throws {
        let query = try QueryParser.parse("  proc1[ `IBM ;\n 2024.01.02 ;\t10 ]  ")
        #expect(query.arguments.count == 3)
        #expect(try QueryParser.parse("\t( `proc1 ; `IBM ) \n").arguments.count == 1)
    }

    @Test func nestedBracketsAndLists() throws {
        let query = try QueryParser.parse("proc1[(1;(`a;\"xy\";(2 3;4));());enlist `b]")
        #expect(query.arguments.count == 2)
        #expect(
            same(
                query.arguments[0],
                .list([
                    .atom(.long(1)),
                    .list([
                        .atom(.symbol("a")), .vector(.char(Array("xy".utf8))),
                        .list([.vector(.long([2, 3])), .atom(.long(4))]),
                    ]),
                    .list([]),
                ])))
        #expect(same(query.arguments[1], .vector(.symbol(["b"]))))
    }

    @Test func enlistBuildsOneItemLists() throws {
        #expect(same(literal("enlist 1")!, .vector(.long([1]))))
        #expect(same(literal("enlist[1;2]")!, .vector(.long([1, 2]))))
        #expect(same(literal("enlist 1 2")!, .list([.vector(.long([1, 2]))])))
        #expect(same(literal("enlist enlist `a")!, .list([.vector(.symbol(["a"]))])))
        // As in q, a symbol, string or list may follow `enlist` without a space.
        #expect(literal("enlist`a").map { same($0, .vector(.symbol(["a"]))) } == true)
        #expect(literal("enlist`a`b").map { same($0, .list([.vector(.symbol(["a", "b"]))])) } == true)
        #expect(literal("enlist\"ab\"").map { same($0, .list([.vector(.char(Array("ab".utf8)))])) } == true)
        #expect(literal("enlist(1;2)").map { same($0, .list([.vector(.long([1, 2]))])) } == true)
        #expect(literal("enlist enlist`a").map { same($0, .list([.vector(.symbol(["a"]))])) } == true)
    }

    @Test func identityArgument() throws {
        #expect(same(try QueryParser.parse("proc1[::]").arguments, [.identity]))
        // `::` after a space, with nothing after it, is the generic null as an argument.
        #expect(same(try QueryParser.parse("proc1 ::").arguments, [.identity]))
        #expect(same(try QueryParser.parse("proc1 ::  ").arguments, [.identity]))
        // Anything after it, or no space before it, keeps it an assignment.
        for assignment in ["proc1 :: 3", "proc1::", "proc1:: 3", "proc1 ::`a"] {
            #expect(throws: QueryError.self, "\(assignment)") { try QueryParser.parse(assignment) }
        }
    }

    @Test func parsesFromUTF8Bytes() throws {
        let query = try QueryParser.parse(utf8: Array("proc1 `IBM".utf8))
        #expect(query.function == "proc1")
        #expect(query.text == "proc1 `IBM")
    }

    @Test func bareNameAndProjectionAreUnsupported() {
        #expect(parseError("proc1")?.code == .unsupportedForm)
        #expect(parseError("proc1[;1]")?.code == .unsupportedForm)
        #expect(parseError("proc1[;1]")?.column == 7)
        #expect(parseError("`proc1")?.code == .unsupportedForm)
        #expect(parseError("(1;2)")?.code == .unsupportedForm)
        #expect(parseError("(`proc1)")?.code == .unsupportedForm)
    }

    @Test func emptyQueries() {
        #expect(parseError("")?.code == .emptyQuery)
        #expect(parseError("  \n\t ")?.code == .emptyQuery)
    }

    @Test func tenArguments() throws {
        let query = try QueryParser.parse(
            "proc10[`IBM;1;2h;3i;4.5;0b;\"s\";2024.01.02;12:30:00.000;`a`b]")
        #expect(query.arguments.count == 10)
    }

    @Test(.heavyComputation) func fuzzedBytesThrowOrParseWithoutCrashing() {
        var generator = SplitMix64(seed: 0x5EED)
        let alphabet = Array("proc1 `IBM[];()\"\\:.-0123456789abcdefxNWnwDTehijbpmuvtz{}'/ \n".utf8)
        var parsed = 0
        for round in 0..<20_000 {
            let length = Int(generator.next() % 24)
            var bytes: [UInt8] = []
            for _ in 0..<length {
                let random = generator.next()
                bytes.append(
                    round % 3 == 0
                        ? UInt8(truncatingIfNeeded: random)
                        : alphabet[Int(random % UInt64(alphabet.count))])
            }
            if (try? QueryParser.parse(utf8: bytes)) != nil { parsed += 1 }
        }
        #expect(parsed < 20_000)
    }

    /// Damaged queries never crash: they parse, the same from bytes as from text, or fail
    /// with a query error whose column lies within the text.
    @Test func mutatedValidQueriesThrowOrParse() {
        var generator = SplitMix64(seed: 42)
        let seeds = [
            "proc1[`IBM;2024.01.02;10]", "(`proc1;`IBM;(1;2 3h))", "proc1 \"a\\\"b\\n\"",
            "proc1[2024.01.02D12:30:00.000000000;0D00:00:01;0x0102;0101b;-0W;0Nd]",
        ]
        for round in 0..<5_000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<(1 + generator.next() % 3) {
                let index = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 3 {
                case 0: bytes[index] = UInt8(truncatingIfNeeded: generator.next())
                case 1: bytes.remove(at: index)
                default: bytes.insert(bytes[index], at: index)
                }
                if bytes.isEmpty { break }
            }
            let fromBytes: ParsedQuery
            do {
                fromBytes = try QueryParser.parse(utf8: bytes)
            } catch {
                if let column = error.column {
                    #expect((1...bytes.count + 1).contains(column), "\(error) for \(bytes)")
                }
                continue
            }
            #expect(!fromBytes.function.isEmpty)
            if let text = String(validating: bytes, as: UTF8.self) {
                let fromText = try? QueryParser.parse(text)
                #expect(fromText?.function == fromBytes.function, "\(text)")
                #expect(fromText?.arguments == fromBytes.arguments, "\(text)")
            }
        }
    }

    @Test func deepNestingIsASyntaxErrorNotACrash() {
        let deep = "proc1 " + String(repeating: "(", count: 10_000) + "1"
            + String(repeating: ")", count: 10_000)
        #expect(parseError(deep)?.code == .syntax)
        let deepEnlist = "proc1 " + String(repeating: "enlist ", count: 10_000) + "1"
        #expect(parseError(deepEnlist)?.code == .syntax)
        let shallow = "proc1 " + String(repeating: "(", count: 20) + "1"
            + String(repeating: ")", count: 20)
        #expect(parseError(shallow) == nil)
    }
}

/// A small deterministic generator for fuzzing.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
