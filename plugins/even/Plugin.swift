// The even dispatch algorithm plugin: the next free servant after the one used last, wrapping.
public import MServePlugin

/// The next free servant further down the list from the last dispatch, wrapping around, so no
/// servant stays unused.
public final class EvenAlgorithm: SwiftDispatchAlgorithm {
    /// The servant chosen last, by id, and the position it had then.
    private var last: (id: UInt64, index: Int)?

    /// Takes no configuration: nil (the launch stops) for any text, `even:xyz` say.
    public init?(config: String) {
        guard config.isEmpty else { return nil }  // it takes no configuration
    }

    /// The first free servant after the one chosen last, wrapping; nil when all are busy.
    public func choose(routing: String, servants: [ServantView]) -> Int? {
        guard !servants.isEmpty else { return nil }
        let start: Int
        if let last {
            if let position = servants.firstIndex(where: { $0.id == last.id }) {
                start = position + 1
            } else {
                // The last servant left: its successor moved into its position.
                start = last.index
            }
        } else {
            start = 0
        }
        for step in 0..<servants.count {
            let index = (start + step) % servants.count
            if servants[index].isFree {
                last = (servants[index].id, index)
                return index
            }
        }
        return nil
    }
}

private let exported = DispatchPluginExport<EvenAlgorithm>.table(
    name: "even",
    description: "the next free servant after the one used last, wrapping around",
    create: { DispatchPluginExport<EvenAlgorithm>.create(config: $0) }
)

/// The plugin's entry symbol: the `mserve_dispatch_plugin` table.
@_cdecl("mserve_dispatch_plugin_entry")
public func mserveDispatchPluginEntry() -> UnsafeRawPointer { exported.pointer }
