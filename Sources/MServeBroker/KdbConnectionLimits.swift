/// Who may open one more connection at the kdb+ door, so that one peer address cannot take
/// every connection the door allows and keep everyone else out.
///
/// - The door holds at most `maxConnections` connections (`--kdb-max-connections`).
/// - One address holds at most `maxPerAddress` of them (`--kdb-max-per-address`; by default a
///   quarter of the cap, but at least ``fewConnections`` when the cap allows).
/// - The last `reserved` connections (a quarter of the cap, rounded down) are kept for
///   addresses that hold fewer than `fewConnections` with the new one: addresses holding many
///   connections together cannot fill the door either. (Counted with the new one: an address
///   holding 3 that took a reserved connection as its 4th would hold 4 in the reserve, and
///   two such addresses filled a door of 8.)
public struct KdbConnectionLimits: Sendable, Hashable {
    /// Connections open at once, from all addresses.
    public var maxConnections: Int
    /// Connections open at once from one address.
    public var maxPerAddress: Int
    /// Connections at the top of the cap that only addresses holding fewer than
    /// ``fewConnections``, the new one counted, may open.
    public var reserved: Int
    /// An address may take a reserved connection if it then holds fewer than this many.
    public static let fewConnections = 4

    /// The limits for a cap of `maxConnections`, with `maxPerAddress` (nil: a quarter of the
    /// cap, but at least ``fewConnections`` or the cap; held to the cap).
    public init(maxConnections: Int, maxPerAddress: Int? = nil) {
        self.maxConnections = max(1, maxConnections)
        let byDefault = max(self.maxConnections / 4, min(self.maxConnections, Self.fewConnections))
        self.maxPerAddress = min(self.maxConnections, max(1, maxPerAddress ?? byDefault))
        self.reserved = self.maxConnections / 4
    }

    /// Why a connection from an address holding `fromAddress` connections, while `open` are
    /// open in all, is refused; nil when it may be opened.
    public func refusal(open: Int, fromAddress: Int) -> String? {
        if open >= maxConnections {
            return "\(open) are open, the most allowed (--kdb-max-connections)"
        }
        if fromAddress >= maxPerAddress {
            return "its address holds \(fromAddress), the most one address may (--kdb-max-per-address)"
        }
        if open >= maxConnections - reserved && fromAddress + 1 >= Self.fewConnections {
            return
                "its address holds \(fromAddress) and the last \(reserved) of \(maxConnections) are kept for addresses holding fewer than \(Self.fewConnections) with them"
        }
        return nil
    }
}
