// MServePlugin: the Swift side of the dispatch plugin ABI (plugins/include/mserve_plugin.h).
//
// This target owns the Swift view of a servant (`ServantView`), the algorithm protocol the broker
// calls (`DispatchAlgorithm`), the plugin loader (`DispatchPluginRegistry`, dlopen) and the
// exporter that turns a pure Swift algorithm into a C plugin table (`DispatchPluginExport`).
// Unsafe pointers appear only in the C-bridge files, where the C ABI demands them: the loader
// (DispatchPluginRegistry, CDispatchAlgorithm), the exporter (DispatchPluginExport) and the
// servant string cache both sides keep between calls (ServantStringCache).

/// A read-only snapshot of one servant for a dispatch decision (Swift mirror of `mserve_servant_view`).
public struct ServantView: Sendable, Hashable {
    /// The servant's id, given when the broker adds its endpoint: a new process at the same
    /// endpoint (a restart) keeps it, as does a servant lost and back, while the broker keeps the
    /// endpoint. Never given to another servant while the broker runs (an endpoint removed and
    /// added again gets a new one).
    public var id: UInt64
    /// Display name: the name the servant's READY gave (`mserve servant --name`), else
    /// "host:port" of its endpoint. Not necessarily unique: tell servants apart by `id`.
    public var name: String
    /// The host of the servant's endpoint, whatever its name.
    public var host: String
    /// Queries dispatched to the servant and not answered yet.
    public var inFlight: Int
    /// How many queries the servant runs at once (its worker threads). At least 1.
    public var capacity: Int
    /// Routing string of the last query dispatched to the servant; "" if none yet.
    public var lastRouting: String
    /// Queries the servant has finished (one per `completed`), replies after their deadline
    /// included.
    public var queriesServed: UInt64
    /// Mean execution time of the queries the servant finished, in nanoseconds; 0 if none.
    public var meanExecutionNanoseconds: UInt64

    /// Whether the servant can take one more query now (`inFlight < capacity`).
    public var isFree: Bool { inFlight < capacity }

    /// Creates a servant view from all of its fields.
    public init(
        id: UInt64,
        name: String,
        host: String,
        inFlight: Int = 0,
        capacity: Int = 1,
        lastRouting: String = "",
        queriesServed: UInt64 = 0,
        meanExecutionNanoseconds: UInt64 = 0
    ) {
        self.id = id
        self.name = name
        self.host = host
        self.inFlight = inFlight
        self.capacity = capacity
        self.lastRouting = lastRouting
        self.queriesServed = queriesServed
        self.meanExecutionNanoseconds = meanExecutionNanoseconds
    }
}

/// What a routing hook decided for one query.
public enum RoutingHookResult: Sendable, Hashable {
    /// Route the query with this routing string.
    case routing(String)
    /// Refuse the query; the client gets an error reply.
    case refused
}

/// One change of the servants, as the broker tells a dispatch algorithm that keeps its own index
/// (ABI version 3, `mserve_dispatch_event`). Events of one servant come in the order they happen:
/// `ready`, its `joined` groups, `dispatched`/`completed` while ready, its `left` groups, `unready`,
/// and `removed` last.
public enum DispatchEvent: Sendable, Hashable {
    /// The servant entered dispatch; it is a member of group 0. Its view's `inFlight` is 0, or
    /// the queries a servant back from a cut still runs from before it was lost (each is
    /// `completed` when it ends).
    case ready(ServantView)
    /// The servant left dispatch (lost, draining, restarted); it may become ready again.
    case unready(servant: UInt64)
    /// The servant was removed from the broker; its id is never given to another servant.
    case removed(servant: UInt64)
    /// A query of `routing` was sent to the servant; `inFlight` counts it.
    case dispatched(servant: UInt64, routing: String, inFlight: Int)
    /// The servant answered a query of `routing` after `executionNanoseconds`; `inFlight` no longer counts it.
    case completed(servant: UInt64, routing: String, executionNanoseconds: UInt64, inFlight: Int)
    /// The servant joined candidate group `group` (a function that not every ready servant serves).
    case joined(servant: UInt64, group: UInt32)
    /// The servant left candidate group `group`.
    case left(servant: UInt64, group: UInt32)
}

/// A dispatch algorithm as the broker sees it. Called from the broker's event loop thread only.
///
/// An algorithm either follows events (``followsEvents``, ABI version 3): the broker reports
/// every change with ``observe(_:)`` and asks ``choose(routing:function:group:)`` for a servant
/// id; or it is passed the views of the servants on every call (versions 1 and 2):
/// ``choose(routing:servants:)`` and ``completed(servant:routing:executionNanoseconds:)``.
public protocol DispatchAlgorithm: AnyObject {
    /// The algorithm name, as chosen with `MSERVE_ALGO`.
    var name: String { get }

    /// Index into `servants` of the servant that takes the query, or nil to wait.
    ///
    /// `servants` holds every ready servant (connected, greeted, not draining) that serves the
    /// query's function (a servant that announced no functions serves every one), busy or not,
    /// in a stable order: the order they were added (the configuration's, then joins), whatever
    /// order they became ready in. A non-nil result must name a free servant: the broker answers a query whose
    /// result names no servant or a busy one with an error ("the dispatch algorithm NAME returned
    /// an invalid servant") instead of dispatching it.
    func choose(routing: String, servants: [ServantView]) -> Int?

    /// Tells the algorithm that `servant` answered a query of `routing` after `executionNanoseconds`.
    func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64)

    /// Optional routing hook; nil when the plugin has none. Arguments are complete kdb+ IPC messages, one per argument.
    func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult?

    /// Whether the algorithm picks queries for a free servant (``take(servant:routings:)``); the
    /// broker asks only then.
    var takesQueries: Bool { get }

    /// Index into `routings` — the routing strings of the queries waiting at the front of the
    /// broker's line, in arrival order — of the query the free `servant` takes, or nil to leave
    /// the choice to ``choose(routing:servants:)``.
    func take(servant: ServantView, routings: [String]) -> Int?

    /// Whether the algorithm keeps its own index from events (ABI version 3): the broker then
    /// calls ``observe(_:)`` and ``choose(routing:function:group:)``, never the view-passing
    /// `choose` and `completed`.
    var followsEvents: Bool { get }

    /// One change of the servants (only when ``followsEvents``).
    func observe(_ event: DispatchEvent)

    /// The id of the free servant in candidate `group` (0: every ready servant) that takes a
    /// query of `routing` calling `function`, or nil to wait (only when ``followsEvents``).
    func choose(routing: String, function: String, group: UInt32) -> UInt64?
}

extension DispatchAlgorithm {
    /// False: the algorithm is passed the servants' views.
    public var followsEvents: Bool { false }

    /// Does nothing: an algorithm passed the views needs no events.
    public func observe(_ event: DispatchEvent) {}

    /// Nil: an algorithm passed the views chooses with ``choose(routing:servants:)``.
    public func choose(routing: String, function: String, group: UInt32) -> UInt64? { nil }

    /// False: the broker offers queries to `choose` alone.
    public var takesQueries: Bool { false }

    /// Nil: the choice is `choose`'s.
    public func take(servant: ServantView, routings: [String]) -> Int? { nil }
}

/// A dispatch algorithm written in Swift, exported as a C plugin with `DispatchPluginExport`.
///
/// The algorithm is pure Swift on `[ServantView]`; the exporter does all the C conversions.
/// Like every plugin, it is called from one thread only (the broker's event loop) and must not block.
public protocol SwiftDispatchAlgorithm: AnyObject {
    /// Creates the algorithm from the text after the name in `MSERVE_ALGO` ("" when none);
    /// nil when the configuration is invalid, which stops the broker's launch.
    init?(config: String)

    /// Index into `servants` of the free servant that takes the query, or nil to wait.
    func choose(routing: String, servants: [ServantView]) -> Int?

    /// Tells the algorithm that `servant` answered a query of `routing` after `executionNanoseconds`.
    func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64)
}

extension SwiftDispatchAlgorithm {
    /// Does nothing: most algorithms decide from the servant views alone.
    public func completed(servant: ServantView, routing: String, executionNanoseconds: UInt64) {}
}

/// A Swift dispatch algorithm that also picks queries for a free servant: the plugin's `take`
/// (ABI version 2). The broker asks each free servant, in the order of the list, before it
/// offers the waiting queries to `choose`.
public protocol SwiftQueryTaking: SwiftDispatchAlgorithm {
    /// Index into `routings` — the routing strings of the queries waiting at the front of the
    /// broker's line, up to its look-ahead, in arrival order — of the query the free `servant`
    /// takes, or nil to leave the choice to `choose`. A query taken is dispatched to `servant`
    /// as if `choose` had chosen it.
    func take(servant: ServantView, routings: [String]) -> Int?
}

/// A Swift dispatch algorithm that also provides the routing hook (`MSERVE_ROUTING=plugin:NAME`).
public protocol SwiftRoutingHook: SwiftDispatchAlgorithm, SwiftRoutingProvider {}

/// The routing hook of a Swift plugin (`MSERVE_ROUTING=plugin:NAME`): a `SwiftRoutingHook`, or
/// a `SwiftIndexedDispatchAlgorithm` that conforms to it too.
public protocol SwiftRoutingProvider: AnyObject {
    /// The routing string for a query calling `function`, or `.refused` to refuse it.
    ///
    /// Each element of `argumentMessages` is one argument as a complete kdb+ IPC message (8-byte
    /// header, then the serialized value); `defaultRouting` is the routing the broker would use.
    func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult
}

/// A Swift dispatch algorithm that keeps its own index of the servants (ABI version 3), exported
/// with `DispatchPluginExport`: the broker tells it every change (``observe(_:)``) and asks it
/// for a servant by id among a candidate group, so a dispatch need not look at every servant.
/// ``ReadyServants`` keeps the index most algorithms need.
public protocol SwiftIndexedDispatchAlgorithm: AnyObject {
    /// Creates the algorithm from the text after the name in `MSERVE_ALGO` ("" when none);
    /// nil when the configuration is invalid, which stops the broker's launch.
    init?(config: String)

    /// One change of the servants.
    func observe(_ event: DispatchEvent)

    /// The id of a free member of `group` (0: every ready servant) that takes a query of
    /// `routing` calling `function`, or nil to wait.
    func choose(routing: String, function: String, group: UInt32) -> UInt64?

    /// Index into `routings` of the query the free `servant` takes, or nil to leave the choice
    /// to `choose` (the plugin's `take`; exported only when ``takesQueries``).
    func take(servant: ServantView, routings: [String]) -> Int?

    /// Whether the plugin exports `take`.
    static var takesQueries: Bool { get }

    /// Whether the algorithm reads the routing strings of `choose` and of the DISPATCHED and
    /// COMPLETED events; when false the exporter passes "" and decodes none (true by default).
    static var readsRoutings: Bool { get }

    /// Whether the algorithm reads the function names `choose` is passed; when false the
    /// exporter passes "" and decodes none (true by default).
    static var readsFunctions: Bool { get }
}

extension SwiftIndexedDispatchAlgorithm {
    /// Nil: the choice is `choose`'s.
    public func take(servant: ServantView, routings: [String]) -> Int? { nil }

    /// False: no `take`.
    public static var takesQueries: Bool { false }

    /// True: routing strings are decoded and passed.
    public static var readsRoutings: Bool { true }

    /// True: function names are decoded and passed.
    public static var readsFunctions: Bool { true }
}
