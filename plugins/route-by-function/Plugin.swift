// The route-by-function plugin: an example routing hook. With MSERVE_ROUTING=plugin:route-by-function
// the routing string of a query is its function name, so queries of one function keep to the
// servants that ran it; functions in q's dot namespaces (.z, .Q, ...) are refused.
public import MServePlugin

/// Routes by function name and dispatches like match (a free servant that ran the same routing
/// string last, else the first free one).
public final class RouteByFunctionAlgorithm: SwiftIndexedDispatchAlgorithm, SwiftRoutingProvider {
    /// The ready servants, and which hold each routing string (ABI version 3).
    private var ready = ReadyServants()

    /// Takes no configuration: nil (the launch stops) for any text.
    public init?(config: String) {
        guard config.isEmpty else { return nil }  // it takes no configuration
    }

    /// Keeps the index of free servants and of the routing strings they hold up to date.
    public func observe(_ event: DispatchEvent) { ready.apply(event) }

    /// The first free servant of the group that ran `routing` last, else the first free one.
    public func choose(routing: String, function: String, group: UInt32) -> UInt64? {
        ready.holders(of: routing).first { ready.isFree($0) && ready.isMember($0, of: group) }
            ?? ready.firstFree(in: group)
    }

    public func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult {
        function.hasPrefix(".") ? .refused : .routing(function)
    }
}

private let exported = IndexedDispatchPluginExport<RouteByFunctionAlgorithm>.table(
    name: "route-by-function",
    description: "routing hook example: routes by function name, refuses dot-namespace functions; dispatches like match; takes no configuration",
    create: { IndexedDispatchPluginExport<RouteByFunctionAlgorithm>.create(config: $0) }
)

/// The plugin's entry symbol: the `mserve_dispatch_plugin` table.
@_cdecl("mserve_dispatch_plugin_entry")
public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
