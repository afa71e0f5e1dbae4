// The orig dispatch algorithm plugin: always the first free servant from the top of the list.
public import MServePlugin

/// The first free servant from the top of the list (the original mserve dispatcher).
public final class OrigAlgorithm: SwiftDispatchAlgorithm {
    /// Takes no configuration: nil (the launch stops) for any text, `orig:xyz` say.
    public init?(config: String) {
        guard config.isEmpty else { return nil }  // it takes no configuration
    }

    /// The first free servant, or nil when all are busy.
    public func choose(routing: String, servants: [ServantView]) -> Int? {
        servants.firstIndex(where: \.isFree)
    }
}

private let exported = DispatchPluginExport<OrigAlgorithm>.table(
    name: "orig",
    description: "the first free servant from the top of the list",
    create: { DispatchPluginExport<OrigAlgorithm>.create(config: $0) }
)

/// The plugin's entry symbol: the `mserve_dispatch_plugin` table.
@_cdecl("mserve_dispatch_plugin_entry")
public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
