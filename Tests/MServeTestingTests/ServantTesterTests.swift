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
}
