// MServeTesting owns helpers for testing code built with MServe: call a servant's
// functions exactly as a broker would (no sockets), run a whole local cluster
// (broker + servants + client) in-process on loopback, and record logs in memory.

import MServeProtocol
public import MServeServant
public import QData

/// Calls a servant's functions the way a real servant answers a broker: the query is
/// encoded as `(id; query)` IPC bytes, parsed, checked (secure invocation), run, and the
/// reply decoded again. What works here works behind a broker.
///
/// ```swift
/// let tester = ServantTester(functions: myRegistry)
/// let reply = try tester.call("proc1 `IBM")
/// #expect(reply.result == ...)
/// ```
public struct ServantTester: Sendable {
    /// The functions under test.
    public let functions: FunctionRegistry
    /// The largest result, as IPC bytes, a broker takes from a servant: its `--max-message`
    /// (64 MiB by default). A larger one fails the query, as behind a broker.
    public var maximumReplySize = 64 << 20

    /// Creates a tester for `functions`.
    public init(functions: FunctionRegistry) {
        self.functions = functions
    }

    /// What the servant answered.
    public struct Reply: Sendable {
        /// The id, as echoed.
        public var id: QValue
        /// The result, or for a failed query the error text as a string, as a client gets it
        /// from the broker (a function that returns a q error, `'oops`, fails with the string
        /// `"oops"`).
        public var result: QValue
        /// The servant's own info dictionary, if it sent one; for a failed query it holds the
        /// error text under `error` (after the servant's own entries, as the broker puts it).
        public var info: QValue?

        /// The error text, when the query failed (docs/PROTOCOL.md: `error` in the info).
        public var errorMessage: String? {
            ReplyAssembly.failure(result: result, info: info)
        }
    }

    /// Sends the q text `query` with `id` and returns the decoded reply.
    public func call(_ query: String, id: Int64 = 1) throws -> Reply {
        try call(query: .vector(.char(Array(query.utf8))), id: id)
    }

    /// Sends a query given as a q value (string or parse form).
    /// Throws, as a `Servant` refuses to start, when the registry holds a function no client
    /// could call (``MServeServant/FunctionRegistry/checkCallable()``).
    public func call(query: QValue, id: Int64 = 1) throws -> Reply {
        try call(rawMessage: ClientQuery(id: .atom(.long(id)), query: query).encoded())
    }

    /// Sends raw bytes, as a misbehaving client might, and returns the decoded reply.
    public func call(rawMessage: [UInt8]) throws -> Reply {
        try functions.checkCallable()
        return try decode(functions.reply(to: rawMessage, maximumReplySize: maximumReplySize))
    }

    private func decode(_ bytes: [UInt8]) throws -> Reply {
        let value = try QIPC.decode(bytes).value
        guard case .list(let items, _) = value, items.count == 2 || items.count == 3 else {
            throw ServantError("the servant's reply is not (id; result) or (id; result; info)")
        }
        let info = items.count == 3 ? items[2] : nil
        guard case .error(let text) = items[1] else { return Reply(id: items[0], result: items[1], info: info) }
        // A q error as the whole result is the query's failure: the broker sends clients its
        // text as a string, with the same text under the info's `error` key.
        var entries = info.map { InfoDictionary.symbolKeyedEntries($0) ?? [("servantInfo", $0)] } ?? []
        entries.removeAll { $0.0 == InfoDictionary.errorKey }
        return Reply(
            id: items[0], result: .string(text),
            info: InfoDictionary.dictionary(entries + [(InfoDictionary.errorKey, .string(text))]))
    }
}
