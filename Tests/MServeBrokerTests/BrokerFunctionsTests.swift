import MServeBroker
import MServeQuery
import QData
import Testing

/// The broker's own functions, `.mserve.status[]` and `.mserve.servants[]`, computed from a
/// snapshot of the broker's state.
@Suite struct BrokerFunctionsTests {
    let snapshot = BrokerSnapshot(
        servants: [
            ServantStatus(
                endpoint: "tcp://10.0.0.1:5001", name: "10.0.0.1:5001", state: "ready", inFlight: 1,
                capacity: 2, served: 40, meanExecution: .microseconds(250), lastRouting: "IBM"),
            ServantStatus(
                endpoint: "tcp://10.0.0.2:5001", name: "10.0.0.2:5001", state: "connecting", inFlight: 0,
                capacity: 1, served: 0),
        ],
        queued: 3, inFlight: 1, answered: 40, clientEndpoint: "tcp://127.0.0.1:5570", algorithm: "match",
        uptime: .seconds(90))

    @Test func onlyTheMserveNamespaceIsTheBrokers() {
        #expect(BrokerFunctions.isBrokerFunction(".mserve.status"))
        #expect(BrokerFunctions.isBrokerFunction(".mserve.anything"))
        #expect(!BrokerFunctions.isBrokerFunction("mserve.status"))
        #expect(!BrokerFunctions.isBrokerFunction(".mservex.status"))
        #expect(!BrokerFunctions.isBrokerFunction("proc1"))
    }

    @Test func statusIsADictionaryOfTheBrokersCounters() throws {
        let value = try BrokerFunctions.call(".mserve.status", arguments: [], snapshot: snapshot)
        let entries = try #require(value.symbolKeyedPairs)
        #expect(entries.map(\.0) == [
            "broker", "algorithm", "routing", "lookAhead", "queueCapacity", "queueBytes", "deadline", "redispatch",
            "maxMessage", "waitForServant", "uptime", "answered", "queued", "queuedBytes", "inFlight", "servantsReady", "servantsKnown",
            "rss", "rssPeak",
        ])
        let byKey = Dictionary(uniqueKeysWithValues: entries)
        #expect(byKey["broker"] == .atom(.symbol("tcp://127.0.0.1:5570")))
        #expect(byKey["algorithm"] == .atom(.symbol("match")))
        #expect(byKey["uptime"] == .atom(.timespan(90_000_000_000)))
        #expect(byKey["answered"] == .atom(.long(40)))
        #expect(byKey["queued"] == .atom(.long(3)))
        #expect(byKey["inFlight"] == .atom(.long(1)))
        #expect(byKey["servantsReady"] == .atom(.long(1)))
        #expect(byKey["servantsKnown"] == .atom(.long(2)))
        // This snapshot knows no memory figures: q's null long.
        #expect(byKey["rss"] == .atom(.long(.min)))
        #expect(byKey["rssPeak"] == .atom(.long(.min)))
    }

    @Test func statusShowsTheBrokersResidentMemoryAndPeak() async throws {
        try await ScriptedBroker.run(servants: 0) { run in
            let value = try BrokerFunctions.call(".mserve.status", arguments: [], snapshot: await run.broker.snapshot())
            let byKey = Dictionary(uniqueKeysWithValues: try #require(value.symbolKeyedPairs))
            guard case .atom(.long(let rss)) = byKey["rss"], case .atom(.long(let peak)) = byKey["rssPeak"] else {
                Issue.record("rss and rssPeak are not longs: \(String(describing: byKey["rss"])), \(String(describing: byKey["rssPeak"]))")
                return
            }
            // The broker runs in this process: its figures are this process's, in bytes.
            #expect(rss > 1 << 20)
            #expect(peak >= rss)
        }
    }

    @Test func statusShowsTheConfigurationInForce() async throws {
        try await ScriptedBroker.run(servants: 0, configure: {
            $0.dispatch.algorithm = "match:nowait"
            $0.dispatch.routing = try! RoutingSpec(parsing: "function,arg:2")
            $0.dispatch.lookAhead = 4
            $0.dispatch.queueCapacity = 10
            $0.dispatch.queueBytes = 5_000
            $0.dispatch.queryDeadline = .seconds(2)
            $0.servants.redispatchLimit = 3
            $0.clients.maxMessageSize = 1 << 20
            $0.dispatch.servantWait = .seconds(3)
        }) { run in
            let value = try BrokerFunctions.call(".mserve.status", arguments: [], snapshot: await run.broker.snapshot())
            let byKey = Dictionary(uniqueKeysWithValues: try #require(value.symbolKeyedPairs))
            #expect(byKey["algorithm"] == .atom(.symbol("match:nowait")))
            #expect(byKey["routing"] == .atom(.symbol("function,arg:2")))
            #expect(byKey["lookAhead"] == .atom(.long(4)))
            #expect(byKey["queueCapacity"] == .atom(.long(10)))
            #expect(byKey["queueBytes"] == .atom(.long(5_000)))
            #expect(byKey["deadline"] == .atom(.timespan(2_000_000_000)))
            #expect(byKey["redispatch"] == .atom(.long(3)))
            #expect(byKey["maxMessage"] == .atom(.long(1 << 20)))
            #expect(byKey["waitForServant"] == .atom(.timespan(3_000_000_000)))
        }
    }

    @Test func servantsIsATableWithARowPerServant() throws {
        let value = try BrokerFunctions.call(".mserve.servants", arguments: [.identity], snapshot: snapshot)
        guard case .table(let table, _) = value else {
            Issue.record("not a table: \(value)")
            return
        }
        #expect(table.columns == [
            "name", "endpoint", "state", "inFlight", "capacity", "served", "meanExecution", "lastRouting",
        ])
        #expect(table.values[0] == .vector(.symbol(["10.0.0.1:5001", "10.0.0.2:5001"])))
        #expect(table.values[2] == .vector(.symbol(["ready", "connecting"])))
        #expect(table.values[3] == .vector(.long([1, 0])))
        #expect(table.values[4] == .vector(.long([2, 1])))
        #expect(table.values[5] == .vector(.long([40, 0])))
        #expect(table.values[6] == .vector(.timespan([250_000, 0])))
        #expect(table.values[7] == .vector(.symbol(["IBM", ""])))
    }

    @Test func anUnknownFunctionNamesTheOnesThereAre() {
        #expect {
            try BrokerFunctions.call(".mserve.stop", arguments: [], snapshot: snapshot)
        } throws: { error in
            (error as? BrokerError)?.message
                == ".mserve.stop: not a broker function; the broker answers .mserve.status[] and .mserve.servants[]"
        }
    }

    @Test func argumentsAreRefused() {
        #expect {
            try BrokerFunctions.call(".mserve.status", arguments: [.atom(.symbol("IBM"))], snapshot: snapshot)
        } throws: { error in
            (error as? BrokerError)?.message == ".mserve.status: takes no arguments; call it as .mserve.status[]"
        }
    }
}
