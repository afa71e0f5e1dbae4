// The even dispatch algorithm plugin: the next free servant after the one used last, wrapping.
public import MServePlugin

/// The next free servant further down the list from the last dispatch, wrapping around, so no
/// servant stays unused.
///
/// ABI version 3: the free servants of each candidate group are kept in list order
/// (`ReadyServants`); the next one after the last servant chosen (by its place in the list,
/// even once it left) is found without a pass over the servants.
///
/// Its state is marked `@exclusivity(unchecked)`: the broker calls a plugin from one thread, one
/// call at a time, so the runtime's access checks would only cost time.
public final class EvenAlgorithm: SwiftIndexedDispatchAlgorithm {
    @exclusivity(unchecked) private var ready = ReadyServants(tracksRoutings: false)
    /// The servant chosen last.
    @exclusivity(unchecked) private var last: UInt64?

    /// False: it reads no routing strings, so none is decoded for it.
    public static var readsRoutings: Bool { false }
    /// False: it reads no function names (its candidate group says who can run the query).
    public static var readsFunctions: Bool { false }

    /// Takes no configuration: nil (the launch stops) for any text, `even:xyz` say.
    public init?(config: String) {
        guard config.isEmpty else { return nil }  // it takes no configuration
    }

    /// Keeps the index of free servants up to date.
    public func observe(_ event: DispatchEvent) { ready.apply(event) }

    /// The first free servant of the group after the one chosen last, wrapping; nil when all are busy.
    public func choose(routing: String, function: String, group: UInt32) -> UInt64? {
        // No closure here: one capturing `self` copied the whole index out to read it.
        var chosen: UInt64?
        if let last { chosen = ready.firstFree(in: group, after: last) }
        if chosen == nil { chosen = ready.firstFree(in: group) }
        if let chosen { last = chosen }
        return chosen
    }
}

private let exported = IndexedDispatchPluginExport<EvenAlgorithm>.table(
    name: "even",
    description: "the next free servant after the one used last, wrapping around; takes no configuration",
    create: { IndexedDispatchPluginExport<EvenAlgorithm>.create(config: $0) }
)

/// The plugin's entry symbol: the `mserve_dispatch_plugin` table.
@_cdecl("mserve_dispatch_plugin_entry")
public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
