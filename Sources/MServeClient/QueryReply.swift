import MServeProtocol
public import QData

/// A query's answer: the `(id; result; info)` the broker sent back.
public struct QueryReply: Sendable {
    /// The id the client gave the query.
    public var id: QValue
    /// The result the servant computed.
    public var result: QValue
    /// The info dictionary (routing, servant, elapsed, execution, queued, received…).
    public var info: QValue

    /// Creates a reply.
    public init(id: QValue, result: QValue, info: QValue) {
        self.id = id
        self.result = result
        self.info = info
    }

    /// The info dictionary's entries, in order.
    public var infoEntries: [(String, QValue)] { InfoDictionary.symbolKeyedEntries(info) ?? [] }

    /// One info entry by key.
    public func info(_ key: String) -> QValue? { infoEntries.first { $0.0 == key }?.1 }

    /// The routing string the broker derived.
    public var routing: String? {
        if case .atom(.symbol(let text)) = info("routing") { return text }
        return nil
    }

    /// The servant that ran the query (`host:port`).
    public var servant: String? {
        if case .atom(.symbol(let text)) = info("servant") { return text }
        return nil
    }
}
