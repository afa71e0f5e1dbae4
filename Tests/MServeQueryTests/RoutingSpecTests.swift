import MServeQuery
import QData
import Testing

@Suite("Routing spec")
struct RoutingSpecTests {
    func route(_ spec: RoutingSpec, _ text: String) throws -> String {
        spec.routingString(for: try QueryParser.parse(text)).value
    }

    @Test func defaultIsTheFirstArgument() throws {
        #expect(RoutingSpec.default.description == "arg:1")
        #expect(try route(.default, "proc1 `IBM") == "IBM")
        #expect(try route(.default, "proc1[`IBM;2024.01.02]") == "IBM")
        #expect(try route(.default, "proc2 `IBM`MSFT") == "IBM,MSFT")
        #expect(try route(.default, "(`proc1;\"IBM\")") == "IBM")
        #expect(try route(.default, "proc1[2024.01.02;`IBM]") == "2024.01.02")
    }

    @Test func aRoutingStringOverTheLimitIsItsStartAndAHash() throws {
        let long = "proc1 \"" + String(repeating: "x", count: 5_000) + "\""
        let routed = try route(.default, long)
        #expect(routed.utf8.count <= RoutingSpec.longestRoutingString)
        #expect(routed.hasPrefix(String(repeating: "x", count: 900)))
        #expect(routed.contains("…#"))
        // The same argument routes the same way; one differing only at its end does not.
        #expect(try route(.default, long) == routed)
        let otherEnd = "proc1 \"" + String(repeating: "x", count: 4_999) + "y\""
        #expect(try route(.default, otherEnd) != routed)
        // Multi-byte characters are not cut in half.
        let wide = "proc1 \"" + String(repeating: "é", count: 2_000) + "\""
        let routedWide = try route(.default, wide)
        #expect(routedWide.utf8.count <= RoutingSpec.longestRoutingString)
        #expect(routedWide.hasPrefix("éé"))
        // Within the limit, the text is kept whole.
        let exact = String(repeating: "z", count: RoutingSpec.longestRoutingString)
        #expect(RoutingSpec.bounded(exact) == exact)
    }

    @Test func queryWithoutArgumentsRoutesToItsFunction() throws {
        #expect(try route(.default, "proc1[]") == "proc1")
        #expect(RoutingSpec.default.routingString(for: try QueryParser.parse(.atom(.symbol("proc9")))) == "proc9")
    }

    @Test func argumentBeyondTheCountRoutesToTheFunction() throws {
        let spec = try RoutingSpec(parsing: "arg:3")
        #expect(try route(spec, "proc1[`IBM;1;`x]") == "x")
        #expect(try route(spec, "proc1[`IBM;1]") == "proc1")
        // docs/PROTOCOL.md: arg:2 of a one-argument query is the function's name, in a join too.
        let second = try RoutingSpec(parsing: "arg:2")
        #expect(try route(second, "proc1 `IBM") == "proc1")
        #expect(try route(second, "proc1[]") == "proc1")
        #expect(try route(RoutingSpec(parsing: "function,arg:2"), "proc1 `IBM") == "proc1|proc1")
    }

    @Test func functionPart() throws {
        let spec = try RoutingSpec(parsing: "function")
        #expect(try route(spec, "proc1 `IBM") == "proc1")
    }

    @Test func joinedPartsUseABar() throws {
        let spec = try RoutingSpec(parsing: "function,arg:1")
        #expect(spec.parts == [.function, .argument(1)])
        #expect(try route(spec, "proc1 `IBM") == "proc1|IBM")
        let spaced = try RoutingSpec(parsing: " arg:2 , arg:1 ")
        #expect(spaced.description == "arg:2,arg:1")
        #expect(try route(spaced, "proc1[`IBM;7]") == "7|IBM")
    }

    @Test func pluginSpecNamesThePlugin() throws {
        let spec = try RoutingSpec(parsing: "plugin:sharded")
        #expect(spec.pluginName == "sharded")
        #expect(spec.description == "plugin:sharded")
        #expect(try route(spec, "proc1 `IBM") == "IBM")
        #expect(RoutingSpec.default.pluginName == nil)
        // The text after the name is the plugin's configuration, whatever it holds.
        let configured = try RoutingSpec(parsing: " plugin:sharded:shards=4,mode=a b ")
        #expect(configured.pluginName == "sharded:shards=4,mode=a b ")
        #expect(configured.description == "plugin:sharded:shards=4,mode=a b ")
        #expect(try route(configured, "proc1 `IBM") == "IBM")
    }

    @Test func blankSpecIsTheDefault() throws {
        #expect(try RoutingSpec(parsing: "") == .default)
        #expect(try RoutingSpec(parsing: "  ") == .default)
        #expect(try RoutingSpec(parsing: "arg") == .default)
    }

    @Test func malformedSpecsThrowWithTheirColumn() {
        let cases: [(String, Int)] = [
            ("arg:0", 1), ("arg:x", 1), ("function,nope", 10), ("arg:1,,function", 7),
            ("plugin:", 1), ("plugin:a,arg:1", 1), ("arg:1,plugin:a", 7), ("arg:99999", 1),
            ("plugin:a b", 1), ("plugin::x", 1), (" plugin:a b:x", 2),
        ]
        for (spec, column) in cases {
            do {
                _ = try RoutingSpec(parsing: spec)
                Issue.record("'\(spec)' parsed")
            } catch {
                #expect(error.code == .routing, "\(spec)")
                #expect(error.column == column, "\(spec): \(error)")
            }
        }
    }

    @Test func routingStringIsALiteralAndPrintsItsValue() {
        let routing: RoutingString = "IBM"
        #expect(routing.value == "IBM")
        #expect(routing.description == "IBM")
        #expect(routing == RoutingString("IBM"))
    }
}
