import QData

/// What the broker knows about one answered (or refused) query, for its info dictionary.
public struct QueryTimings: Sendable, Hashable {
    /// When the broker received the query, as a q timestamp (ns since 2000.01.01).
    public var received: Int64
    /// Time spent waiting for a free servant, in nanoseconds.
    public var queued: Int64
    /// Time from dispatch to answer (or the servant's own measure), in nanoseconds.
    public var execution: Int64
    /// Time from receipt to answer, in nanoseconds (queue included).
    public var elapsed: Int64

    /// Creates timings; all durations in nanoseconds.
    public init(received: Int64, queued: Int64, execution: Int64, elapsed: Int64) {
        self.received = received
        self.queued = queued
        self.execution = execution
        self.elapsed = elapsed
    }
}

/// Builds the info dictionary returned as the third item of every reply.
///
/// Keys (all symbols): `routing` (symbol), `servant` (symbol, `host:port`, empty when
/// no servant ran it), `elapsed`, `execution`, `queued` (timespans), `received`
/// (timestamp). When the servant sent its own symbol-keyed dictionary, all of its
/// entries are kept, `routing` is set, and each broker key the servant already used is
/// added as `broker` + capitalised key instead (`brokerElapsed`), so nothing the servant
/// said is overwritten. Any other third item from a servant is kept under `servantInfo`.
public enum InfoDictionary {
    /// The broker's own keys, in the order they appear.
    public static let brokerKeys = ["routing", "servant", "elapsed", "execution", "queued", "received"]

    /// Returns the info dictionary for one reply.
    public static func make(
        routing: String,
        servant: String,
        timings: QueryTimings,
        servantInfo: QValue? = nil
    ) -> QValue {
        let brokerEntries: [(String, QValue)] = [
            ("routing", .atom(.symbol(routing))),
            ("servant", .atom(.symbol(servant))),
            ("elapsed", .atom(.timespan(timings.elapsed))),
            ("execution", .atom(.timespan(timings.execution))),
            ("queued", .atom(.timespan(timings.queued))),
            ("received", .atom(.timestamp(timings.received))),
        ]
        guard let servantInfo else { return dictionary(brokerEntries) }
        guard var entries = symbolKeyedEntries(servantInfo) else {
            return dictionary(brokerEntries + [("servantInfo", servantInfo)])
        }
        var used = Set(entries.map(\.0))
        for (key, value) in brokerEntries {
            if key == "routing" {
                if let index = entries.firstIndex(where: { $0.0 == "routing" }) {
                    entries[index].1 = value
                } else {
                    entries.append((key, value))
                }
            } else if used.contains(key) {
                let renamed = "broker" + key.prefix(1).uppercased() + key.dropFirst()
                entries.append((renamed, value))
                used.insert(renamed)
            } else {
                entries.append((key, value))
                used.insert(key)
            }
        }
        return dictionary(entries)
    }

    /// A symbol-keyed dictionary with a general list of values.
    public static func dictionary(_ entries: [(String, QValue)]) -> QValue {
        .dictionary(
            keys: .vector(.symbol(entries.map(\.0))),
            values: .list(entries.map(\.1))
        )
    }

    /// The entries of a symbol-keyed dictionary (any value shape), or nil for anything else.
    public static func symbolKeyedEntries(_ value: QValue) -> [(String, QValue)]? {
        value.symbolKeyedPairs
    }
}
