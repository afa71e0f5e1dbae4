// CDispatchAlgorithm: the broker's side of the dispatch plugin ABI. Owns the C servant views
// handed to a loaded plugin and the cached C copies of their strings, so a dispatch decision
// copies only the strings that changed since the previous call.
import CMServePlugin

/// A dispatch algorithm behind a loaded plugin's C table: converts Swift values to the C views
/// the ABI defines, calls the plugin, and checks what it returns.
///
/// Used from one thread only (the broker's event loop), like the plugin it wraps. The C views
/// and their strings are kept between calls (`CServantViews`), so a dispatch decision allocates
/// nothing and copies only the strings that changed (usually one servant's last routing string).
///
/// Its caches are marked `@exclusivity(unchecked)`: one thread, one call at a time, and a plugin
/// cannot call back into it, so no access overlaps another.
final class CDispatchAlgorithm: DispatchAlgorithm {
    let name: String
    /// The ABI version of the plugin's table (its `abi_version`).
    let version: UInt32
    private let path: String
    private let table: UnsafePointer<mserve_dispatch_plugin>
    private let state: UnsafeMutableRawPointer
    private let onInvalidChoice: (@Sendable (String) -> Void)?
    /// What keeps `table` alive when it is not a loaded plugin's (an in-process table); nil for
    /// a loaded plugin's, which lives as long as the process.
    private let tableOwner: AnyObject?
    /// The C views of the servants passed last, and their cached strings.
    @exclusivity(unchecked) private var servantViews = CServantViews()

    init(
        name: String,
        path: String,
        table: UnsafePointer<mserve_dispatch_plugin>,
        state: UnsafeMutableRawPointer,
        onInvalidChoice: (@Sendable (String) -> Void)?,
        tableOwner: AnyObject? = nil
    ) {
        self.tableOwner = tableOwner
        self.name = name
        self.version = table.pointee.abi_version
        self.path = path
        self.table = table
        self.state = state
        self.onInvalidChoice = onInvalidChoice
    }

    deinit {
        table.pointee.destroy?(state)
        cRouting.deallocate()
        cFunction.deallocate()
    }

    func choose(routing: String, servants: [ServantView]) -> Int? {
        if version >= 3 { return chooseThroughEvents(routing: routing, servants: servants) }
        guard let choose = table.pointee.choose else { return nil }
        let state = state
        let choice = servantViews.withViews(of: servants) { views in
            routing.withCString { routing in
                choose(state, routing, views.baseAddress, views.count)
            }
        }
        if choice == Int64(MSERVE_DISPATCH_WAIT) { return nil }
        // A wrong choice is reported here and passed on as it is: the broker fails the query
        // rather than have it wait for a choice that may never come (a negative index other
        // than MSERVE_DISPATCH_WAIT too).
        guard choice >= 0, choice < servants.count else {
            onInvalidChoice?("\(path): algorithm \"\(name)\" chose index \(choice) of \(servants.count) servants")
            return Int(choice)
        }
        let index = Int(choice)
        if !servants[index].isFree {
            onInvalidChoice?("\(path): algorithm \"\(name)\" chose busy servant \(servants[index].name)")
        }
        return index
    }

    func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {
        if version >= 3 {
            // A completion the plugin was not told the dispatch of (no `choose` since): that first.
            if let known = adaptedViews[servant.id], known.inFlight <= servant.inFlight {
                observe(.dispatched(servant: servant.id, routing: servant.lastRouting, inFlight: servant.inFlight + 1))
            }
            adaptedViews[servant.id] = servant
            observe(
                .completed(
                    servant: servant.id, routing: routing, executionNanoseconds: executionNanoseconds,
                    inFlight: servant.inFlight))
            return
        }
        guard let completed = table.pointee.completed else { return }
        let state = state
        servantViews.withView(of: servant) { view in
            routing.withCString { routing in
                completed(state, view, routing, executionNanoseconds)
            }
        }
    }

    var takesQueries: Bool { table.pointee.take != nil }

    // MARK: ABI version 3

    /// The views a version 3 plugin was last told of, when it is driven with views
    /// (``choose(routing:servants:)``: a test, a simulator): each call tells it what changed.
    @exclusivity(unchecked) private var adaptedViews: [UInt64: ServantView] = [:]

    /// A version 3 plugin driven with views, as a version 2 caller does: the views are compared
    /// with those it was told of — a servant new to it is READY, one gone UNREADY, one with
    /// one more query in flight DISPATCHED with its last routing string, any other change
    /// UNREADY then READY — then `choose_in` picks among group 0, and its id is mapped back to
    /// an index. A pass over the servants per call: for tests and tools, not the broker, which
    /// sends the events as they happen.
    private func chooseThroughEvents(routing: String, servants: [ServantView]) -> Int? {
        var indexByID: [UInt64: Int] = [:]
        indexByID.reserveCapacity(servants.count)
        for (index, servant) in servants.enumerated() {
            indexByID[servant.id] = index
            guard let known = adaptedViews[servant.id] else {
                adaptedViews[servant.id] = servant
                observe(.ready(servant))
                continue
            }
            guard known != servant else { continue }
            adaptedViews[servant.id] = servant
            var dispatched = known
            dispatched.inFlight += 1
            dispatched.lastRouting = servant.lastRouting
            if dispatched == servant {
                observe(.dispatched(servant: servant.id, routing: servant.lastRouting, inFlight: servant.inFlight))
            } else {
                observe(.unready(servant: servant.id))
                observe(.ready(servant))
            }
        }
        if adaptedViews.count > servants.count {
            for id in adaptedViews.keys where indexByID[id] == nil {
                adaptedViews[id] = nil
                observe(.unready(servant: id))
            }
        }
        guard let id = choose(routing: routing, function: "", group: 0) else { return nil }
        guard let index = indexByID[id] else {
            onInvalidChoice?("\(path): algorithm \"\(name)\" chose servant id \(id), not among the \(servants.count) servants")
            return servants.count
        }
        if !servants[index].isFree {
            onInvalidChoice?("\(path): algorithm \"\(name)\" chose busy servant \(servants[index].name)")
        }
        return index
    }

    var followsEvents: Bool { version >= 3 }

    /// The routing string and the function name passed last, in C: a query's routing string
    /// goes to `choose_in` and then to its DISPATCHED and COMPLETED events.
    @exclusivity(unchecked) private var cRouting = BridgedString()
    @exclusivity(unchecked) private var cFunction = BridgedString()


    /// Each known servant's capacity, from its READY: every event but REMOVED carries it
    /// (mserve_plugin.h), and only READY's Swift event does.
    @exclusivity(unchecked) private var capacities: [UInt64: UInt32] = [:]

    func observe(_ event: DispatchEvent) {
        guard let observe = table.pointee.observe else { return }
        let state = state
        var cEvent = mserve_dispatch_event()
        switch event {
        case .ready(let servant):
            capacities[servant.id] = UInt32(clamping: max(servant.capacity, 1))
            cEvent.kind = UInt32(MSERVE_EVENT_READY.rawValue)
            cEvent.servant = servant.id
            cEvent.in_flight = UInt32(clamping: servant.inFlight)
            cEvent.capacity = UInt32(clamping: max(servant.capacity, 1))
            servantViews.withView(of: servant) { view in
                cEvent.view = view
                "".withCString { empty in
                    cEvent.routing = empty
                    observe(state, &cEvent)
                }
            }
            return
        case .unready(let servant):
            cEvent.kind = UInt32(MSERVE_EVENT_UNREADY.rawValue)
            cEvent.servant = servant
        case .removed(let servant):
            cEvent.kind = UInt32(MSERVE_EVENT_REMOVED.rawValue)
            cEvent.servant = servant
            capacities[servant] = nil
        case .dispatched(let servant, let routing, let inFlight):
            cEvent.kind = UInt32(MSERVE_EVENT_DISPATCHED.rawValue)
            cEvent.servant = servant
            cEvent.in_flight = UInt32(clamping: inFlight)
            cEvent.routing = UnsafePointer(bridged(routing, in: &cRouting))
        case .completed(let servant, let routing, let executionNanoseconds, let inFlight):
            cEvent.kind = UInt32(MSERVE_EVENT_COMPLETED.rawValue)
            cEvent.servant = servant
            cEvent.in_flight = UInt32(clamping: inFlight)
            cEvent.routing = UnsafePointer(bridged(routing, in: &cRouting))
            cEvent.execution_ns = executionNanoseconds
        case .joined(let servant, let group):
            cEvent.kind = UInt32(MSERVE_EVENT_GROUP_JOINED.rawValue)
            cEvent.servant = servant
            cEvent.group = group
        case .left(let servant, let group):
            cEvent.kind = UInt32(MSERVE_EVENT_GROUP_LEFT.rawValue)
            cEvent.servant = servant
            cEvent.group = group
        }
        if cEvent.kind != UInt32(MSERVE_EVENT_REMOVED.rawValue) {
            // At least 1, as the header promises, even for a servant this table never saw READY.
            cEvent.capacity = capacities[cEvent.servant] ?? 1
        }
        if cEvent.routing == nil {
            "".withCString { empty in
                cEvent.routing = empty
                observe(state, &cEvent)
            }
        } else {
            observe(state, &cEvent)
        }
    }

    /// The C copy of `string` kept in `bridged`, copied only when it is not the string copied last.
    private func bridged(_ string: String, in bridged: inout BridgedString) -> UnsafeMutablePointer<CChar> {
        if !bridged.holds(string) { bridged.update(to: string) }
        return bridged.pointer
    }

    func choose(routing: String, function: String, group: UInt32) -> UInt64? {
        guard let chooseIn = table.pointee.choose_in else { return nil }
        let routing = UnsafePointer(bridged(routing, in: &cRouting))
        let function = UnsafePointer(bridged(function, in: &cFunction))
        let choice = chooseIn(state, routing, function, group)
        if choice == Int64(MSERVE_DISPATCH_WAIT) { return nil }
        // Passed on as it is, as for `choose`: no servant has a negative id, so the broker
        // fails the query.
        if choice < 0 { onInvalidChoice?("\(path): algorithm \"\(name)\" chose servant id \(choice)") }
        return UInt64(bitPattern: choice)
    }

    func take(servant: ServantView, routings: [String]) -> Int? {
        guard let take = table.pointee.take, !routings.isEmpty else { return nil }
        let state = state
        // One buffer of NUL-terminated strings and the pointers into it.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(routings.reduce(0) { $0 + $1.utf8.count + 1 })
        var offsets: [Int] = []
        offsets.reserveCapacity(routings.count)
        for routing in routings {
            offsets.append(bytes.count)
            bytes.append(contentsOf: routing.utf8)
            bytes.append(0)
        }
        let choice = bytes.withUnsafeBytes { bytes in
            let pointers = offsets.map { Optional((bytes.baseAddress! + $0).assumingMemoryBound(to: CChar.self)) }
            return pointers.withUnsafeBufferPointer { pointers in
                servantViews.withView(of: servant) { view in
                    take(state, view, pointers.baseAddress, pointers.count)
                }
            }
        }
        if choice == Int64(MSERVE_DISPATCH_WAIT) { return nil }
        guard choice >= 0, choice < routings.count else {
            onInvalidChoice?("\(path): algorithm \"\(name)\" took query \(choice) of \(routings.count)")
            return nil
        }
        return Int(choice)
    }

    /// The longest routing string a C routing hook may return, in bytes.
    static let maximumRoutingLength: Int64 = 1 << 16

    func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult? {
        guard let route = table.pointee.route else { return nil }
        var capacity = 256
        for _ in 0..<2 {
            var output = [CChar](repeating: 0, count: capacity)
            let length = withQueryView(function: function, arguments: argumentMessages, defaultRouting: defaultRouting) {
                query in
                output.withUnsafeMutableBufferPointer { output in
                    withUnsafePointer(to: query) { query in
                        route(state, query, output.baseAddress, output.count)
                    }
                }
            }
            if length == -1 { return .refused }
            if length < 0 {
                // Only -1 refuses (mserve_plugin.h): any other negative is a broken hook.
                onInvalidChoice?("\(path): routing hook of \"\(name)\" returned \(length); only -1 refuses a query")
                return .refused
            }
            // A hook that claims a length past any routing string is broken: its query is
            // refused rather than a buffer of that size made.
            guard length <= Self.maximumRoutingLength else {
                onInvalidChoice?(
                    "\(path): routing hook of \"\(name)\" returned length \(length), over the \(Self.maximumRoutingLength)-byte limit")
                return .refused
            }
            if length < capacity {
                let bytes = output[..<Int(length)].map { UInt8(bitPattern: $0) }
                return .routing(String(decoding: bytes, as: UTF8.self))
            }
            // Like snprintf: the hook returned the length it needs; try once more with room for it.
            if capacity > 256 {
                onInvalidChoice?(
                    "\(path): routing hook of \"\(name)\" returned length \(length) with \(capacity) bytes of room, after asking for \(capacity - 1)")
                return .refused
            }
            capacity = Int(length) + 1
        }
        return .refused
    }

    // MARK: C views

    private func withQueryView<Result>(
        function: String,
        arguments: [[UInt8]],
        defaultRouting: String,
        _ body: (mserve_query_view) -> Result
    ) -> Result {
        let bytes = arguments.flatMap { $0 }
        let lengths = arguments.map(\.count)
        return bytes.withUnsafeBufferPointer { bytes in
            var pointers: [UnsafePointer<UInt8>?] = []
            pointers.reserveCapacity(arguments.count)
            var offset = 0
            for length in lengths {
                pointers.append(bytes.baseAddress.map { $0 + offset })
                offset += length
            }
            return pointers.withUnsafeBufferPointer { pointers in
                lengths.withUnsafeBufferPointer { lengths in
                    function.withCString { function in
                        defaultRouting.withCString { defaultRouting in
                            body(
                                mserve_query_view(
                                    function: function,
                                    argument_count: arguments.count,
                                    arguments: pointers.baseAddress,
                                    argument_lengths: lengths.baseAddress,
                                    default_routing: defaultRouting
                                )
                            )
                        }
                    }
                }
            }
        }
    }
}

// MARK: - Cached C views

/// The C views (`mserve_servant_view`) of the servants passed to the plugin, kept between calls
/// with their strings (`ServantStringCache`): a call copies only the strings whose bytes changed
/// since the previous call (usually one servant's last routing string) and rewrites the numbers.
///
/// The pointers in a view stay valid until the next call that updates the cache (the ABI only
/// promises them for the duration of the plugin call).
struct CServantViews: ~Copyable {
    /// The cached strings of the servants passed last, in their order; `views` is kept in step.
    private var strings = ServantStringCache()
    /// The views handed to `choose`, one per cached servant.
    private var views: [mserve_servant_view] = []

    init() {}

    /// Calls `body` with the C views of `servants`, in their order.
    mutating func withViews<Result>(
        of servants: [ServantView],
        _ body: (UnsafeBufferPointer<mserve_servant_view>) -> Result
    ) -> Result {
        if !strings.holdsServants(count: servants.count, id: { servants[$0].id }) {
            strings.follow(count: servants.count, id: { servants[$0].id })
            views.removeAll(keepingCapacity: true)
            views.append(contentsOf: repeatElement(mserve_servant_view(), count: servants.count))
        }
        // Through buffer pointers: each servant is read in place, not copied (and retained).
        servants.withUnsafeBufferPointer { servants in
            strings.servants.withUnsafeMutableBufferPointer { strings in
                views.withUnsafeMutableBufferPointer { views in
                    guard let servant = servants.baseAddress else { return }
                    for index in servants.indices {
                        views[index] = strings[index].view(of: servant + index)
                    }
                }
            }
        }
        return views.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with the C view of one servant; only that servant's strings are updated.
    mutating func withView<Result>(
        of servant: ServantView,
        _ body: (UnsafePointer<mserve_servant_view>) -> Result
    ) -> Result {
        let view = withUnsafePointer(to: servant) { servant in
            if let index = strings.index(of: servant.pointee.id) {
                return strings.servants[index].view(of: servant)
            }
            strings.unlisted.id = servant.pointee.id
            return strings.unlisted.view(of: servant)
        }
        return withUnsafePointer(to: view, body)
    }
}
