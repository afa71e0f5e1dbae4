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

    /// A function no client could call (the broker's namespace, a q built-in, not a q name)
    /// or a name registered twice is refused by the tester, as by a servant.
    @Test(arguments: [".mserve.foo", "sum", ".z.ts", "bad name", "twice"])
    func aFunctionNoClientCouldCallIsRefused(name: String) throws {
        var functions = FunctionRegistry()
        functions.register("twice", arity: 1...1) { $0[0] }
        functions.register(name, arity: 1...1) { $0[0] }
        let error = #expect(throws: ServantError.self) { try ServantTester(functions: functions).call("twice 1") }
        #expect(error?.message.contains("functions no client could call: \(name)") == true, "\(String(describing: error))")
        #expect(throws: ServantError.self) { try Servant(functions: functions) }
    }
}
