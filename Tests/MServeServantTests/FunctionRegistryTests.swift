import Foundation
import MServeQuery
import MServeServant
import MServeProtocol
import QData
import Testing

struct FunctionRegistryTests {
    var registry: FunctionRegistry {
        var functions = FunctionRegistry()
        functions.register("add", arity: 2...2) { arguments in
            guard case .atom(.long(let a)) = arguments[0], case .atom(.long(let b)) = arguments[1] else {
                throw ServantError("add: type")
            }
            return .atom(.long(a + b))
        }
        functions.register("tagged", withInfo: { _ in
            ServantResult(.atom(.boolean(true)), info: .dictionary(keys: .vector(.symbol(["k"])), values: .list([.atom(.long(1))])))
        })
        return functions
    }

    @Test func onlyRegisteredFunctionsRun() throws {
        #expect(registry.names == ["add", "tagged"])
        #expect(try registry.call(query: .vector(.char(Array("add[1;2]".utf8)))).result == .atom(.long(3)))
        // No allowlist was given: the refusal names what is served, not an allowlist.
        let unknown = #expect(throws: ServantError.self) { try registry.call(query: .vector(.char(Array("sub[1;2]".utf8)))) }
        #expect(unknown?.message == "`sub` is not a function this servant serves; it serves: add tagged", "\(String(describing: unknown))")
        let parsed = #expect(throws: ServantError.self) { try registry.call(ParsedQuery(function: "sub", arguments: [])) }
        #expect(parsed?.message == unknown?.message)
        let empty = #expect(throws: ServantError.self) { try FunctionRegistry().call(query: .vector(.char(Array("f 1".utf8)))) }
        #expect(empty?.message == "`f` is not a function this servant serves; it serves: none")
    }

    @Test func aRestrictedRegistryRefusesWhatTheAllowlistDoesNotName() throws {
        let restricted = registry.restricted(to: FunctionAllowlist(["add", "absent"]))
        #expect(restricted.names == ["add"])
        #expect(try restricted.call(query: .vector(.char(Array("add[1;2]".utf8)))).result == .atom(.long(3)))
        let refused = #expect(throws: ServantError.self) {
            try restricted.call(query: .vector(.char(Array("tagged[]".utf8))))
        }
        #expect(refused?.message.contains("`tagged` is not in the list of allowed functions") == true, "\(String(describing: refused))")
        #expect(throws: ServantError.self) { try restricted.call(ParsedQuery(function: "tagged", arguments: [])) }
        #expect(registry.restricted(to: .any).names == registry.names)
    }

    @Test func arityIsCheckedBeforeTheCall() {
        do {
            _ = try registry.call(query: .vector(.char(Array("add 1".utf8))))
            Issue.record("add 1 ran")
        } catch let error as ServantError {
            #expect(error.message.contains("rank"))
            #expect(error.message.contains("expected 2"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func expressionsAreNeverEvaluated() {
        for text in ["value \"add[1;2]\"", "add[1;2];exit 0", "add[1;value \"2\"]", "{x}[1]"] {
            #expect(throws: ServantError.self, "\(text)") {
                try registry.call(query: .vector(.char(Array(text.utf8))))
            }
        }
    }

    @Test func replyBytesAlwaysComeBack() throws {
        let message = QIPC.encode(.list([.atom(.long(5)), .vector(.char(Array("tagged[]".utf8)))]))
        let reply = try QIPC.decode(registry.reply(to: message)).value
        guard case .list(let items, _) = reply else {
            Issue.record("not a list")
            return
        }
        #expect(items.count == 3)
        #expect(items[0] == .atom(.long(5)))
        let garbage = try QIPC.decode(registry.reply(to: [9, 9, 9])).value
        guard case .list(let garbageItems, _) = garbage, garbageItems.count == 3,
            let text = ReplyAssembly.failure(result: garbageItems[1], info: garbageItems[2]),
            garbageItems[1] == .string(text)
        else {
            Issue.record("garbage not answered with an error")
            return
        }
        #expect(garbageItems[0] == .identity)
        #expect(text.hasPrefix("mserve: malformed"))
    }

    /// A trailing closure that only throws fits both `register` overloads; it registers a
    /// function returning a `QValue`, and compiles without naming its result type.
    @Test func aBodyThatOnlyThrowsRegistersWithoutNamingItsResultType() {
        var functions = FunctionRegistry()
        functions.register("boom", arity: 0...1) { _ in throw ServantError("boom: never works") }
        let failure = #expect(throws: ServantError.self) { try functions.call(query: .string("boom[]")) }
        #expect(failure?.message == "boom: never works")
    }

    private struct Bare: Error {}
    private struct Described: Error, CustomStringConvertible {
        var description: String { "the feed is down" }
    }
    private struct Localized: LocalizedError {
        var errorDescription: String? { "no prices for today" }
    }

    /// An error other than `ServantError` reaches the client as `NAME: DESCRIPTION`, never as
    /// the value's debug text; a `ServantError`'s text is unchanged.
    @Test(arguments: [
        (Bare() as any Error, "bare: Bare"),
        (Described(), "bare: the feed is down"),
        (Localized(), "bare: no prices for today"),
        (NSError(domain: "x", code: 7, userInfo: [NSLocalizedDescriptionKey: "custom ns error"]), "bare: custom ns error"),
        (ServantError("as thrown"), "as thrown"),
    ])
    func anErrorOtherThanServantErrorNamesTheFunction(thrown: any Error, expected: String) throws {
        var functions = FunctionRegistry()
        functions.register("bare", arity: 0...1) { _ -> QValue in throw thrown }
        let failure = #expect(throws: ServantError.self) { try functions.call(query: .string("bare[]")) }
        #expect(failure?.message == expected)
        // The reply a servant sends carries the same text.
        let reply = try QIPC.decode(functions.reply(to: QIPC.encode(.list([.atom(.long(5)), .string("bare[]")])))).value
        guard case .list(let items, _) = reply, items.count == 3 else {
            Issue.record("not (id; error; info): \(reply)")
            return
        }
        #expect(ReplyAssembly.failure(result: items[1], info: items[2]) == expected)
    }

    @Test func aResultLargerThanThePeerTakesIsAnsweredWithAnErrorSayingSo() throws {
        var functions = FunctionRegistry()
        functions.register("big", arity: 0...0) { _ in .vector(.long(Array(repeating: 7, count: 1_000))) }
        let message = QIPC.encode(.list([.atom(.long(5)), .string("big[]")]), messageType: .async)
        let small = try QIPC.decode(functions.reply(to: message, maximumReplySize: 500)).value
        guard case .list(let items, _) = small, items.count == 3,
            let text = ReplyAssembly.failure(result: items[1], info: items[2]), items[1] == .string(text)
        else {
            Issue.record("expected (5; \"error\"; info), got \(small)")
            return
        }
        #expect(items[0] == .atom(.long(5)))
        #expect(text.contains("over the 500-byte message limit"), "\(text)")
        // Within the limit, the result as it is.
        let fits = try QIPC.decode(functions.reply(to: message, maximumReplySize: 100_000)).value
        #expect(fits == .list([.atom(.long(5)), .vector(.long(Array(repeating: 7, count: 1_000)))]))
    }

    /// A refusal is held to the limit as a result is: its text names the function, which may
    /// be as long as the query, and appears twice in the reply (the result and info's `error`).
    @Test func aRefusalLargerThanThePeerTakesIsAnsweredWithAnErrorSayingSo() throws {
        let name = "f" + String(repeating: "x", count: 1_000)
        let message = QIPC.encode(.list([.atom(.long(5)), .atom(.symbol(name))]), messageType: .async)
        let refusal = FunctionRegistry().reply(to: message)
        #expect(refusal.count > 2_000)
        let limited = FunctionRegistry().reply(to: message, maximumReplySize: 2_000)
        #expect(limited == ReplyAssembly.resultTooLarge(id: .atom(.long(5)), bytes: refusal.count, limit: 2_000))
        #expect(FunctionRegistry().reply(to: message, maximumReplySize: refusal.count) == refusal)
    }
}

