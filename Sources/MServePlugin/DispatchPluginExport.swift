import CMServePlugin
import Glibc

/// The C signature of a plugin's `create` function.
///
/// A Swift plugin passes a closure literal that names its algorithm type, e.g.
/// `{ DispatchPluginExport<MatchAlgorithm>.create(config: $0) }`: C function pointers cannot
/// capture a generic parameter, so this one line is the only per-plugin shim.
public typealias DispatchPluginCreateFunction = @convention(c) (UnsafePointer<CChar>?) -> UnsafeMutableRawPointer?

/// A plugin table (`mserve_dispatch_plugin`) with static storage, as the entry symbol returns it.
public struct DispatchPluginTable: @unchecked Sendable {
    /// The address of the `mserve_dispatch_plugin` table; valid for the life of the process.
    public let pointer: UnsafeRawPointer

    /// A copy of `table` in memory never freed, as the entry symbol's result must be.
    init(staticCopyOf table: mserve_dispatch_plugin) {
        let storage = UnsafeMutablePointer<mserve_dispatch_plugin>.allocate(capacity: 1)
        storage.initialize(to: table)
        pointer = UnsafeRawPointer(storage)
    }
}

/// A plugin table made for one in-process algorithm (``DispatchPluginExport/inProcess(_:name:)``),
/// freed with its strings when the algorithm that calls through it goes.
final class InProcessPluginTable {
    let pointer: UnsafeMutablePointer<mserve_dispatch_plugin>

    init(_ table: mserve_dispatch_plugin) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: table)
    }

    /// An algorithm named `name` that calls through `table` with `state`, the table freed
    /// when the algorithm goes.
    static func algorithm(
        name: String, calling table: mserve_dispatch_plugin, state: UnsafeMutableRawPointer
    ) -> any DispatchAlgorithm {
        let owner = InProcessPluginTable(table)
        return CDispatchAlgorithm(
            name: name, path: "in-process", table: owner.pointer, state: state, onInvalidChoice: nil, tableOwner: owner)
    }

    deinit {
        free(UnsafeMutableRawPointer(mutating: pointer.pointee.name))
        free(UnsafeMutableRawPointer(mutating: pointer.pointee.description))
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }
}

/// The `create` of an in-process table, whose state is made from an algorithm already built:
/// it refuses every configuration (nothing calls it).
private let refusingCreate: DispatchPluginCreateFunction = { _ in nil }

/// Exports a `SwiftDispatchAlgorithm` as a C dispatch plugin.
///
/// A Swift plugin file is the algorithm class plus:
/// ```swift
/// private let exported = DispatchPluginExport<MatchAlgorithm>.table(
///     name: "match", description: "…",
///     create: { DispatchPluginExport<MatchAlgorithm>.create(config: $0) })
///
/// @_cdecl("mserve_dispatch_plugin_entry")
/// public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
/// ```
/// The table's `route` is set when `Algorithm` conforms to `SwiftRoutingHook`, and its `take`
/// when it conforms to `SwiftQueryTaking`; NULL otherwise.
public enum DispatchPluginExport<Algorithm: SwiftDispatchAlgorithm> {
    /// Builds the plugin table; call it once (from a global) and return its pointer from the entry symbol.
    public static func table(
        name: String,
        description: String,
        create: DispatchPluginCreateFunction
    ) -> DispatchPluginTable {
        DispatchPluginTable(staticCopyOf: cTable(name: name, description: description, create: create))
    }

    /// `algorithm` called through the C table this exporter makes, in this process: the
    /// broker's side of the ABI converts each call to C views and calls the table's functions,
    /// which convert them back and call `algorithm`, exactly as for the shared library built
    /// from `Algorithm`, with no library to build or load. For tests:
    /// `DispatchSimulator(algorithm:servants:)` takes a `SwiftDispatchAlgorithm` this way.
    ///
    /// `algorithm` is the state the table's functions are given (its `create` is not called);
    /// `name` names it in the result's `name` and in messages (the type's name by default).
    public static func inProcess(_ algorithm: Algorithm, name: String? = nil) -> any DispatchAlgorithm {
        let name = name ?? String(describing: Algorithm.self)
        return InProcessPluginTable.algorithm(
            name: name, calling: cTable(name: name, description: "", create: refusingCreate),
            state: Unmanaged.passRetained(ExportedAlgorithm(algorithm)).toOpaque())
    }

    /// The plugin table, its strings copied with `strdup`.
    private static func cTable(name: String, description: String, create: DispatchPluginCreateFunction)
        -> mserve_dispatch_plugin
    {
        mserve_dispatch_plugin(
            abi_version: 2,
            name: UnsafePointer(strdup(name)),
            description: UnsafePointer(strdup(description)),
            create: create,
            choose: exportedChoose,
            completed: exportedCompleted,
            destroy: exportedDestroy,
            route: Algorithm.self is any SwiftRoutingHook.Type ? exportedRoute : nil,
            take: Algorithm.self is any SwiftQueryTaking.Type ? exportedTake : nil,
            observe: nil,
            choose_in: nil
        )
    }

    /// The body of the plugin's `create`: makes the algorithm from `config`, or returns NULL when it refuses.
    public static func create(config: UnsafePointer<CChar>?) -> UnsafeMutableRawPointer? {
        let text = config.map { String(cString: $0) } ?? ""
        guard let algorithm = Algorithm(config: text) else { return nil }
        return Unmanaged.passRetained(ExportedAlgorithm(algorithm)).toOpaque()
    }
}

/// The routing hook behind a plugin state made by either exporter.
private func routingProvider(_ state: UnsafeMutableRawPointer?) -> (any SwiftRoutingProvider)? {
    guard let state else { return nil }
    let object = Unmanaged<AnyObject>.fromOpaque(state).takeUnretainedValue()
    if let exported = object as? ExportedAlgorithm { return exported.algorithm as? any SwiftRoutingProvider }
    if let exported = object as? ExportedIndexedAlgorithm { return exported.algorithm as? any SwiftRoutingProvider }
    return nil
}

/// The state behind a `void *` handed to the broker: the algorithm, typed as an existential so
/// the C trampolines need no generic parameter, and the Swift views of the servants passed last.
private final class ExportedAlgorithm {
    let algorithm: any SwiftDispatchAlgorithm
    /// Held through a pointer: one thread calls the plugin, and its several accesses per call
    /// then need no dynamic exclusivity checks (a class's stored `var` would).
    private let views: UnsafeMutablePointer<SwiftServantViews>

    init(_ algorithm: any SwiftDispatchAlgorithm) {
        self.algorithm = algorithm
        views = .allocate(capacity: 1)
        views.initialize(to: SwiftServantViews())
    }

    deinit {
        views.deinitialize(count: 1)
        views.deallocate()
    }

    static func from(_ state: UnsafeMutableRawPointer?) -> ExportedAlgorithm {
        Unmanaged<ExportedAlgorithm>.fromOpaque(state!).takeUnretainedValue()
    }

    /// The algorithm's choice among the `count` servants at `servants`.
    func choose(routing: UnsafePointer<CChar>?, servants: UnsafePointer<mserve_servant_view>?, count: Int) -> Int? {
        views.pointee.update(from: servants, count: count)
        return algorithm.choose(
            routing: views.pointee.chooseRouting(routing), servants: views.pointee.servants)
    }

    /// The query the servant of `view` takes among the `count` routing strings at `routings`.
    func take(view: UnsafePointer<mserve_servant_view>, routings: UnsafePointer<UnsafePointer<CChar>?>, count: Int) -> Int? {
        guard let taking = algorithm as? any SwiftQueryTaking else { return nil }
        var strings: [String] = []
        strings.reserveCapacity(count)
        for index in 0..<count { strings.append(routings[index].map { String(cString: $0) } ?? "") }
        return taking.take(servant: views.pointee.servant(view), routings: strings)
    }

    /// Tells the algorithm that the servant of `view` answered a query of `routing`.
    func completed(view: UnsafePointer<mserve_servant_view>, routing: UnsafePointer<CChar>?, executionNanoseconds: UInt64) {
        algorithm.completed(
            servant: views.pointee.servant(view),
            routing: views.pointee.completedRouting(routing),
            executionNanoseconds: executionNanoseconds
        )
    }
}

/// The Swift views (`ServantView`) of the C views a Swift plugin is given, kept between calls
/// with their strings (`ServantStringCache`): a call compares each C string with the bytes it
/// was decoded from last time and decodes only those that changed (usually one servant's last
/// routing string); the numbers are rewritten.
private struct SwiftServantViews: ~Copyable {
    /// The Swift views of the servants passed last, in step with `strings`.
    private(set) var servants: [ServantView] = []
    private var strings = ServantStringCache()
    /// The routing strings of the last `choose` and the last `completed`.
    private var lastChooseRouting = BridgedString()
    private var lastCompletedRouting = BridgedString()

    init() {}

    deinit {
        lastChooseRouting.deallocate()
        lastCompletedRouting.deallocate()
    }

    /// The routing string of a `choose`.
    mutating func chooseRouting(_ routing: UnsafePointer<CChar>?) -> String {
        _ = lastChooseRouting.update(fromCString: routing)
        return lastChooseRouting.string
    }

    /// The routing string of a `completed`: often the one of the `choose` before it.
    mutating func completedRouting(_ routing: UnsafePointer<CChar>?) -> String {
        if lastChooseRouting.holds(cString: routing) { return lastChooseRouting.string }
        _ = lastCompletedRouting.update(fromCString: routing)
        return lastCompletedRouting.string
    }

    /// The Swift view of one servant (for `completed`); the cached view is updated too.
    mutating func servant(_ view: UnsafePointer<mserve_servant_view>) -> ServantView {
        guard let index = strings.index(of: view.pointee.id) else {
            strings.unlisted.id = view.pointee.id
            _ = strings.unlisted.update(from: view)
            return strings.unlisted.servantView(view)
        }
        if strings.servants[index].update(from: view) { strings.servants[index].copyStrings(to: &servants[index]) }
        servants[index].copyNumbers(from: view)
        return servants[index]
    }

    /// Brings `servants` up to date with the `count` C views at `views`: in place while the
    /// same servants come in the same order, else rebuilt (the strings of servants seen before
    /// are kept by id).
    mutating func update(from views: UnsafePointer<mserve_servant_view>?, count: Int) {
        guard let views, count > 0 else {
            if !servants.isEmpty { strings.follow(count: 0, id: { _ in 0 }) }
            servants.removeAll(keepingCapacity: true)
            return
        }
        if strings.holdsServants(count: count, id: { views[$0].id }), servants.count == count {
            servants.withUnsafeMutableBufferPointer { servants in
                strings.servants.withUnsafeMutableBufferPointer { strings in
                    for index in 0..<count {
                        let view = views + index
                        if strings[index].update(from: view) { strings[index].copyStrings(to: &servants[index]) }
                        servants[index].copyNumbers(from: view)
                    }
                }
            }
            return
        }
        strings.follow(count: count, id: { views[$0].id })
        servants.removeAll(keepingCapacity: true)
        for index in 0..<count {
            _ = strings.servants[index].update(from: views + index)
            servants.append(strings.servants[index].servantView(views + index))
        }
    }
}

private let exportedChoose:
    @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafePointer<mserve_servant_view>?, Int) -> Int64 = {
        state, routing, views, count in
        guard let index = ExportedAlgorithm.from(state).choose(routing: routing, servants: views, count: count) else {
            return Int64(MSERVE_DISPATCH_WAIT)
        }
        return Int64(index)
    }

private let exportedCompleted:
    @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<mserve_servant_view>?, UnsafePointer<CChar>?, UInt64) -> Void = {
        state, view, routing, executionNanoseconds in
        guard let view else { return }
        ExportedAlgorithm.from(state).completed(view: view, routing: routing, executionNanoseconds: executionNanoseconds)
    }

private let exportedTake:
    @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<mserve_servant_view>?, UnsafePointer<UnsafePointer<CChar>?>?, Int)
        -> Int64 = { state, view, routings, count in
        guard let view, let routings, count > 0,
            let index = ExportedAlgorithm.from(state).take(view: view, routings: routings, count: count)
        else { return Int64(MSERVE_DISPATCH_WAIT) }
        return Int64(index)
    }

private let exportedDestroy: @convention(c) (UnsafeMutableRawPointer?) -> Void = { state in
    guard let state else { return }
    Unmanaged<ExportedAlgorithm>.fromOpaque(state).release()
}

private let exportedRoute:
    @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<mserve_query_view>?, UnsafeMutablePointer<CChar>?, Int) -> Int64 = {
        state, query, output, outputCapacity in
        guard let query, let hook = routingProvider(state) else { return -1 }
        let view = query.pointee
        var arguments: [[UInt8]] = []
        arguments.reserveCapacity(view.argument_count)
        for index in 0..<view.argument_count {
            let length = view.argument_lengths[index]
            if let bytes = view.arguments[index] {
                arguments.append(Array(UnsafeBufferPointer(start: bytes, count: length)))
            } else {
                arguments.append([])
            }
        }
        let result = hook.route(
            function: view.function.map { String(cString: $0) } ?? "",
            argumentMessages: arguments,
            defaultRouting: view.default_routing.map { String(cString: $0) } ?? ""
        )
        guard case .routing(let routing) = result else { return -1 }
        let bytes = Array(routing.utf8)
        // snprintf style: copy what fits, NUL-terminate, return the full length.
        if let output, outputCapacity > 0 {
            let copied = min(bytes.count, outputCapacity - 1)
            for index in 0..<copied { output[index] = CChar(bitPattern: bytes[index]) }
            output[copied] = 0
        }
        return Int64(bytes.count)
    }

// MARK: - ABI version 3

/// Exports a `SwiftIndexedDispatchAlgorithm` as a C dispatch plugin of ABI version 3: the broker
/// reports every change (`observe`) and asks `choose_in` for a servant id, never passing the
/// views of all servants.
///
/// ```swift
/// private let exported = IndexedDispatchPluginExport<OrigAlgorithm>.table(
///     name: "orig", description: "…",
///     create: { IndexedDispatchPluginExport<OrigAlgorithm>.create(config: $0) })
///
/// @_cdecl("mserve_dispatch_plugin_entry")
/// public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
/// ```
/// The table's `route` is set when `Algorithm` conforms to `SwiftRoutingProvider`, and its
/// `take` when `Algorithm.takesQueries`.
public enum IndexedDispatchPluginExport<Algorithm: SwiftIndexedDispatchAlgorithm> {
    /// Builds the plugin table; call it once (from a global) and return its pointer from the entry symbol.
    public static func table(
        name: String,
        description: String,
        create: DispatchPluginCreateFunction
    ) -> DispatchPluginTable {
        DispatchPluginTable(staticCopyOf: cTable(name: name, description: description, create: create))
    }

    /// `algorithm` called through the C table this exporter makes, in this process, as
    /// ``DispatchPluginExport/inProcess(_:name:)`` does for version 2: the broker's side of the
    /// ABI sends the events and `choose_in` calls through the table's functions to `algorithm`.
    /// `DispatchSimulator(algorithm:servants:)` takes a `SwiftIndexedDispatchAlgorithm` this way.
    public static func inProcess(_ algorithm: Algorithm, name: String? = nil) -> any DispatchAlgorithm {
        let name = name ?? String(describing: Algorithm.self)
        return InProcessPluginTable.algorithm(
            name: name, calling: cTable(name: name, description: "", create: refusingCreate),
            state: Unmanaged.passRetained(ExportedIndexedAlgorithm(algorithm)).toOpaque())
    }

    /// The plugin table, its strings copied with `strdup`.
    private static func cTable(name: String, description: String, create: DispatchPluginCreateFunction)
        -> mserve_dispatch_plugin
    {
        mserve_dispatch_plugin(
            abi_version: 3,
            name: UnsafePointer(strdup(name)),
            description: UnsafePointer(strdup(description)),
            create: create,
            choose: nil,
            completed: nil,
            destroy: exportedIndexedDestroy,
            route: Algorithm.self is any SwiftRoutingProvider.Type ? exportedRoute : nil,
            take: Algorithm.takesQueries ? exportedIndexedTake : nil,
            observe: exportedObserve,
            choose_in: exportedChooseIn
        )
    }

    /// The body of the plugin's `create`: makes the algorithm from `config`, or returns NULL when it refuses.
    public static func create(config: UnsafePointer<CChar>?) -> UnsafeMutableRawPointer? {
        let text = config.map { String(cString: $0) } ?? ""
        guard let algorithm = Algorithm(config: text) else { return nil }
        return Unmanaged.passRetained(ExportedIndexedAlgorithm(algorithm)).toOpaque()
    }
}

/// The state behind a version 3 plugin's `void *`: the algorithm, and the routing strings
/// decoded last (a query's routing string comes to `choose_in`, then to its DISPATCHED and
/// COMPLETED events: it is decoded once).
private final class ExportedIndexedAlgorithm {
    let algorithm: any SwiftIndexedDispatchAlgorithm
    /// Held through pointers, as in `ExportedAlgorithm`: no dynamic exclusivity checks.
    private let routings: UnsafeMutablePointer<(BridgedString, BridgedString, BridgedString)>

    /// Whether the algorithm reads routing strings and function names (else it is passed "").
    private let readsRoutings: Bool
    private let readsFunctions: Bool

    init(_ algorithm: any SwiftIndexedDispatchAlgorithm) {
        self.algorithm = algorithm
        readsRoutings = type(of: algorithm).readsRoutings
        readsFunctions = type(of: algorithm).readsFunctions
        routings = .allocate(capacity: 1)
        routings.initialize(to: (BridgedString(), BridgedString(), BridgedString()))
    }

    deinit {
        routings.pointee.0.deallocate()
        routings.pointee.1.deallocate()
        routings.pointee.2.deallocate()
        routings.deinitialize(count: 1)
        routings.deallocate()
    }

    /// Calls `body` with the state behind `state`, neither retained nor released: the broker
    /// keeps it alive from `create` to `destroy`, and a retain and a release per call cost more
    /// than the rest of the crossing.
    @inline(__always)
    static func with<Result>(_ state: UnsafeMutableRawPointer?, _ body: (ExportedIndexedAlgorithm) -> Result) -> Result {
        Unmanaged<ExportedIndexedAlgorithm>.fromOpaque(state!)._withUnsafeGuaranteedRef(body)
    }

    /// A routing string: the one decoded last for the same bytes, else decoded now; "" for an
    /// algorithm that reads none (`readsRoutings` false).
    func routing(_ cString: UnsafePointer<CChar>?) -> String {
        guard readsRoutings else { return "" }
        if routings.pointee.0.holds(cString: cString) { return routings.pointee.0.string }
        if routings.pointee.1.holds(cString: cString) { return routings.pointee.1.string }
        // The oldest of the two gives way.
        swap(&routings.pointee.0, &routings.pointee.1)
        _ = routings.pointee.0.update(fromCString: cString)
        return routings.pointee.0.string
    }

    /// A function name.
    func function(_ cString: UnsafePointer<CChar>?) -> String {
        guard readsFunctions else { return "" }
        _ = routings.pointee.2.update(fromCString: cString)
        return routings.pointee.2.string
    }

    func observe(_ event: UnsafePointer<mserve_dispatch_event>) {
        let event = event.pointee
        let swiftEvent: DispatchEvent
        switch event.kind {
        case UInt32(MSERVE_EVENT_READY.rawValue):
            guard let view = event.view else { return }
            swiftEvent = .ready(Self.servantView(view))
        case UInt32(MSERVE_EVENT_UNREADY.rawValue): swiftEvent = .unready(servant: event.servant)
        case UInt32(MSERVE_EVENT_REMOVED.rawValue): swiftEvent = .removed(servant: event.servant)
        case UInt32(MSERVE_EVENT_DISPATCHED.rawValue):
            swiftEvent = .dispatched(servant: event.servant, routing: routing(event.routing), inFlight: Int(event.in_flight))
        case UInt32(MSERVE_EVENT_COMPLETED.rawValue):
            swiftEvent = .completed(
                servant: event.servant, routing: routing(event.routing), executionNanoseconds: event.execution_ns,
                inFlight: Int(event.in_flight))
        case UInt32(MSERVE_EVENT_GROUP_JOINED.rawValue): swiftEvent = .joined(servant: event.servant, group: event.group)
        case UInt32(MSERVE_EVENT_GROUP_LEFT.rawValue): swiftEvent = .left(servant: event.servant, group: event.group)
        default: return
        }
        algorithm.observe(swiftEvent)
    }

    /// The Swift view of a C view.
    static func servantView(_ view: UnsafePointer<mserve_servant_view>) -> ServantView {
        let view = view.pointee
        return ServantView(
            id: view.id, name: view.name.map { String(cString: $0) } ?? "",
            host: view.host.map { String(cString: $0) } ?? "", inFlight: Int(view.in_flight),
            capacity: Int(view.capacity), lastRouting: view.last_routing.map { String(cString: $0) } ?? "",
            queriesServed: view.queries_served, meanExecutionNanoseconds: view.mean_execution_ns)
    }
}

private let exportedObserve: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<mserve_dispatch_event>?) -> Void = {
    state, event in
    guard let event else { return }
    ExportedIndexedAlgorithm.with(state) { $0.observe(event) }
}

private let exportedChooseIn:
    @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UInt32) -> Int64 = {
        state, routing, function, group in
        ExportedIndexedAlgorithm.with(state) { exported in
            guard
                let id = exported.algorithm.choose(
                    routing: exported.routing(routing), function: exported.function(function), group: group),
                id <= UInt64(Int64.max)
            else { return Int64(MSERVE_DISPATCH_WAIT) }
            return Int64(id)
        }
    }

private let exportedIndexedTake:
    @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<mserve_servant_view>?, UnsafePointer<UnsafePointer<CChar>?>?, Int)
        -> Int64 = { state, view, routings, count in
        guard let view, let routings, count > 0 else { return Int64(MSERVE_DISPATCH_WAIT) }
        var strings: [String] = []
        strings.reserveCapacity(count)
        for index in 0..<count { strings.append(routings[index].map { String(cString: $0) } ?? "") }
        let servant = ExportedIndexedAlgorithm.servantView(view)
        guard let index = ExportedIndexedAlgorithm.with(state, { $0.algorithm.take(servant: servant, routings: strings) })
        else { return Int64(MSERVE_DISPATCH_WAIT) }
        return Int64(index)
    }

private let exportedIndexedDestroy: @convention(c) (UnsafeMutableRawPointer?) -> Void = { state in
    guard let state else { return }
    Unmanaged<ExportedIndexedAlgorithm>.fromOpaque(state).release()
}
