// The broker's own functions, in the `.mserve` namespace: queries the broker answers itself,
// from its state, so that anything that can send a query (`mserve send`, a client library, a
// q session on the kdb+ door) can ask a broker what it is doing.

import MServeProtocol
public import QData

/// The broker's own functions. A query calling a function in the `.mserve` namespace is
/// answered by the broker and never reaches a servant; `--allow` lists do not apply to them.
///
/// - `.mserve.status[]`: a dictionary: `broker` (the client endpoint), `algorithm` (with its
///   configuration, `match:nowait`), `routing` (the spec), `lookAhead`, `queueCapacity`, `queueBytes`,
///   `deadline`, `redispatch`, `maxMessage`, `waitForServant`, `uptime`, `answered`, `queued`, `inFlight`,
///   `servantsReady`, `servantsKnown`, `rss` and `rssPeak` (the broker process's resident memory
///   now and at its peak, in bytes; null when unknown).
/// - `.mserve.servants[]`: a table, a row per servant in join order: `name`, `endpoint`,
///   `state` (`` `connecting``, `` `ready``, `` `draining``, `` `left`` or `` `lost``), `inFlight`, `capacity`, `served`,
///   `meanExecution`, `lastRouting`.
public enum BrokerFunctions {
    /// The broker's functions.
    public static let names = [".mserve.status", ".mserve.servants"]

    /// Whether `function` is in the broker's `.mserve` namespace.
    public static func isBrokerFunction(_ function: String) -> Bool {
        function.utf8.first == UInt8(ascii: ".") && function.hasPrefix(".mserve.")
    }

    /// Calls the broker function `function` on `arguments` (none, or `::` as `f[]` passes in
    /// q) against the broker's state in `snapshot`. Throws, with the text the client gets, for
    /// an unknown function or an argument.
    public static func call(
        _ function: String, arguments: [QValue], snapshot: BrokerSnapshot
    ) throws(BrokerError) -> QValue {
        let answer: (BrokerSnapshot) -> QValue
        switch function {
        case ".mserve.status": answer = status
        case ".mserve.servants": answer = servants
        default:
            throw BrokerError(
                .brokerFunction,
                "\(function): not a broker function; the broker answers "
                    + names.map { "\($0)[]" }.joined(separator: " and "))
        }
        guard arguments.isEmpty || (arguments.count == 1 && arguments[0] == .identity) else {
            throw BrokerError(.brokerFunction, "\(function): takes no arguments; call it as \(function)[]")
        }
        return answer(snapshot)
    }

    /// `.mserve.status[]`.
    static func status(_ snapshot: BrokerSnapshot) -> QValue {
        let ready = snapshot.servants.count { $0.state == "ready" }
        let entries: [(String, QValue)] = [
            ("broker", .atom(.symbol(snapshot.clientEndpoint))),
            ("algorithm", .atom(.symbol(snapshot.algorithm))),
            ("routing", .atom(.symbol(snapshot.settings.routing))),
            ("lookAhead", .atom(.long(Int64(snapshot.settings.lookAhead)))),
            ("queueCapacity", .atom(.long(Int64(snapshot.settings.queueCapacity)))),
            ("queueBytes", .atom(.long(Int64(snapshot.settings.queueBytes)))),
            ("deadline", .atom(.timespan(Int64(clamping: snapshot.settings.deadline.nanoseconds)))),
            ("redispatch", .atom(.long(Int64(snapshot.settings.redispatchLimit)))),
            ("maxMessage", .atom(.long(snapshot.settings.maxMessageSize))),
            ("waitForServant", .atom(.timespan(Int64(clamping: snapshot.settings.servantWait.nanoseconds)))),
            ("uptime", .atom(.timespan(Int64(clamping: snapshot.uptime.nanoseconds)))),
            ("answered", .atom(.long(Int64(clamping: snapshot.answered)))),
            ("queued", .atom(.long(Int64(snapshot.queued)))),
            ("queuedBytes", .atom(.long(Int64(snapshot.queuedBytes)))),
            ("inFlight", .atom(.long(Int64(snapshot.inFlight)))),
            ("servantsReady", .atom(.long(Int64(ready)))),
            ("servantsKnown", .atom(.long(Int64(snapshot.servants.count)))),
            ("rss", .atom(.long(snapshot.residentBytes.map { Int64($0) } ?? .min))),
            ("rssPeak", .atom(.long(snapshot.peakResidentBytes.map { Int64($0) } ?? .min))),
        ]
        return .dictionary(keys: .vector(.symbol(entries.map(\.0))), values: .list(entries.map(\.1)))
    }

    /// `.mserve.servants[]`.
    static func servants(_ snapshot: BrokerSnapshot) -> QValue {
        let rows = snapshot.servants
        return .table(
            QTable(
                columns: [
                    "name", "endpoint", "state", "inFlight", "capacity", "served", "meanExecution", "lastRouting",
                ],
                values: [
                    .vector(.symbol(rows.map(\.name))),
                    .vector(.symbol(rows.map(\.endpoint))),
                    .vector(.symbol(rows.map(\.state))),
                    .vector(.long(rows.map { Int64($0.inFlight) })),
                    .vector(.long(rows.map { Int64($0.capacity) })),
                    .vector(.long(rows.map { Int64(clamping: $0.served) })),
                    .vector(.timespan(rows.map { Int64(clamping: $0.meanExecution.nanoseconds) })),
                    .vector(.symbol(rows.map(\.lastRouting))),
                ]))
    }
}
