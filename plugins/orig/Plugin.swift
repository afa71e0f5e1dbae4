// The orig dispatch algorithm plugin: always the first free servant from the top of the list.
public import MServePlugin

/// The first free servant from the top of the list (the original mserve dispatcher).
///
/// ABI version 3: the free servants of each candidate group are kept in list order
/// (`ReadyServants`), so a choice costs the same with 2 servants or 10,000.
///
/// Its index is marked `@exclusivity(unchecked)`: the broker calls a plugin from one thread, one
/// call at a time, so the runtime's access checks would only cost time.
public final class OrigAlgorithm: SwiftIndexedDispatchAlgorithm {
    @exclusivity(unchecked) private var ready = ReadyServants(tracksRoutings: false)

    /// False: it reads no routing strings, so none is decoded for it.
    public static var readsRoutings: Bool { false }
    /// False: it reads no function names (its candidate group says who can run the query).
    public static var readsFunctions: Bool { false }

    /// Takes no configuration: nil (the launch stops) for any text, `orig:xyz` say.
    public init?(config: String) {
        guard config.isEmpty else { return nil }  // it takes no configuration
    }

    /// Keeps the index of free servants up to date.
    public func observe(_ event: DispatchEvent) { ready.apply(event) }

    /// The first free servant of the group, or nil when all are busy.
    public func choose(routing: String, function: String, group: UInt32) -> UInt64? {
        ready.firstFree(in: group)
    }
}

private let exported = IndexedDispatchPluginExport<OrigAlgorithm>.table(
    name: "orig",
    description: "the first free servant from the top of the list; takes no configuration",
    create: { IndexedDispatchPluginExport<OrigAlgorithm>.create(config: $0) }
)

/// The plugin's entry symbol: the `mserve_dispatch_plugin` table.
@_cdecl("mserve_dispatch_plugin_entry")
public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
