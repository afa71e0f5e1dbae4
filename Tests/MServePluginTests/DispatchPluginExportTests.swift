// Tests of DispatchPluginExport.swift, a Swift plugin's side of the ABI: whatever C views the
// broker passes — strings rewritten in the same buffers, servants added, removed, moved — the
// Swift algorithm sees exactly them, although the Swift views are cached between calls.
import CMServePlugin
import Glibc
@testable import MServePlugin
import Synchronization
import Testing

/// What a `RecordingAlgorithm` was given.
enum Observation: Equatable, CustomStringConvertible {
    case choose(routing: [UInt8], servants: [ExactServantView])
    case completed(servant: ExactServantView, routing: [UInt8], executionNanoseconds: UInt64)

    var description: String {
        switch self {
        case .choose(let routing, let servants):
            "choose \(String(decoding: routing, as: UTF8.self)): \(servants)"
        case .completed(let servant, let routing, let nanoseconds):
            "completed \(String(decoding: routing, as: UTF8.self)): \(servant) \(nanoseconds)"
        }
    }
}

/// A Swift algorithm that writes down everything it is given, under the configuration text it
/// was created with (one per test), and takes the first free servant.
final class RecordingAlgorithm: SwiftDispatchAlgorithm {
    /// The observations of every recording algorithm, by configuration.
    static let observations = Mutex<[String: [Observation]]>([:])
    private let key: String

    init?(config: String) { key = config }

    /// The observations of the algorithm created with `config`.
    static func observed(by config: String) -> [Observation] { observations.withLock { $0[config] ?? [] } }

    func choose(routing: String, servants: [ServantView]) -> Int? {
        let observation = Observation.choose(routing: Array(routing.utf8), servants: servants.map(ExactServantView.init))
        Self.observations.withLock { $0[key, default: []].append(observation) }
        return servants.firstIndex(where: \.isFree)
    }

    func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {
        let observation = Observation.completed(
            servant: ExactServantView(servant), routing: Array(routing.utf8), executionNanoseconds: executionNanoseconds)
        Self.observations.withLock { $0[key, default: []].append(observation) }
    }
}

/// The recording algorithm exported as a plugin table, as a Swift plugin file does.
let recordingPluginTable = DispatchPluginExport<RecordingAlgorithm>.table(
    name: "recording", description: "writes down what it is given",
    create: { DispatchPluginExport<RecordingAlgorithm>.create(config: $0) })

/// C views written the way a broker may write them: each string in a buffer of its own that is
/// rewritten in place while it fits (so a plugin must compare contents, never addresses).
final class CServantViewBuffers {
    private var buffers: [UnsafeMutablePointer<CChar>] = []
    private var capacities: [Int] = []
    private(set) var views: [mserve_servant_view] = []
    /// When set, a NULL pointer is passed for empty strings.
    var emptyAsNull = false

    deinit { buffers.forEach { $0.deallocate() } }

    /// Buffer `slot` holding `string`, rewritten in place when it fits.
    func cString(_ string: String, slot: Int) -> UnsafePointer<CChar>? {
        if string.isEmpty, emptyAsNull { return nil }
        let bytes = Array(string.utf8)
        while buffers.count <= slot {
            buffers.append(.allocate(capacity: 32))
            capacities.append(32)
        }
        if bytes.count + 1 > capacities[slot] {
            buffers[slot].deallocate()
            capacities[slot] = bytes.count + 1
            buffers[slot] = .allocate(capacity: capacities[slot])
        }
        for (index, byte) in bytes.enumerated() { buffers[slot][index] = CChar(bitPattern: byte) }
        buffers[slot][bytes.count] = 0
        return UnsafePointer(buffers[slot])
    }

    /// The C views of `servants`; slots are reused from one call to the next.
    func write(_ servants: [ServantView], firstSlot: Int) -> [mserve_servant_view] {
        views = servants.enumerated().map { index, servant in
            let slot = firstSlot + 3 * index
            return mserve_servant_view(
                id: servant.id,
                name: cString(servant.name, slot: slot),
                host: cString(servant.host, slot: slot + 1),
                in_flight: UInt32(clamping: servant.inFlight),
                capacity: UInt32(clamping: servant.capacity),
                last_routing: cString(servant.lastRouting, slot: slot + 2),
                queries_served: servant.queriesServed,
                mean_execution_ns: servant.meanExecutionNanoseconds
            )
        }
        return views
    }
}

/// Calls a recording plugin's table directly, as a broker written in C would.
final class RecordingPluginCaller {
    let config = "recording-\(UInt64.random(in: 0...UInt64.max))"
    private let table = recordingPluginTable.pointer.assumingMemoryBound(to: mserve_dispatch_plugin.self)
    private let state: UnsafeMutableRawPointer
    let buffers = CServantViewBuffers()
    /// The observations the plugin should have made so far.
    private(set) var expected: [Observation] = []

    init() throws {
        let config = config
        let create = try #require(table.pointee.create)
        state = try #require(config.withCString { create($0) })
    }

    deinit { table.pointee.destroy!(state) }

    /// Passes `servants` (and `routing`, NULL when nil) to `choose`; returns its answer.
    @discardableResult
    func choose(_ routing: String?, _ servants: [ServantView]) -> Int64 {
        var views = buffers.write(servants, firstSlot: 5)
        let routingPointer = routing.flatMap { buffers.cString($0, slot: 0) }
        expected.append(.choose(routing: Array((routing ?? "").utf8), servants: servants.map(ExactServantView.init)))
        return views.withUnsafeMutableBufferPointer { views in
            table.pointee.choose!(state, routingPointer, views.baseAddress, views.count)
        }
    }

    /// Passes `servant` to `completed`.
    func completed(_ servant: ServantView, routing: String, nanoseconds: UInt64 = 1_000) {
        // Other slots than choose's: a servant's strings may sit anywhere.
        var view = buffers.write([servant], firstSlot: 1)[0]
        let routingPointer = buffers.cString(routing, slot: 4)
        expected.append(
            .completed(servant: ExactServantView(servant), routing: Array(routing.utf8), executionNanoseconds: nanoseconds))
        table.pointee.completed!(state, &view, routingPointer, nanoseconds)
    }

    /// Checks that the algorithm observed exactly what was passed, call by call.
    func expectObservedExactly(sourceLocation: SourceLocation = #_sourceLocation) {
        let observed = RecordingAlgorithm.observed(by: config)
        #expect(observed.count == expected.count, sourceLocation: sourceLocation)
        for (index, (seen, passed)) in zip(observed, expected).enumerated() where seen != passed {
            Issue.record("call \(index): passed \(passed)\nseen   \(seen)", sourceLocation: sourceLocation)
            return
        }
    }
}

@Suite struct DispatchPluginExportTests {
    static func servant(_ id: UInt64, _ name: String, lastRouting: String = "") -> ServantView {
        ServantView(id: id, name: name, host: name.split(separator: ":").first.map(String.init) ?? "", lastRouting: lastRouting)
    }

    @Test func everyFieldOfEveryViewIsDecoded() throws {
        let caller = try RecordingPluginCaller()
        let servants = [
            ServantView(
                id: 41, name: "db1:5001", host: "db1", inFlight: 1, capacity: 4, lastRouting: "ÎBM ✓",
                queriesServed: 7, meanExecutionNanoseconds: 1500),
            ServantView(id: 42, name: "db2.example.net:5001", host: "db2.example.net", capacity: 2),
        ]
        #expect(caller.choose("IBM", servants) == 0)
        caller.expectObservedExactly()
    }

    @Test func stringsRewrittenInTheSameBuffersAreSeen() throws {
        let caller = try RecordingPluginCaller()
        var servants = [Self.servant(1, "db1:5001", lastRouting: "IBM"), Self.servant(2, "db2:5001", lastRouting: "MSFT")]
        caller.choose("IBM", servants)
        // Same length, one byte different: only the bytes tell.
        servants[0].lastRouting = "IBN"
        caller.choose("IBM", servants)
        servants[0].name = "db1:5002"
        servants[1].host = "db3"
        caller.choose("IBM", servants)
        // Longer, a prefix, empty.
        servants[1].lastRouting = "MSFTX"
        caller.choose("MSFT", servants)
        servants[1].lastRouting = "MS"
        caller.choose("MSF", servants)
        servants[1].lastRouting = ""
        caller.choose("", servants)
        servants[0].inFlight = 1
        servants[0].queriesServed = 5
        servants[0].meanExecutionNanoseconds = 77
        caller.choose("", servants)
        caller.expectObservedExactly()
    }

    @Test func servantsAddedRemovedAndReorderedAreSeen() throws {
        let caller = try RecordingPluginCaller()
        let one = Self.servant(1, "db1:5001", lastRouting: "IBM")
        let two = Self.servant(2, "db2:5001", lastRouting: "MSFT")
        let three = Self.servant(3, "db3.example.net:5001", lastRouting: String(repeating: "z", count: 80))
        for servants in [[one, two], [one, two, three], [three, one], [two], [], [two, one, three], [three, two, one]] {
            caller.choose("IBM", servants)
        }
        caller.expectObservedExactly()
    }

    @Test func anIDReusedAtAnotherIndexWithOtherStringsIsSeen() throws {
        let caller = try RecordingPluginCaller()
        caller.choose("IBM", [Self.servant(1, "db1:5001", lastRouting: "IBM"), Self.servant(2, "db2:5001", lastRouting: "MSFT")])
        caller.choose("IBM", [Self.servant(2, "other:1", lastRouting: "AAPL"), Self.servant(1, "db9:5009")])
        caller.choose("IBM", [Self.servant(2, "other:1", lastRouting: "AAPL"), Self.servant(2, "twin:2", lastRouting: "x")])
        caller.expectObservedExactly()
    }

    @Test func longEmptyAndNonASCIIStringsAreSeen() throws {
        let caller = try RecordingPluginCaller()
        for string in TrickyStrings.all + TrickyStrings.all.reversed() {
            caller.choose(string, [Self.servant(1, "db1:5001", lastRouting: string), ServantView(id: 2, name: string, host: string)])
            caller.completed(ServantView(id: 2, name: string, host: string, lastRouting: string), routing: string)
        }
        caller.expectObservedExactly()
    }

    @Test func nullStringsReadAsEmpty() throws {
        let caller = try RecordingPluginCaller()
        caller.buffers.emptyAsNull = true
        var servants = [Self.servant(1, "db1:5001", lastRouting: "IBM"), ServantView(id: 2, name: "", host: "")]
        caller.choose(nil, servants)
        servants[0].lastRouting = ""
        caller.choose("IBM", servants)
        caller.completed(servants[0], routing: "")
        caller.expectObservedExactly()
    }

    @Test func invalidUTF8IsRepairedAsStringCStringRepairsIt() throws {
        let config = "invalid-utf8-\(UInt64.random(in: 0...UInt64.max))"
        let table = recordingPluginTable.pointer.assumingMemoryBound(to: mserve_dispatch_plugin.self)
        let state = try #require(config.withCString { table.pointee.create!($0) })
        defer { table.pointee.destroy!(state) }
        let inputs: [[CChar]] = [[65, -1, 0], [65, -2, 0], [65, 66, 0], [-61, 0]]
        for bytes in inputs {
            bytes.withUnsafeBufferPointer { bytes in
                var view = mserve_servant_view(
                    id: 1, name: bytes.baseAddress, host: bytes.baseAddress, in_flight: 0, capacity: 1,
                    last_routing: bytes.baseAddress, queries_served: 0, mean_execution_ns: 0)
                _ = table.pointee.choose!(state, bytes.baseAddress, &view, 1)
            }
        }
        let observed = RecordingAlgorithm.observed(by: config)
        #expect(observed.count == inputs.count)
        for (observation, bytes) in zip(observed, inputs) {
            let decoded = Array(bytes.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.utf8)
            guard case .choose(let routing, let servants) = observation else {
                Issue.record("not a choose: \(observation)")
                continue
            }
            #expect(decoded.contains(0xBD) == bytes.contains { $0 < 0 })
            #expect(routing == decoded)
            #expect(servants.map(\.name) == [decoded])
            #expect(servants.map(\.lastRouting) == [decoded])
        }
    }

    @Test func completedSeesItsServantWhateverTheLastChooseWasGiven() throws {
        let caller = try RecordingPluginCaller()
        var one = Self.servant(1, "db1:5001", lastRouting: "IBM")
        let two = Self.servant(2, "db2:5001", lastRouting: "MSFT")
        caller.choose("IBM", [one, two])
        caller.completed(Self.servant(7, "db7.example.net:5007", lastRouting: "AAPL"), routing: "AAPL")
        one.lastRouting = String(repeating: "changed ", count: 12)
        one.queriesServed = 1
        caller.completed(one, routing: "IBM")
        caller.completed(Self.servant(8, "db8:5008"), routing: "")
        caller.choose("GOOG", [two, one])
        caller.completed(two, routing: "GOOG")
        caller.choose("GOOG", [two, one])
        caller.expectObservedExactly()
    }

    @Test func aRandomSequenceOfChangesIsSeenExactly() throws {
        let caller = try RecordingPluginCaller()
        var changes = ServantListChanges(seed: 4242)
        for step in 0..<600 {
            changes.change()
            caller.choose(changes.anyString(), changes.servants)
            if step % 3 == 0 {
                let servant = changes.servantToComplete()
                caller.completed(servant, routing: changes.anyString())
            }
        }
        caller.expectObservedExactly()
    }

    /// Both caches at once: the broker's C views (CDispatchAlgorithm) feeding the Swift views
    /// of an exported Swift algorithm, as with every Swift plugin the broker loads.
    @Test func aRandomSequenceThroughBothSidesOfTheABIIsSeenExactly() throws {
        let config = "round-trip-\(UInt64.random(in: 0...UInt64.max))"
        let table = recordingPluginTable.pointer.assumingMemoryBound(to: mserve_dispatch_plugin.self)
        let state = try #require(config.withCString { table.pointee.create!($0) })
        let algorithm = CDispatchAlgorithm(
            name: "recording", path: "(in process)", table: table, state: state, onInvalidChoice: nil)
        var expected: [Observation] = []
        var changes = ServantListChanges(seed: 99)
        for step in 0..<600 {
            changes.change()
            let routing = changes.anyString()
            let choice = algorithm.choose(routing: routing, servants: changes.servants)
            #expect(choice == changes.servants.firstIndex(where: \.isFree))
            expected.append(.choose(routing: Array(routing.utf8), servants: changes.servants.map(ExactServantView.init)))
            if step % 3 == 0 {
                let servant = changes.servantToComplete()
                let routing = changes.anyString()
                algorithm.completed(servant: servant, routing: routing, executionNanoseconds: UInt64(step))
                expected.append(
                    .completed(servant: ExactServantView(servant), routing: Array(routing.utf8), executionNanoseconds: UInt64(step)))
            }
        }
        let observed = RecordingAlgorithm.observed(by: config)
        #expect(observed.count == expected.count)
        if let (index, (seen, passed)) = zip(observed, expected).enumerated().first(where: { $0.1.0 != $0.1.1 }) {
            Issue.record("call \(index): passed \(passed)\nseen   \(seen)")
        }
    }
}

/// A version 3 algorithm that writes down the routing strings and function names it is passed
/// (in `choose` and the DISPATCHED and COMPLETED events), under its configuration text.
class PassedStringsRecorder {
    static let passed = Mutex<[String: [String]]>([:])
    let config: String
    required init?(config: String) { self.config = config }
    func note(_ string: String) { Self.passed.withLock { $0[config, default: []].append(string) } }
    func observe(_ event: DispatchEvent) {
        switch event {
        case .dispatched(_, let routing, _), .completed(_, let routing, _, _): note("event " + routing)
        default: break
        }
    }
    func choose(routing: String, function: String, group: UInt32) -> UInt64? {
        note("routing " + routing)
        note("function " + function)
        return nil
    }
}

/// Reads routing strings and function names (the default).
final class ReadingAlgorithm: PassedStringsRecorder, SwiftIndexedDispatchAlgorithm {}

/// Says it reads neither.
final class NotReadingAlgorithm: PassedStringsRecorder, SwiftIndexedDispatchAlgorithm {
    static var readsRoutings: Bool { false }
    static var readsFunctions: Bool { false }
}

/// An algorithm that reads no routing strings or function names (`readsRoutings`,
/// `readsFunctions` false) is passed "" and nothing is decoded for it; one that reads them is
/// passed them.
struct IndexedDispatchPluginExportTests {
    /// Through the C table: a READY, a `choose_in` of routing "IBM" calling "proc1", then its
    /// DISPATCHED and COMPLETED events.
    static func passedStrings(through exported: DispatchPluginTable, config: String) -> [String] {
        let table = exported.pointer.assumingMemoryBound(to: mserve_dispatch_plugin.self).pointee
        let state = config.withCString { table.create!($0) }!
        defer { table.destroy!(state) }
        let name = strdup("db1:5001")!, host = strdup("db1")!, empty = strdup("")!
        defer { free(name); free(host); free(empty) }
        var view = mserve_servant_view(
            id: 1, name: name, host: host, in_flight: 0, capacity: 1, last_routing: empty, queries_served: 0,
            mean_execution_ns: 0)
        withUnsafePointer(to: &view) { view in
            var ready = mserve_dispatch_event(
                kind: UInt32(MSERVE_EVENT_READY.rawValue), group: 0, servant: 1, in_flight: 0, capacity: 1,
                routing: empty, execution_ns: 0, view: view)
            table.observe!(state, &ready)
        }
        "IBM".withCString { routing in
            "proc1".withCString { function in
                _ = table.choose_in!(state, routing, function, 0)
                for (kind, inFlight) in [(MSERVE_EVENT_DISPATCHED, UInt32(1)), (MSERVE_EVENT_COMPLETED, 0)] {
                    var event = mserve_dispatch_event(
                        kind: UInt32(kind.rawValue), group: 0, servant: 1, in_flight: inFlight, capacity: 1,
                        routing: routing, execution_ns: 1_000, view: nil)
                    table.observe!(state, &event)
                }
            }
        }
        return PassedStringsRecorder.passed.withLock { $0[config] ?? [] }
    }

    @Test func anAlgorithmThatReadsThemIsPassedRoutingStringsAndFunctionNames() {
        let exported = IndexedDispatchPluginExport<ReadingAlgorithm>.table(
            name: "reading", description: "", create: { IndexedDispatchPluginExport<ReadingAlgorithm>.create(config: $0) })
        #expect(
            Self.passedStrings(through: exported, config: "reads")
                == ["routing IBM", "function proc1", "event IBM", "event IBM"])
    }

    @Test func anAlgorithmThatReadsNoneIsPassedEmptyStrings() {
        let exported = IndexedDispatchPluginExport<NotReadingAlgorithm>.table(
            name: "not-reading", description: "",
            create: { IndexedDispatchPluginExport<NotReadingAlgorithm>.create(config: $0) })
        #expect(
            Self.passedStrings(through: exported, config: "reads-none")
                == ["routing ", "function ", "event ", "event "])
    }
}
