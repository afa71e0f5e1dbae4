import MServeQuery
import QData
import Testing

@Suite("Secure invocation")
struct SecureInvocationTests {
    /// Each attempt, the code it must fail with, and the 1-based column of the offending part.
    static let attempts: [(String, QueryError.Code, Int)] = [
        ("value \"exit 0\"", .refused, 1),
        ("eval (`exit;0)", .refused, 1),
        ("system \"rm -rf /\"", .refused, 1),
        ("exit 0", .refused, 1),
        ("parse \"1+1\"", .refused, 1),
        ("get `:secret", .refused, 1),
        ("set[`a;1]", .refused, 1),
        ("hopen 5001", .refused, 1),
        ("hclose 3", .refused, 1),
        ("show 1", .refused, 1),
        ("  value[\"x\"]", .refused, 3),
        (".z.pw[`u;\"p\"]", .refused, 1),
        (".Q.hp[\"http://x\";`;\"\"]", .refused, 1),
        ("(`system;\"ls\")", .refused, 2),
        ("( `value ; \"exit 0\")", .refused, 3),
        ("a:1", .refused, 2),
        ("proc1:{system \"ls\"}", .refused, 6),
        ("proc1::1", .refused, 6),
        ("proc1 :1", .refused, 7),
        ("proc1[`IBM];exit 0", .refused, 12),
        ("proc1 `IBM;system \"ls\"", .refused, 11),
        ("proc1 `IBM;", .refused, 11),
        ("{system \"ls\"}[]", .refused, 1),
        ("proc1[{x}]", .refused, 7),
        ("proc1[value \"x\"]", .refused, 7),
        ("proc1[`IBM;system \"ls\"]", .refused, 12),
        ("proc1 f `IBM", .refused, 7),
        ("proc1[x]", .refused, 7),
        ("proc1[.z.pw]", .refused, 7),
        ("proc1 enlist value \"x\"", .refused, 14),
        ("\\ls", .refused, 1),
        ("\\\\", .refused, 1),
        ("proc1 `IBM\n\\ls", .refused, 12),
        ("1+1", .refused, 2),
        ("proc1 1+1", .refused, 8),
        ("proc1[1-1]", .refused, 8),
        ("proc1 @ `IBM", .refused, 7),
        ("proc1 . (`IBM;1)", .refused, 7),
        ("proc1'[`IBM]", .refused, 6),
        ("proc1/[`IBM]", .refused, 6),
        ("proc1\\[`IBM]", .refused, 6),
        ("proc1 each `IBM`MSFT", .refused, 7),
        ("proc1 `IBM / comment", .refused, 12),
        ("proc1[`IBM] `x", .refused, 13),
        ("proc1[`IBM][0]", .refused, 12),
        ("proc1 [`IBM]", .refused, 7),
        ("proc1 `IBM `MSFT", .refused, 12),
        ("proc1 (`IBM;value \"x\")", .refused, 13),
        ("proc1 (`IBM;{x})", .refused, 13),
        ("proc1[`IBM]; proc2[]", .refused, 12),
        ("'`signal", .syntax, 1),
        ("proc1[`IBM", .syntax, 11),
        ("proc1 `IBM]", .syntax, 11),
        ("proc1 (`IBM", .syntax, 12),
        ("proc1 $[1b;2;3]", .refused, 7),
        ("proc1 -[1;2]", .refused, 7),
        ("select from trade", .refused, 1),
        ("proc1 \"a\"\"b\"", .refused, 10),
        ("proc1 0N!`x", .refused, 9),
        ("proc1 ,`IBM", .refused, 7),
        ("if[1b;exit 0]", .refused, 1),
        ("do[1;exit 0]", .refused, 1),
        ("proc1[`IBM;]", .unsupportedForm, 12),
    ]

    @Test func injectionAttemptsAreRefusedWithTheirColumn() {
        for (text, code, column) in Self.attempts {
            let error = parseError(text)
            #expect(error != nil, "accepted: \(text)")
            guard let error else { continue }
            if text.hasPrefix("'") {
                #expect(error.code == .refused || error.code == .syntax, "\(text): \(error)")
            } else {
                #expect(error.code == code, "\(text): \(error)")
                #expect(error.column == column, "\(text): \(error)")
            }
        }
    }

    @Test func refusalsNameWhatWasRefused() {
        #expect(parseError("value \"exit 0\"")?.message.contains("`value`") == true)
        #expect(parseError("a:1")?.message.contains("assignment") == true)
        #expect(parseError("proc1[{x}]")?.message.contains("lambda") == true)
        #expect(parseError("proc1[`IBM];exit 0")?.message.contains("statement") == true)
        #expect(parseError("proc1[x]")?.message.contains("`x`") == true)
        #expect(parseError("\\ls")?.message.contains("system command") == true)
        #expect(parseError("1+1")?.message.contains("'+'") == true)
    }

    @Test func validQueriesPassValidation() throws {
        for text in ["proc1 `IBM", "proc1[`IBM;1]", "(`proc1;`IBM)", ".api.trades[]", "proc1 (`value;\"x\")"] {
            try SecureInvocation.validate(try QueryParser.parse(text))
        }
        try SecureInvocation.validate(
            try QueryParser.parse(.list([.atom(.symbol("proc1")), .atom(.symbol("IBM"))])))
    }

    @Test func validationDoubleChecksHandBuiltQueries() {
        let refused: [ParsedQuery] = [
            ParsedQuery(function: "value", arguments: [.vector(.char(Array("exit 0".utf8)))]),
            ParsedQuery(function: "proc1;exit", arguments: []),
            ParsedQuery(function: "", arguments: []),
            ParsedQuery(function: ".z.ps", arguments: []),
            ParsedQuery(
                function: "proc1",
                arguments: [.list([.atom(.symbol("system")), .vector(.char(Array("ls".utf8)))])]),
            ParsedQuery(function: "proc1", arguments: [.atom(.symbol("IBM"))], text: "value \"exit 0\""),
            ParsedQuery(function: "proc1", arguments: [], text: "proc1 `IBM"),
            // The text would run another (allowed) function than the one checked: as many
            // arguments, but not the same call.
            ParsedQuery(function: "proc1", arguments: [.atom(.symbol("IBM"))], text: "proc2 `IBM"),
            ParsedQuery(function: ".api.f", arguments: [], text: ".api.g[]"),
        ]
        for query in refused {
            do {
                try SecureInvocation.validate(query)
                Issue.record("accepted \(query.function)")
            } catch {
                #expect(error.code == .refused, "\(query.function): \(error)")
            }
        }
    }

    /// A parsed query is trusted without a second parse only while it is as the parser left it.
    @Test func aParsedQueryChangedAfterParsingIsCheckedAgain() throws {
        var renamed = try QueryParser.parse("proc1 `IBM")
        renamed.function = "system"
        var retexted = try QueryParser.parse("proc1 `IBM")
        retexted.text = "value \"exit 0\""
        var regrown = try QueryParser.parse("proc1 `IBM")
        regrown.arguments.append(.atom(.long(1)))
        var reborn = try QueryParser.parse(utf8: Array("proc1 `IBM".utf8))
        reborn.function = "exit"
        for query in [renamed, retexted, regrown, reborn] {
            do {
                try SecureInvocation.validate(query)
                Issue.record("accepted \(query.function) with text \(query.text ?? "none")")
            } catch {
                #expect(error.code == .refused, "\(query.function): \(error)")
            }
        }
        // Still subject to the allowlist.
        #expect(throws: QueryError.self) {
            try SecureInvocation.validate(try QueryParser.parse("proc1 `IBM"), allowlist: FunctionAllowlist(["proc2"]))
        }
    }

    @Test func allowlistRefusesOtherFunctions() throws {
        let allowlist = FunctionAllowlist(["proc1", ".api.trades"])
        try SecureInvocation.validate(try QueryParser.parse("proc1 `IBM"), allowlist: allowlist)
        try SecureInvocation.validate(try QueryParser.parse(".api.trades[]"), allowlist: allowlist)
        do {
            try SecureInvocation.validate(try QueryParser.parse("  proc2 `IBM"), allowlist: allowlist)
            Issue.record("proc2 accepted")
        } catch {
            #expect(error.code == .notAllowed)
            #expect(error.column == 3)
            #expect(error.message.contains("`proc2`"))
        }
        #expect(FunctionAllowlist.any.allows("anything"))
        #expect(FunctionAllowlist.any.allowsAnyFunction)
        #expect(!FunctionAllowlist([]).allows("proc1"))
        #expect(throws: QueryError.self) {
            try FunctionAllowlist(["proc1"]).check(ParsedQuery(function: "proc3"))
        }
    }
}

@Suite("Reserved names")
struct ReservedNameTests {
    @Test func everyBuiltinIsRefused() {
        for name in ["reciprocal", "value", "xrank", "abs", "enlist", "tables", "wj1"] {
            #expect(parseError("\(name) 1")?.code == .refused, "\(name)")
        }
        #expect(parseError("reciprocals 1") == nil)
        #expect(parseError("values 1") == nil)
    }
}

@Suite("Reserved namespaces")
struct ReservedNamespaceTests {
    /// A one-letter namespace is reserved itself, not only the names in it: `.z[]` or `.Q 1`
    /// calls q's own namespace dictionary, and `` `.z `` in a list form would do the same.
    static let bareNamespaces = [".z", ".Q", ".q", ".h", ".j", ".o", ".a", ".Z"]

    @Test func bareOneLetterNamespacesAreRefusedInEveryForm() {
        for namespace in Self.bareNamespaces {
            for text in ["\(namespace)[]", "\(namespace) 1", "\(namespace)[`IBM;1]", "(`\(namespace);1)"] {
                let error = parseError(text)
                #expect(error?.code == .refused, "\(text): \(String(describing: error))")
                #expect(
                    error?.message == "`\(namespace)` is in q's reserved namespace `\(namespace)`",
                    "\(text): \(String(describing: error))")
            }
            do {
                try SecureInvocation.validate(ParsedQuery(function: namespace, arguments: [.atom(.long(1))]))
                Issue.record("validation accepted a call of \(namespace)")
            } catch {
                #expect(error.code == .refused, "\(namespace): \(error)")
            }
        }
        // Parse forms (a q client's `(`.z;1)` sent as a list) meet the same check.
        #expect(throws: QueryError.self) {
            try QueryParser.parse(.list([.atom(.symbol(".Q")), .atom(.long(1))]))
        }
    }

    @Test func longerNamespacesAndNamesStartingWithALetterNamespaceAreAllowed() throws {
        for text in [".zz[]", ".Qx 1", ".api.z 1", ".zq.f[`IBM]", "z 1", "Q[]"] {
            #expect(parseError(text) == nil, "\(text)")
            try SecureInvocation.validate(try QueryParser.parse(text))
            try SecureInvocation.validate(ParsedQuery(function: String(text.prefix { $0 != "[" && $0 != " " })))
        }
    }
}
