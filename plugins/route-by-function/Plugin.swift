// The route-by-function plugin: an example routing hook. With MSERVE_ROUTING=plugin:route-by-function
// the routing string of a query is its function name, so queries of one function keep to the
// servants that ran it; functions in q's dot namespaces (.z, .Q, ...) are refused.
public import MServePlugin

/// Routes by function name and dispatches like match (a free servant that ran the same routing
/// string last, else the first free one).
public final class RouteByFunctionAlgorithm: SwiftRoutingHook {
    /// Takes no configuration: nil (the launch stops) for any text, `route-by-function:xyz` say.
    public init?(config: String) {
        guard config.isEmpty else { return nil }  // it takes no configuration
    }

    /// A free servant whose last routing string is `routing`, else the first free servant.
    public func choose(routing: String, servants: [ServantView]) -> Int? {
        servants.firstIndex { $0.isFree && $0.lastRouting == routing }
            ?? servants.firstIndex(where: \.isFree)
    }

    /// The function name, or `.refused` for a function in a dot namespace.
    public func route(function: String, argumentMessages: [[UInt8]], defaultRouting: String) -> RoutingHookResult {
        function.hasPrefix(".") ? .refused : .routing(function)
    }
}

private let exported = DispatchPluginExport<RouteByFunctionAlgorithm>.table(
    name: "route-by-function",
    description: "routing hook example: routes by function name, refuses dot-namespace functions; dispatches like match",
    create: { DispatchPluginExport<RouteByFunctionAlgorithm>.create(config: $0) }
)

/// The plugin's entry symbol: the `mserve_dispatch_plugin` table.
@_cdecl("mserve_dispatch_plugin_entry")
public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
