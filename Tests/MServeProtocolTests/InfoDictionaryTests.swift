import MServeProtocol
import QData
import Testing

struct InfoDictionaryTests {
    let timings = QueryTimings(received: 1_000, queued: 10, execution: 20, elapsed: 30)

    @Test func theBrokersKeysComeInOrderWithTheirTypes() {
        let info = InfoDictionary.make(routing: "IBM", servant: "h:1", timings: timings)
        let entries = InfoDictionary.symbolKeyedEntries(info)
        #expect(entries?.map(\.0) == InfoDictionary.brokerKeys)
        #expect(entries?[0].1 == .atom(.symbol("IBM")))
        #expect(entries?[1].1 == .atom(.symbol("h:1")))
        #expect(entries?[2].1 == .atom(.timespan(30)))
        #expect(entries?[3].1 == .atom(.timespan(20)))
        #expect(entries?[4].1 == .atom(.timespan(10)))
        #expect(entries?[5].1 == .atom(.timestamp(1_000)))
    }

    @Test func aServantsDictionaryIsKeptAndTheRoutingAdded() {
        let servantInfo = InfoDictionary.dictionary([("rows", .atom(.long(5))), ("cache", .atom(.symbol("hit")))])
        let info = InfoDictionary.make(routing: "IBM", servant: "h:1", timings: timings, servantInfo: servantInfo)
        let entries = InfoDictionary.symbolKeyedEntries(info) ?? []
        #expect(entries.map(\.0) == ["rows", "cache"] + InfoDictionary.brokerKeys)
        #expect(entries[0].1 == .atom(.long(5)))
    }

    @Test func brokerKeysNeverOverwriteTheServants() {
        let servantInfo = InfoDictionary.dictionary([
            ("elapsed", .atom(.long(7))), ("routing", .atom(.symbol("old"))),
        ])
        let info = InfoDictionary.make(routing: "IBM", servant: "h:1", timings: timings, servantInfo: servantInfo)
        let entries = Dictionary(uniqueKeysWithValues: InfoDictionary.symbolKeyedEntries(info) ?? [])
        #expect(entries["elapsed"] == .atom(.long(7)))
        #expect(entries["brokerElapsed"] == .atom(.timespan(30)))
        #expect(entries["routing"] == .atom(.symbol("IBM")))
        #expect(entries["execution"] == .atom(.timespan(20)))
    }

    @Test func aBrokerKeyIsPrefixedAgainUntilItIsFree() {
        let servantInfo = InfoDictionary.dictionary([
            ("elapsed", .atom(.long(4))), ("brokerElapsed", .atom(.long(3))),
            ("received", .atom(.long(5))), ("brokerReceived", .atom(.long(6))), ("brokerBrokerReceived", .atom(.long(7))),
            ("servant", .atom(.symbol("mine"))),
        ])
        let info = InfoDictionary.make(
            routing: "IBM", servant: "h:1", timings: timings, servantInfo: servantInfo, error: "failed")
        let entries = InfoDictionary.symbolKeyedEntries(info) ?? []
        #expect(
            entries.map(\.0) == [
                "elapsed", "brokerElapsed", "received", "brokerReceived", "brokerBrokerReceived", "servant",
                "routing", "brokerServant", "brokerBrokerElapsed", "execution", "queued", "brokerBrokerBrokerReceived",
                "error",
            ])
        #expect(Set(entries.map(\.0)).count == entries.count, "a key twice: \(entries.map(\.0))")
        let byKey = Dictionary(entries) { first, _ in first }
        #expect(byKey["brokerElapsed"] == .atom(.long(3)))
        #expect(byKey["brokerBrokerElapsed"] == .atom(.timespan(30)))
        #expect(byKey["brokerBrokerReceived"] == .atom(.long(7)))
        #expect(byKey["brokerBrokerBrokerReceived"] == .atom(.timestamp(1_000)))
        #expect(byKey["brokerServant"] == .atom(.symbol("h:1")))
    }

    @Test func aThirdItemThatIsNotADictionaryIsKeptAside() {
        let info = InfoDictionary.make(
            routing: "IBM", servant: "h:1", timings: timings, servantInfo: .vector(.long([1, 2])))
        let entries = Dictionary(uniqueKeysWithValues: InfoDictionary.symbolKeyedEntries(info) ?? [])
        #expect(entries["servantInfo"] == .vector(.long([1, 2])))
        #expect(entries["routing"] == .atom(.symbol("IBM")))
    }

    @Test func dictionariesWithSimpleValueVectorsAreRead() {
        let value = QValue.dictionary(keys: .vector(.symbol(["a", "b"])), values: .vector(.long([1, 2])))
        let entries = InfoDictionary.symbolKeyedEntries(value)
        #expect(entries?.map(\.0) == ["a", "b"])
        #expect(entries?.map(\.1) == [.atom(.long(1)), .atom(.long(2))])
        #expect(InfoDictionary.symbolKeyedEntries(.atom(.long(1))) == nil)
    }
}
