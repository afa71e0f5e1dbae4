// The match dispatch algorithm plugin (the default): keep a routing string on the servant that
// ran it last, so its data stays warm; else any free servant.
import MServePlugin

/// The free servant whose previous query had the same routing string; else the first free one.
public final class MatchAlgorithm: SwiftDispatchAlgorithm {
    /// Takes no configuration; any text is ignored.
    public init?(config: String) {}

    /// A free servant whose last routing string is `routing`, else the first free servant.
    public func choose(routing: String, servants: [ServantView]) -> Int? {
        servants.firstIndex { $0.isFree && $0.lastRouting == routing }
            ?? servants.firstIndex(where: \.isFree)
    }
}

private let exported = DispatchPluginExport<MatchAlgorithm>.table(
    name: "match",
    description: "the free servant whose previous query had the same routing string, else any free one",
    create: { DispatchPluginExport<MatchAlgorithm>.create(config: $0) }
)

/// The plugin's entry symbol: the `mserve_dispatch_plugin` table.
@_cdecl("mserve_dispatch_plugin_entry")
public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
