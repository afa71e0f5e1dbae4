import Foundation
import MServeProtocol
import MServeServant
import MServeTesting
import QData
import MServeTestSupport
import Testing

/// Calling plugin functions through the registry, the way a servant's workers do.
struct ServantPluginCallTests {
    static func tester(_ paths: [String]) throws -> ServantTester {
        ServantTester(functions: FunctionRegistry(plugins: try ServantPluginLoader.load(paths: paths)))
    }

    /// The parse form `(`stats; argument)`.
    static func stats(_ argument: QValue) -> QValue { .list([.atom(.symbol("stats")), argument]) }

    static func statistics(_ value: QValue) -> [String: QValue] {
        guard case .dictionary(.vector(.symbol(let keys), _), .list(let values, _), _) = value else { return [:] }
        return Dictionary(uniqueKeysWithValues: zip(keys, values))
    }

    @Test func theCStatsPluginSummarisesAFloatVector() throws {
        let reply = try Self.tester([PluginFiles.stats]).call(query: Self.stats(.vector(.float([1, 2, 3]))))
        guard case .dictionary(.vector(.symbol(let keys), _), _, _) = reply.result else {
            Issue.record("not a symbol-keyed dictionary: \(reply.result)")
            return
        }
        #expect(keys == ["count", "mean", "min", "max", "stdev"])
        let stats = Self.statistics(reply.result)
        #expect(stats["count"] == .atom(.long(3)))
        #expect(stats["mean"] == .atom(.float(2)))
        #expect(stats["min"] == .atom(.float(1)))
        #expect(stats["max"] == .atom(.float(3)))
        guard case .atom(.float(let deviation)) = stats["stdev"] else {
            Issue.record("stdev is not a float")
            return
        }
        #expect(abs(deviation - (2.0 / 3.0).squareRoot()) < 1e-12)
    }

    @Test func theCStatsPluginTakesLongsAndSkipsNulls() throws {
        let tester = try Self.tester([PluginFiles.stats])
        let longs = Self.statistics(try tester.call(query: Self.stats(.vector(.long([4, Int64.min, 8])))).result)
        #expect(longs["count"] == .atom(.long(2)))
        #expect(longs["mean"] == .atom(.float(6)))
        #expect(longs["stdev"] == .atom(.float(2)))
        let empty = Self.statistics(try tester.call(query: Self.stats(.vector(.float([])))).result)
        #expect(empty["count"] == .atom(.long(0)))
        guard case .atom(.float(let mean)) = empty["mean"] else {
            Issue.record("mean is not a float")
            return
        }
        #expect(mean.isNaN)
    }

    @Test func aPluginFunctionErrorBecomesAQErrorAndTheNextCallWorks() throws {
        let tester = try Self.tester([PluginFiles.stats])
        #expect(try tester.call("stats `IBM").errorMessage?.hasPrefix("stats: type:") == true)
        #expect(try tester.call("stats[]").errorMessage?.contains("rank") == true)
        #expect(try tester.call("proc1 `IBM").errorMessage?.contains("proc1") == true)
        #expect(Self.statistics(try tester.call(query: Self.stats(.vector(.float([5])))).result)["max"] == .atom(.float(5)))
    }

    @Test func theDemoPluginAnswersLikeTheInProcessDemoFunctions() throws {
        let plugin = try Self.tester([PluginFiles.demoAPI])
        let inProcess = ServantTester(functions: DemoFunctions.registry())
        for query in ["proc1 `IBM", "proc2 `IBM`MSFT", "echo 42", "sleep 1"] {
            #expect(try plugin.call(query).result == inProcess.call(query).result, "\(query)")
        }
        let proc3 = try plugin.call("proc3 `AAPL")
        #expect(proc3.info == (try inProcess.call("proc3 `AAPL").info))
        #expect(proc3.info?.description.contains("rows") == true)
        #expect(try plugin.call("fail \"boom\"").errorMessage == "boom")
        #expect(try plugin.call("fail[]").errorMessage == "fail")
        #expect(try plugin.call("fail `").errorMessage == "fail")
        #expect(try plugin.call("fail \"\"").errorMessage == "fail")
        #expect(try plugin.call("proc1 42").errorMessage?.contains("expected a symbol") == true)
        #expect(try plugin.call("pid[]").result == .atom(.int(getpid())))
    }

    /// The demo plugin's replies, through the ABI on IPC bytes, are byte for byte those of the
    /// same functions run in-process on q values (which decode the query and encode the
    /// result): for every type `echo` returns, small (arguments encoded for the plugin) and
    /// over 64 KiB (the query's own bytes), and for the other functions' tables, info and errors.
    @Test func theDemoPluginsRepliesAreByteForByteTheInProcessFunctions() throws {
        let plugin = try ServantPluginLoader.load(paths: [PluginFiles.demoAPI])
        let served = FunctionRegistry(plugins: plugin)
        let inProcess = DemoFunctions.registry()
        var queries: [QValue] = ServantPluginBytesTests.values.map { .list([.atom(.symbol("echo")), $0]) }
        queries += ["proc1 `IBM", "proc2 `IBM`MSFT", "proc3 `AAPL", "echo 42", "echo `a`b", "sleep 1", "fail \"boom\"",
            "fail[]", "proc1 42", "pid[]", "pid `IBM", "echo[1;2]"].map { .string($0) }
        queries += [.atom(.symbol("pid")), .list([.atom(.symbol("proc2")), .vector(.symbol((0..<10_000).map { "S\($0)" }))])]
        for (index, query) in queries.enumerated() {
            let message = ClientQuery(id: .atom(.long(Int64(index))), query: query).encoded()
            let same = served.reply(to: message) == inProcess.reply(to: message)
            #expect(same, "\(query.description.prefix(60))")
        }
    }

    @Test func misbehavingPluginsGiveQErrorsNotCrashes() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            let callBody = """
                (void)args; (void)len;
                switch (index) {
                case 0: return MSERVE_SERVANT_CALL_FAILED;              /* no error text */
                case 1: out->result_ipc = malloc(3); memcpy(out->result_ipc, "bad", 3); out->result_len = 3;
                        return MSERVE_SERVANT_CALL_OK;                  /* bytes that do not decode */
                case 2: return MSERVE_SERVANT_CALL_OK;                  /* success without a result */
                default: out->error = malloc(6); memcpy(out->error, "nope!", 6); return 7;
                }
                """
            let path = try await PluginFiles.compile(
                PluginFiles.cPlugin(
                    name: "misbehaving", functions: [("silent", 0, 1), ("garbage", 0, 1), ("empty", 0, 1), ("refuse", 0, 1)],
                    callBody: callBody),
                named: "libmisbehaving.so", in: directory)
            let tester = try Self.tester([path])
            #expect(try tester.call("silent[]").errorMessage == "silent: failed in plugin misbehaving")
            let garbage = try tester.call("garbage[]").errorMessage ?? ""
            #expect(garbage.hasPrefix("garbage: plugin misbehaving returned a malformed result (result_ipc): "), "\(garbage)")
            #expect(try tester.call("empty[]").errorMessage == "empty: plugin misbehaving returned no result")
            #expect(try tester.call("refuse[]").errorMessage == "nope!")
        }
    }

    /// A C plugin's result holding a q error inside a list, `(1;'inner)`, would reach clients
    /// inside the reply list, where no kdb+ client reads one: the call fails, naming the
    /// function. A q error as the whole result is the query's failure.
    @Test func aCResultHoldingAQErrorInsideAListFailsTheQuery() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            let callBody = """
                (void)args; (void)len;
                static const uint8_t nested[] = {1, 0, 0, 0, 30, 0, 0, 0, 0, 0, 2, 0, 0, 0,
                    0xF9, 1, 0, 0, 0, 0, 0, 0, 0, 0x80, 'i', 'n', 'n', 'e', 'r', 0};
                static const uint8_t whole[] = {1, 0, 0, 0, 14, 0, 0, 0, 0x80, 'o', 'o', 'p', 's', 0};
                const uint8_t *bytes = index == 0 ? nested : whole;
                size_t count = index == 0 ? sizeof nested : sizeof whole;
                out->result_ipc = malloc(count); memcpy(out->result_ipc, bytes, count);
                out->result_len = count;
                return MSERVE_SERVANT_CALL_OK;
                """
            let path = try await PluginFiles.compile(
                PluginFiles.cPlugin(name: "nestederror", functions: [("nested", 0, 1), ("whole", 0, 1)], callBody: callBody),
                named: "libnestederror.so", in: directory)
            let tester = try Self.tester([path])
            #expect(
                try tester.call("nested[]").errorMessage
                    == "nested: plugin nestederror returned a result holding a q error inside a list; return the error itself (or fail the call) to fail the query")
            #expect(try tester.call("whole[]").errorMessage == "oops")
        }
    }

    /// Info bytes that do not decode give an error that says it was the info dictionary, not
    /// the result, that was malformed.
    @Test func aMalformedInfoIsNamedInTheError() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            // The long atom 42 as the result, and three bytes that are no IPC message as the info.
            let callBody = """
                (void)index; (void)args; (void)len;
                static const uint8_t result[] = {1, 0, 0, 0, 17, 0, 0, 0, 0xF9, 42, 0, 0, 0, 0, 0, 0, 0};
                out->result_ipc = malloc(sizeof result); memcpy(out->result_ipc, result, sizeof result);
                out->result_len = sizeof result;
                out->info_ipc = malloc(3); memcpy(out->info_ipc, "bad", 3); out->info_len = 3;
                return MSERVE_SERVANT_CALL_OK;
                """
            let path = try await PluginFiles.compile(
                PluginFiles.cPlugin(
                    name: "badinfo", functions: [("withinfo", 0, 1)], callBody: callBody,
                    freeResultBody: "free(r->result_ipc); free(r->info_ipc);"),
                named: "libbadinfo.so", in: directory)
            let message = try Self.tester([path]).call("withinfo[]").errorMessage ?? ""
            #expect(message.hasPrefix("withinfo: plugin badinfo returned a malformed info dictionary (info_ipc): "), "\(message)")
        }
    }

    /// The ABI gives the error text no length: one without a NUL is read no further than the
    /// reply size limit, and the call fails with an error saying so, not with whatever
    /// memory follows the text.
    @Test func anErrorTextWithoutItsNulIsReadNoFurtherThanTheReplyLimit() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            // A text with no NUL in its first 8,191 bytes, all readable (a NUL only after them).
            let prelude = "static char texts[8192];"
            let callBody = """
                (void)index; (void)args; (void)len;
                memset(texts, 'x', sizeof texts - 1);
                out->error = texts;
                return MSERVE_SERVANT_CALL_FAILED;
                """
            let path = try await PluginFiles.compile(
                PluginFiles.cPlugin(
                    name: "unterminated", functions: [("shout", 0, 1)], prelude: prelude, callBody: callBody,
                    freeResultBody: "(void)r;"),
                named: "libunterminated.so", in: directory)
            var tester = try Self.tester([path])
            tester.maximumReplySize = 4_096
            #expect(
                try tester.call("shout[]").errorMessage
                    == "shout: plugin unterminated returned an error text with no NUL in its first 4096 bytes (the reply size limit); error must be a NUL-terminated string"
            )
        }
    }

    /// A plugin that returns its arguments' own memory as its result (the obvious echo in C)
    /// gets a clear error, never a reply read from arguments already freed, whether the query
    /// came as text (arguments encoded for it) or as a large parse form (the query's bytes).
    @Test func aResultPointingIntoTheArgumentsIsRefused() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            let callBody = """
                (void)index;
                out->result_ipc = (uint8_t *)args; out->result_len = len;
                return MSERVE_SERVANT_CALL_OK;
                """
            let path = try await PluginFiles.compile(
                PluginFiles.cPlugin(name: "careless", functions: [("argsptr", 1, 3)], callBody: callBody, freeResultBody: "(void)r;"),
                named: "libcareless.so", in: directory)
            let tester = try Self.tester([path])
            let expected = "argsptr: plugin careless returned memory of its arguments (args_ipc is the servant's, valid only during the call); return a copy"
            #expect(try tester.call("argsptr 1 2 3").errorMessage == expected)
            let large = QValue.list([.atom(.symbol("argsptr")), .vector(.long(Array(repeating: 7, count: 20_000)))])
            #expect(try tester.call(query: large).errorMessage == expected)
        }
    }

    @Test func variadicFunctionsReceiveEveryArgument() async throws {
        try await withTemporaryDirectory("mserve-servant-plugin-tests") { path in
            let directory = URL(fileURLWithPath: path, isDirectory: true)
            // Echoes the arguments message back: the result is the general list of the arguments.
            let callBody = """
                (void)index;
                out->result_ipc = malloc(len); memcpy(out->result_ipc, args, len); out->result_len = len;
                return MSERVE_SERVANT_CALL_OK;
                """
            let path = try await PluginFiles.compile(
                PluginFiles.cPlugin(name: "arguments", functions: [("args", 1, Int(UInt32.max))], callBody: callBody),
                named: "libarguments.so", in: directory)
            let plugins = try ServantPluginLoader.load(paths: [path])
            #expect(plugins[0].functions[0].arity == 1...Int.max)
            let tester = ServantTester(functions: FunctionRegistry(plugins: plugins))
            let reply = try tester.call("args[`a;2;\"cd\"]")
            #expect(reply.result == .list([.atom(.symbol("a")), .atom(.long(2)), .string("cd")]))
            #expect(try tester.call("args[]").errorMessage?.contains("at least 1") == true)
        }
    }
}
