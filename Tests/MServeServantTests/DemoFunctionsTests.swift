import MServeServant
import MServeTesting
import QData
import Testing

struct DemoFunctionsTests {
    let tester = ServantTester(functions: DemoFunctions.registry())

    @Test func proc1GivesFiveTradesForTheSymbolTheSameEveryTime() throws {
        let first = try tester.call("proc1 `IBM")
        let second = try tester.call("proc1[`IBM]")
        #expect(first.result == second.result)
        guard case .table(let table, _) = first.result else {
            Issue.record("not a table: \(first.result)")
            return
        }
        #expect(table.columns == ["time", "sym", "price", "size"])
        #expect(table.values[1] == .vector(.symbol(Array(repeating: "IBM", count: 5))))
        #expect(try tester.call("proc1 `MSFT").result != first.result)
    }

    @Test func proc2SummarisesSeveralSymbols() throws {
        let reply = try tester.call("proc2 `IBM`MSFT")
        guard case .table(let table, _) = reply.result else {
            Issue.record("not a table")
            return
        }
        #expect(table.columns == ["sym", "vwap", "volume"])
        #expect(table.values[0] == .vector(.symbol(["IBM", "MSFT"])))
    }

    @Test func proc3AddsItsOwnInfo() throws {
        let reply = try tester.call("proc3 `AAPL")
        #expect(reply.info != nil)
        #expect(reply.info?.description.contains("rows") == true)
    }

    @Test func wrongArgumentsGiveClearErrors() throws {
        #expect(try tester.call("proc1 42").errorMessage?.contains("expected a symbol") == true)
        #expect(try tester.call("proc1[]").errorMessage?.contains("rank") == true)
        #expect(try tester.call("sleep -1").errorMessage?.contains("sleep") == true)
        // A float is a number of milliseconds too, but not a whole one: the message says so.
        #expect(
            try tester.call("sleep 1.5").errorMessage
                == "sleep: type: expected a whole number of milliseconds (a short, int or long) from 0 to 600000")
        #expect(try tester.call("fail \"boom\"").errorMessage == "boom")
        // A one-character text is a char atom in q.
        #expect(try tester.call("fail \"x\"").errorMessage == "x")
        #expect(try tester.call("echo `x", id: 77).id == .atom(.long(77)))
    }
}
