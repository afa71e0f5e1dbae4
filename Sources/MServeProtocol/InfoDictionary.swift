public import QData

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

/// Builds the info dictionary returned as the third item of every reply. This is the one
/// place that knows its keys and their order.
///
/// Keys (all symbols): `routing` (symbol), `servant` (symbol, `host:port`, empty when
/// no servant ran it), `elapsed`, `execution`, `queued` (timespans), `received`
/// (timestamp), and, only when the query failed, `error` (the error text as a string). When
/// the servant sent its own symbol-keyed dictionary, all of its entries come first, `routing`
/// is set, and each broker key the servant already used is added as `broker` + capitalised key
/// instead (`brokerElapsed`), prefixed again while that is taken too (`brokerBrokerElapsed`),
/// so nothing the servant said is overwritten and no key appears twice; `error` is reserved
/// and always last. Any other third item from a servant is kept under `servantInfo`.
public enum InfoDictionary {
    /// The broker's own keys, in the order they appear.
    public static let brokerKeys = ["routing", "servant", "elapsed", "execution", "queued", "received"]

    /// The values of ``brokerKeys``, in their order: the one place that pairs each key with
    /// what it holds.
    public static func brokerValues(routing: String, servant: String, timings: QueryTimings) -> [QValue] {
        [
            .atom(.symbol(routing)),
            .atom(.symbol(servant)),
            .atom(.timespan(timings.elapsed)),
            .atom(.timespan(timings.execution)),
            .atom(.timespan(timings.queued)),
            .atom(.timestamp(timings.received)),
        ]
    }

    /// The reserved key that marks a failed query; its value is the error text (a string).
    /// Present only on failure: a client tests `` `error in key info ``.
    public static let errorKey = "error"

    /// Returns the info dictionary for one reply; `error` is the failure's text, nil for a
    /// query that succeeded.
    public static func make(
        routing: String,
        servant: String,
        timings: QueryTimings,
        servantInfo: QValue? = nil,
        error: String? = nil
    ) -> QValue {
        let brokerEntries = Array(zip(brokerKeys, brokerValues(routing: routing, servant: servant, timings: timings)))
        let errorEntries: [(String, QValue)] = error.map { [(errorKey, .string($0))] } ?? []
        guard let servantInfo else { return dictionary(brokerEntries + errorEntries) }
        guard var entries = symbolKeyedEntries(servantInfo) else {
            return dictionary(brokerEntries + [("servantInfo", servantInfo)] + errorEntries)
        }
        // The reserved key goes last, with the failure's text (the servant's own, when it failed).
        entries.removeAll { $0.0 == errorKey }
        var used = Set(entries.map(\.0))
        for (key, value) in brokerEntries {
            if key == "routing" {
                if let index = entries.firstIndex(where: { $0.0 == "routing" }) {
                    entries[index].1 = value
                } else {
                    entries.append((key, value))
                }
            } else {
                let free = freeKey(for: key, notIn: used)
                entries.append((free, value))
                used.insert(free)
            }
        }
        return dictionary(entries + errorEntries)
    }

    /// `key` if no key in `used` is it, else `key` prefixed with `broker` (its first letter
    /// capitalised) as many times as it takes to find one that is not used: `elapsed`,
    /// `brokerElapsed`, `brokerBrokerElapsed`, … The reply's keys stay unique, and the
    /// broker's figure is found under the first free one.
    static func freeKey(for key: String, notIn used: Set<String>) -> String {
        var candidate = key
        while used.contains(candidate) {
            candidate = "broker" + candidate.prefix(1).uppercased() + candidate.dropFirst()
        }
        return candidate
    }

    /// The info a servant sends with a failed query: only the reserved `error` entry.
    public static func servantFailure(_ message: String) -> QValue {
        dictionary([(errorKey, .string(message))])
    }

    /// The failure's text when `info` is a dictionary holding the reserved `error` key, nil
    /// otherwise (the query succeeded).
    public static func failure(in info: QValue) -> String? {
        guard let value = info[errorKey] else { return nil }
        if let text = value.string { return text }
        if let text = value.symbol { return text }
        return "\(value)"
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
