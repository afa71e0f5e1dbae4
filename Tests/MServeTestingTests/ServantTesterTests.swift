import MServeServant
import MServeTesting
import QData
import Testing

struct ServantTesterTests {
    @Test func theTesterAppliesTheSameChecksAsAServant() throws {
        var functions = FunctionRegistry()
        functions.register("twice", arity: 1...1) { arguments in
            guard case .atom(.long(let n)) = arguments[0] else { throw ServantError("twice: type") }
            return .atom(.long(2 * n))
        }
        let tester = ServantTester(functions: functions)
        #expect(try tester.call("twice 21").result == .atom(.long(42)))
        #expect(try tester.call(query: .list([.atom(.symbol("twice")), .atom(.long(4))])).result == .atom(.long(8)))
        #expect(try tester.call("twice `a").errorMessage == "twice: type")
        #expect(try tester.call("value \"twice 1\"").errorMessage != nil)
        #expect(try tester.call(rawMessage: [1, 2]).errorMessage?.hasPrefix("mserve: malformed") == true)
    }

    private struct Unexplained: Error {}

    /// A function that throws an error other than `ServantError` fails with a text naming the
    /// function, as behind a servant.
    @Test func anErrorOtherThanServantErrorNamesTheFunction() throws {
        var functions = FunctionRegistry()
        functions.register("boom", arity: 0...1) { _ -> QValue in throw Unexplained() }
        #expect(try ServantTester(functions: functions).call("boom[]").errorMessage == "boom: Unexplained")
    }

    /// A result over the broker's message limit fails the query here as behind a broker.
    @Test func aResultOverTheBrokersLimitFailsAsBehindABroker() throws {
        var functions = FunctionRegistry()
        functions.register("big", arity: 1...1) { _ in .vector(.long(Array(repeating: 7, count: 1_000))) }
        var tester = ServantTester(functions: functions)
        #expect(try tester.call("big 1").errorMessage == nil)
        tester.maximumReplySize = 4_000
        let message = try #require(try tester.call("big 1").errorMessage)
        #expect(message.contains("over the 4000-byte message limit"), "\(message)")
        #expect(ServantTester(functions: functions).maximumReplySize == 64 << 20)
    }

    /// A result holding a q error inside it would reach clients inside the reply list, where
    /// no kdb+ client reads one: it fails the query, naming the function, here as behind a
    /// servant. A q error as the whole result is a failure with its text.
    @Test func aResultHoldingAQErrorInsideAListFailsTheQuery() throws {
        var functions = FunctionRegistry()
        functions.register("nested", arity: 0...1) { _ in .list([.atom(.long(1)), .error("inner")]) }
        functions.register("inInfo", arity: 0...1, withInfo: { _ in
            ServantResult(.atom(.long(1)), info: .dictionary(["note": .error("inner")]))
        })
        functions.register("whole", arity: 0...1) { _ in .error("oops") }
        let tester = ServantTester(functions: functions)
        let nested = try tester.call("nested[]")
        #expect(nested.errorMessage == "nested: the result holds a q error inside a list; return the error itself (or throw) to fail the query")
        #expect(nested.result == .string(nested.errorMessage ?? ""))
        #expect(try tester.call("inInfo[]").errorMessage == "inInfo: the info dictionary holds a q error; no client reads one inside the reply")
        #expect(try tester.call("whole[]").errorMessage == "oops")
    }

    /// A result no q process could hold (a table whose columns differ in length or that has
    /// none, a dictionary whose keys and values differ in count) fails the query, naming the
    /// function; so does a query carrying one as an argument, before the function runs.
    @Test func aValueNoQProcessCanHoldFailsTheQueryEitherWay() throws {
        let ragged = QValue.table(QTable(columns: ["a", "b"], values: [.vector(.long([1, 2, 3])), .vector(.long([4, 5]))]))
        let keys = QValue.dictionary(keys: .vector(.symbol(["a", "b", "c"])), values: .list([.atom(.long(1))]))
        var functions = FunctionRegistry()
        functions.register("ragged", arity: 0...1) { _ in ragged }
        functions.register("lopsided", arity: 0...1) { _ in .list([keys]) }
        functions.register("echo", arity: 1...1) { $0[0] }
        let tester = ServantTester(functions: functions)
        #expect(
            try tester.call("ragged[]").errorMessage
                == "ragged: the result is a value no q process can hold: a table: its columns differ in length (`a` has 3 items, `b` 2)")
        #expect(
            try tester.call("lopsided[]").errorMessage
                == "lopsided: the result is a value no q process can hold: a dictionary: its keys and values differ in count (3 and 1)")
        let refused = try tester.call(query: .list([.atom(.symbol("echo")), ragged]))
        #expect(refused.errorMessage == "mserve: malformed message: the table at offset 35: its columns differ in length (`a` has 3 items, `b` 2)")
        // A table with no columns, `flip (0#`)!()`, which pykx reads as a `rank` error.
        let empty = QValue.table(QTable(columns: [], values: []))
        functions.register("empty", arity: 0...1) { _ in empty }
        let withEmpty = ServantTester(functions: functions)
        #expect(
            try withEmpty.call("empty[]").errorMessage == "empty: the result is a value no q process can hold: a table: it has no columns")
        #expect(
            try withEmpty.call(query: .list([.atom(.symbol("echo")), empty])).errorMessage
                == "mserve: malformed message: the table at offset 35: it has no columns")
    }

    /// A function returning a q error fails: the reply holds the error text as a string, and
    /// the same text under the info's `error` key, as a client gets it from the broker.
    @Test func aQErrorResultComesBackAsTheBrokerSendsIt() throws {
        var functions = FunctionRegistry()
        functions.register("qerr", arity: 0...1) { _ in .error("oops") }
        functions.register("noted", arity: 0...1, withInfo: { _ in
            ServantResult(.error("late"), info: .dictionary(["rows": .atom(.long(3))]))
        })
        let tester = ServantTester(functions: functions)
        let reply = try tester.call("qerr[]")
        #expect(reply.result == .string("oops"))
        #expect(reply.info == .dictionary(["error": .string("oops")]))
        #expect(reply.errorMessage == "oops")
        let noted = try tester.call("noted[]")
        #expect(noted.result == .string("late"))
        #expect(noted.info == .dictionary(["rows": .atom(.long(3)), "error": .string("late")]))
    }

    /// A function no client could call (the broker's namespace, a q built-in, not a q name, a
    /// name longer than brokers take in a READY) or a name registered twice is refused by the
    /// tester, as by a servant.
    @Test(arguments: [".mserve.foo", "sum", ".z.ts", "bad name", "twice", String(repeating: "f", count: 256)])
    func aFunctionNoClientCouldCallIsRefused(name: String) throws {
        var functions = FunctionRegistry()
        functions.register("twice", arity: 1...1) { $0[0] }
        functions.register(name, arity: 1...1) { $0[0] }
        let error = #expect(throws: ServantError.self) { try ServantTester(functions: functions).call("twice 1") }
        #expect(error?.message.contains("functions no client could call: \(name)") == true, "\(String(describing: error))")
        #expect(throws: ServantError.self) { try Servant(functions: functions) }
    }
}
