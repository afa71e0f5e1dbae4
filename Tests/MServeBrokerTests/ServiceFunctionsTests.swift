import Testing

@testable import MServeBroker

/// What the broker asks of the service's functions for every query is answered from the
/// counts as they are now: asked again about the same function after servants announce,
/// become ready, leave dispatch or are forgotten, the answers follow.
struct ServiceFunctionsTests {
    @Test func theAnswersForOneFunctionFollowEveryChange() {
        let functions = ServiceFunctions()
        // No servant known yet: a query waits for one, and no narrowing is needed.
        #expect(functions.mayServe("f"))
        #expect(functions.everyReadyServantServes("f"))

        let onlyG = ServedFunctions.only(["g"])
        functions.announce(onlyG, replacing: nil)
        #expect(!functions.mayServe("f"))
        #expect(functions.mayServe("g"))
        functions.becameReady(onlyG)
        #expect(!functions.everyReadyServantServes("f"))
        #expect(functions.everyReadyServantServes("g"))

        // The servant announces f as well.
        let fAndG = ServedFunctions.only(["f", "g"])
        functions.announce(fAndG, replacing: onlyG)
        #expect(functions.mayServe("f"))
        #expect(!functions.everyReadyServantServes("f"))
        functions.leftReady(onlyG)
        functions.becameReady(fAndG)
        #expect(functions.everyReadyServantServes("f"))

        // A second servant serving every function joins, then leaves.
        functions.announce(.every, replacing: nil)
        functions.becameReady(.every)
        #expect(functions.mayServe("h"))
        #expect(!functions.everyReadyServantServes("h"))
        #expect(functions.everyReadyServantServes("f"))
        functions.leftReady(.every)
        #expect(!functions.everyReadyServantServes("h"))
        #expect(functions.mayServe("h"))
        functions.forget(.every)
        #expect(!functions.mayServe("h"))
        #expect(functions.mayServe("f"))
    }

    /// The refusal of a function no servant serves lists the service's functions, but not the
    /// names a servant announced that no query ever reaches it with: the broker's own, q
    /// built-ins, names in q's reserved namespaces, names that are not q identifiers.
    @Test func theFunctionsListedInARefusalAreOnlyOnesAQueryMayCall() {
        let functions = ServiceFunctions()
        functions.announce(.only(["twice", ".api.trades", ".mserve.status", ".mserve.x", "sum", ".z.ts", ".Q.en", "a b"]), replacing: nil)
        #expect(
            functions.unservedMessage("nosuch")
                == "no servant of this service serves the function nosuch; its functions: .api.trades twice")
        let none = ServiceFunctions()
        none.announce(.only(["sum", ".mserve.status"]), replacing: nil)
        #expect(
            none.unservedMessage("nosuch")
                == "no servant of this service serves the function nosuch; its servants announce none a query may call")
    }
}
