import MServeProtocol
import QData
import Testing
import ZeroMQ

/// A servant played by a script on a real ZeroMQ ROUTER socket that the broker connects to,
/// so that a test sees every message the broker sends and chooses every answer.
struct ScriptedServant {
    let socket: ZMQSocket
    let endpoint: String

    init(context: ZMQContext) throws {
        socket = try ZMQSocket(context: context, type: .router)
        try socket.setLinger(milliseconds: 0)
        // As a real servant: a broker's new connection takes over its routing id from the old.
        try socket.setRouterHandover(true)
        try socket.setReceiveTimeout(milliseconds: 5_000)
        try socket.bind("tcp://127.0.0.1:0")
        endpoint = try socket.lastEndpoint
    }

    /// The next message with command `command` (heartbeats and repeated HELLOs skipped),
    /// without the broker's routing id and the MSV1 marker. Gives up after 5 seconds, however
    /// many other messages come meanwhile.
    func next(_ command: ServantCommand) throws -> (broker: [UInt8], frames: [[UInt8]]) {
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            try #require(ContinuousClock.now < deadline, "no \(command.rawValue) came")
            let frames = try #require(try socket.receiveMultipartBytes(), "no \(command.rawValue) came")
            try #require(frames.count >= 3 && frames[1] == ServantLink.protocolMarker)
            if frames[2] == command.frame { return (frames[0], Array(frames[3...])) }
        }
    }

    /// Sends `command` and its body frames to the broker with routing id `broker`.
    func send(to broker: [UInt8], _ command: ServantCommand, _ body: [[UInt8]]) throws {
        try socket.send(multipart: [broker, ServantLink.protocolMarker, command.frame] + body)
    }

    /// Waits for the broker's HELLO and answers READY; returns the broker's routing id.
    func becomeReady(capacity: Int64, batch: Int64? = nil) throws -> [UInt8] {
        let (broker, _) = try next(.hello)
        try send(to: broker, .ready, [Self.readyInfo(capacity: capacity, batch: batch)])
        return broker
    }

    /// The info dictionary of a READY: a servant of function `twice`, running `capacity`
    /// queries at once, taking up to `batch` per QUERY message (none: one).
    static func readyInfo(capacity: Int64, batch: Int64?) -> [UInt8] {
        var entries: [(String, QValue)] = [
            ("incarnation", .atom(.long(9))), ("capacity", .atom(.long(capacity))), ("pid", .atom(.long(1))),
            ("service", .atom(.symbol("default"))), ("functions", .vector(.symbol(["twice"]))),
        ]
        if let batch { entries.append(("batch", .atom(.long(batch)))) }
        return QIPC.encode(InfoDictionary.dictionary(entries))
    }
}

extension ScriptedServant {
    /// The client's query `(id; text)`, as a DEALER sends it.
    static func query(id: Int64, _ text: String) -> [UInt8] {
        QIPC.encode(.list([.atom(.long(id)), .string(text)]), messageType: .async)
    }

    /// The servant's answer `(id; result)` to a query.
    static func answer(id: Int64, _ result: QValue) -> [UInt8] {
        QIPC.encode(.list([.atom(.long(id)), result]), messageType: .async)
    }

    /// The id and result of a broker's answer `(id; result; info)` to a client.
    static func idAndResult(of answer: [UInt8]) throws -> (id: QValue, result: QValue) {
        guard case .list(let items, _) = try QIPC.decode(answer).value, items.count == 3 else {
            throw ScriptedServantError(description: "expected (id; result; info)")
        }
        return (items[0], items[1])
    }
}

extension ScriptedServant {
    /// The `queued`, `execution` and `elapsed` of a broker's answer `(id; result; info)`, in nanoseconds.
    static func timings(of answer: [UInt8]) throws -> (queued: Int64, execution: Int64, elapsed: Int64) {
        guard case .list(let items, _) = try QIPC.decode(answer).value, items.count == 3 else {
            throw ScriptedServantError(description: "expected (id; result; info)")
        }
        let entries = try #require(InfoDictionary.symbolKeyedEntries(items[2]))
        let values = Dictionary(entries, uniquingKeysWith: { first, _ in first })
        guard case .atom(.timespan(let queued)) = values["queued"],
            case .atom(.timespan(let execution)) = values["execution"],
            case .atom(.timespan(let elapsed)) = values["elapsed"]
        else { throw ScriptedServantError(description: "no queued, execution and elapsed timespans in \(entries)") }
        return (queued, execution, elapsed)
    }
}

/// A message from the broker that is not what a test expected.
struct ScriptedServantError: Error, CustomStringConvertible {
    var description: String
}
