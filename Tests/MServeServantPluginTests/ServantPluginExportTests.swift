import MServeProtocol
import MServeServant
import MServeServantPluginKit
import MServeTesting
import QData
import Testing

/// A Swift API exported through the kit and called back through the C ABI, in-process.
enum KitTestAPI: ServantPluginAPI {
    struct Unexpected: Error, CustomStringConvertible {
        var description: String { "something unexpected" }
    }
    struct Bare: Error {}

    static let functions: [ServantPluginFunction] = [
        ServantPluginFunction("arguments", arity: 0...3) { .list($0) },
        ServantPluginFunction("anything", arity: 1...Int.max) { .atom(.long(Int64($0.count))) },
        ServantPluginFunction("refuse", arity: 0...1) { _ -> QValue in throw ServantPluginFailure("refuse: not today") },
        ServantPluginFunction("surprise", arity: 0...1) { _ -> QValue in throw Unexpected() },
        // A body that only throws, without naming its result type: the QValue initialiser.
        ServantPluginFunction("bare", arity: 0...1) { _ in throw Bare() },
        ServantPluginFunction.identity("same"),
        ServantPluginFunction("annotated", arity: 0...1, withInfo: { _ in
            ServantPluginResult(
                .atom(.symbol("done")),
                info: .dictionary(keys: .vector(.symbol(["cache"])), values: .list([.atom(.symbol("hit"))])))
        }),
    ]
}

/// Functions whose results no client could read: a q error inside a list, a table whose
/// columns differ in length.
enum UnsendableTestAPI: ServantPluginAPI {
    static let functions: [ServantPluginFunction] = [
        ServantPluginFunction("nested", arity: 0...1) { _ in .list([.atom(.long(1)), .error("inner")]) },
        ServantPluginFunction("ragged", arity: 0...1) { _ in
            .table(QTable(columns: ["a", "b"], values: [.vector(.long([1, 2, 3])), .vector(.long([4, 5]))]))
        },
        ServantPluginFunction("whole", arity: 0...1) { _ in .error("oops") },
    ]
}

private let exportedUnsendable = ServantPluginExport<UnsendableTestAPI>.table(
    name: "unsendable-test", description: "returns what no client reads",
    call: { ServantPluginExport<UnsendableTestAPI>.call($0, $1, $2, $3) })

private let exported = ServantPluginExport<KitTestAPI>.table(
    name: "kit-test", description: "exercises the Swift kit",
    call: { ServantPluginExport<KitTestAPI>.call($0, $1, $2, $3) })

struct ServantPluginExportTests {
    let plugin: LoadedServantPlugin
    let tester: ServantTester

    init() throws {
        plugin = try ServantPluginLoader.plugin(table: exported.pointer, origin: "kit-test")
        tester = ServantTester(functions: FunctionRegistry(plugins: [plugin]))
    }

    @Test func theTableListsTheFunctionsWithTheirArities() {
        #expect(plugin.name == "kit-test")
        #expect(plugin.description == "exercises the Swift kit")
        #expect(plugin.functions.map(\.name) == ["arguments", "anything", "refuse", "surprise", "bare", "same", "annotated"])
        #expect(plugin.functions[0].arity == 0...3)
        #expect(plugin.functions[1].arity == 1...Int.max)
        #expect(plugin.functions[1].arityText == "1+")
    }

    @Test func argumentsAndResultsCrossTheABIIntact() throws {
        let arguments: [QValue] = [
            .atom(.symbol("IBM")), .vector(.float([1.5, 2.5])), .string("text"),
        ]
        let result = try plugin.call(functionAt: 0, arguments: arguments)
        #expect(result.result == .list(arguments))
        #expect(result.info == nil)
        #expect(try tester.call("arguments[]").result == .list([]))
        #expect(try tester.call("anything[1;2;3;4;5]").result == .atom(.long(5)))
    }

    @Test func thrownErrorsBecomeTheErrorText() throws {
        #expect(try tester.call("refuse[]").errorMessage == "refuse: not today")
        // Another error names the function, and says what it says of itself.
        #expect(try tester.call("surprise[]").errorMessage == "surprise: something unexpected")
        #expect(try tester.call("bare[]").errorMessage == "bare: Bare")
        #expect(try tester.call("arguments[1;2;3;4]").errorMessage?.contains("rank") == true)
    }

    /// A result no client could read fails the query with an error naming the function, the
    /// same through the plugin ABI and registered in-process; a q error as the whole result is
    /// a failure with its text.
    @Test func aResultNoClientCouldReadFailsTheQuery() throws {
        let plugin = try ServantPluginLoader.plugin(table: exportedUnsendable.pointer, origin: "unsendable-test")
        var inProcess = FunctionRegistry()
        for function in UnsendableTestAPI.functions { inProcess.register(function) }
        for functions in [FunctionRegistry(plugins: [plugin]), inProcess] {
            let tester = ServantTester(functions: functions)
            #expect(
                try tester.call("nested[]").errorMessage
                    == "nested: the result holds a q error inside a list; return the error itself (or throw) to fail the query")
            #expect(
                try tester.call("ragged[]").errorMessage
                    == "ragged: the result is a value no q process can hold: a table: its columns differ in length (`a` has 3 items, `b` 2)")
            #expect(try tester.call("whole[]").errorMessage == "oops")
        }
        let direct = #expect(throws: ServantError.self) { try plugin.call(functionAt: 0, arguments: []) }
        #expect(direct?.message.hasPrefix("nested: the result holds a q error inside a list") == true)
    }

    @Test func infoDictionariesComeBackWithTheResult() throws {
        let reply = try tester.call("annotated[]")
        #expect(reply.result == .atom(.symbol("done")))
        #expect(reply.info == .dictionary(keys: .vector(.symbol(["cache"])), values: .list([.atom(.symbol("hit"))])))
    }

    @Test func anIdentityFunctionReturnsItsArgumentsBytesUndecoded() throws {
        // `(1; (`same; (10000 longs; `café)))` with the é in Latin-1, which a decoded symbol
        // would hold as U+FFFD: the argument is over 64 KiB, so it reaches the plugin as sent.
        var argument: [UInt8] = [0, 0]
        QIPC.appendInt32(2, to: &argument)
        QIPC.encodePayload(.vector(.long(Array(0..<10_000))), into: &argument)
        argument += [0xF5, 0x63, 0x61, 0x66, 0xE9, 0]
        var message = QIPC.listMessageHead(count: 2)
        QIPC.encodePayload(.atom(.long(1)), into: &message)
        message += [0, 0]
        QIPC.appendInt32(2, to: &message)
        QIPC.appendSymbolAtom("same", to: &message)
        message += argument
        QIPC.patchLength(&message)
        var expected = QIPC.listMessageHead(count: 2)
        QIPC.encodePayload(.atom(.long(1)), into: &expected)
        expected += argument
        QIPC.patchLength(&expected)
        let reply = tester.functions.reply(to: message)
        #expect(reply == expected, "the reply ends \(reply.suffix(8)), not \(expected.suffix(8))")
        // Small arguments, encoded from their values by the servant, come back as well.
        #expect(try tester.call("same `IBM").result == .atom(.symbol("IBM")))
        #expect(try tester.call("same[]").errorMessage?.contains("rank") == true)
    }

    @Test func anIdentityFunctionRegisteredInProcessReturnsItsArgument() throws {
        let identity = ServantPluginFunction.identity("same")
        #expect(identity.returnsItsArgument)
        #expect(identity.arity == 1...1)
        #expect(!KitTestAPI.functions[0].returnsItsArgument)
        var functions = FunctionRegistry()
        functions.register(identity)
        #expect(try ServantTester(functions: functions).call("same 1 2 3").result == .vector(.long([1, 2, 3])))
    }
}
