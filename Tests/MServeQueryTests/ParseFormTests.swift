import MServeQuery
import QData
import Testing

@Suite("Parse forms (queries as q values)")
struct ParseFormTests {
    @Test func generalListWithSymbolHead() throws {
        let query = try QueryParser.parse(
            .list([.atom(.symbol("proc1")), .atom(.symbol("IBM")), .atom(.long(10))]))
        #expect(query.function == "proc1")
        #expect(same(query.arguments, [.atom(.symbol("IBM")), .atom(.long(10))]))
        #expect(query.text == nil)
    }

    @Test func symbolAtomIsACallWithoutArguments() throws {
        let query = try QueryParser.parse(.atom(.symbol("proc1")))
        #expect(query.function == "proc1")
        #expect(query.arguments.isEmpty)
    }

    @Test func charVectorIsQueryText() throws {
        let query = try QueryParser.parse(.vector(.char(Array("proc1 `IBM".utf8))))
        #expect(query.function == "proc1")
        #expect(query.text == "proc1 `IBM")
        #expect(same(query.arguments, [.atom(.symbol("IBM"))]))
    }

    @Test func textAndValueFormsAgree() throws {
        let fromText = try QueryParser.parse("(`proc1;`IBM;1 2 3;\"x\")")
        let fromValue = try QueryParser.parse(
            .list([
                .atom(.symbol("proc1")), .atom(.symbol("IBM")), .vector(.long([1, 2, 3])),
                .atom(.char(120)),
            ]))
        #expect(fromText.function == fromValue.function)
        #expect(same(fromText.arguments, fromValue.arguments))
    }

    /// A symbol vector is what q makes of (`proc1;`IBM): a servant is not sent one (the kdb+
    /// door turns it into that general list first), and a ZeroMQ client that sends one is told
    /// what it is and what to send instead.
    @Test func aSymbolVectorQueryIsRefusedSayingWhatToSend() {
        do {
            _ = try QueryParser.parse(.vector(.symbol(["proc1", "IBM"])))
            Issue.record("a symbol vector query was accepted")
        } catch {
            #expect(error.code == .unsupportedForm)
            #expect(
                error.message == "a query must be a string, a symbol or a general list; got a symbol vector, which is "
                    + "what q makes of (`proc1;`...): send the query as text (\"proc1 `...\") or as a general list",
                "\(error.message)")
        }
    }

    @Test func nestedCallsInArgumentsAreRefused() {
        let nested: [QValue] = [
            .list([.atom(.symbol("proc1")), .list([.atom(.symbol("value")), .vector(.char(Array("exit 0".utf8)))])]),
            .list([.atom(.symbol("proc1")), .list([.atom(.long(1)), .list([.atom(.symbol("system")), .vector(.char(Array("ls".utf8)))])])]),
        ]
        for value in nested {
            #expect(throws: QueryError.self) { try QueryParser.parse(value) }
            do {
                _ = try QueryParser.parse(value)
            } catch {
                #expect(error.code == .refused)
            }
        }
    }

    @Test func refusedFunctionNamesInTheHead() {
        for name in ["value", "system", ".z.pw", ".Q.hp", "a b", "1abc", "exit"] {
            do {
                _ = try QueryParser.parse(.list([.atom(.symbol(name)), .vector(.char(Array("x".utf8)))]))
                Issue.record("\(name) accepted")
            } catch {
                #expect(error.code == .refused, "\(name)")
            }
        }
    }

    @Test func unsupportedValues() {
        let values: [QValue] = [
            .atom(.long(1)), .vector(.symbol(["proc1", "IBM"])), .identity,
            .list([.vector(.char(Array("proc1".utf8))), .atom(.symbol("IBM"))]),
            .dictionary(keys: .vector(.symbol(["a"])), values: .vector(.long([1]))),
            .atom(.symbol("")),
        ]
        for value in values {
            do {
                _ = try QueryParser.parse(value)
                Issue.record("\(structure(value)) accepted")
            } catch {
                #expect(error.code == .unsupportedForm)
            }
        }
        #expect(throws: QueryError.self) { try QueryParser.parse(.list([])) }
        #expect(throws: QueryError.self) { try QueryParser.parse(.vector(.char([]))) }
    }

    /// For q's `eval`, every argument that q would evaluate (a symbol names a variable, a list
    /// is an application) is quoted in a one-item list; constants go as they are.
    @Test func theQParseTreeQuotesWhatQWouldEvaluate() {
        let dictionary = QValue.dictionary(keys: .vector(.symbol(["a"])), values: .vector(.long([1])))
        let query = ParsedQuery(
            function: ".api.f",
            arguments: [
                .atom(.symbol("IBM")), .vector(.symbol(["A", "B"])), .list([.atom(.long(1)), .atom(.symbol("x"))]),
                dictionary, .atom(.long(3)), .vector(.long([1, 2])), .vector(.char(Array("s".utf8))),
            ])
        #expect(
            query.qParseTree
                == .list([
                    .atom(.symbol(".api.f")), .vector(.symbol(["IBM"])), .list([.vector(.symbol(["A", "B"]))]),
                    .list([.list([.atom(.long(1)), .atom(.symbol("x"))])]), .list([dictionary]), .atom(.long(3)),
                    .vector(.long([1, 2])), .vector(.char(Array("s".utf8))),
                ]))
        #expect(ParsedQuery(function: "f").qParseTree == .list([.atom(.symbol("f")), .identity]))
    }
}
