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

extension ReplyAssembly {
    /// `(id; result; info)` for a servant's reply, with the broker's info dictionary
    /// (``InfoDictionary/make(routing:servant:timings:servantInfo:)``, the servant's own info
    /// merged in when it sent one). The result's bytes are copied, never decoded.
    ///
    /// When the servant sent no info — the common case — the dictionary is written straight to
    /// bytes, without building its q value first: this runs for every reply the broker sends.
    public static func clientReply(
        _ reply: SlicedReply, routing: String, servant: String, timings: QueryTimings
    ) -> [UInt8] {
        if reply.info != nil {
            let info = InfoDictionary.make(
                routing: routing, servant: servant, timings: timings, servantInfo: reply.decodeInfo())
            return clientReply(reply, info: info)
        }
        let id = reply.bytes[reply.id]
        let result = reply.bytes[reply.result]
        var bytes = QIPC.listMessageHead(
            count: 3,
            reservingCapacity: 14 + id.count + result.count + brokerInfoHead.count + routing.utf8.count
                + servant.utf8.count + 4 + 4 * 9)
        bytes.append(contentsOf: id)
        bytes.append(contentsOf: result)
        bytes.append(contentsOf: brokerInfoHead)
        // The values, in the order of `InfoDictionary.brokerKeys`, each written in place.
        QIPC.encodePayload(.atom(.symbol(routing)), into: &bytes)
        QIPC.encodePayload(.atom(.symbol(servant)), into: &bytes)
        QIPC.encodePayload(.atom(.timespan(timings.elapsed)), into: &bytes)
        QIPC.encodePayload(.atom(.timespan(timings.execution)), into: &bytes)
        QIPC.encodePayload(.atom(.timespan(timings.queued)), into: &bytes)
        QIPC.encodePayload(.atom(.timestamp(timings.received)), into: &bytes)
        QIPC.patchLength(&bytes)
        return bytes
    }

    /// Type 99 (dictionary), the symbol vector of the broker's keys, then the head of the
    /// general list of their values: what precedes the values in every broker info dictionary.
    private static let brokerInfoHead: [UInt8] = {
        var bytes: [UInt8] = [99]
        QIPC.encodePayload(.vector(.symbol(InfoDictionary.brokerKeys)), into: &bytes)
        bytes.append(contentsOf: [0, 0])
        QIPC.appendInt32(Int32(InfoDictionary.brokerKeys.count), to: &bytes)
        return bytes
    }()
}
