import Foundation
import MServeProtocol
import MServeTestSupport
import QData
import Testing
import ZeroMQ

/// A servant played by a script on a real ZeroMQ ROUTER socket that the broker connects to,
/// so that a test sees every message the broker sends and chooses every answer.
struct ScriptedServant {
    let socket: ZMQSocket
    let endpoint: String
    /// The servant socket's connection events (accepted, handshake, disconnected, closed),
    /// read when a test fails: what happened to the broker's connection at this end.
    private let monitor: ZMQMonitor

    /// A servant bound to `bindTo` (by default a free port).
    init(context: ZMQContext, endpoint bindTo: String = "tcp://127.0.0.1:0") throws {
        socket = try ZMQSocket(context: context, type: .router)
        try socket.setLinger(milliseconds: 0)
        // A broker's new connection takes over its routing id from the old, should the script
        // still hold it (a real servant ignores the new one until the old one closes).
        try socket.setRouterHandover(true)
        try socket.setReceiveTimeout(milliseconds: 5_000)
        let monitorEndpoint = "inproc://scripted-servant-\(UInt64.random(in: 1...UInt64.max))"
        try socket.startMonitor(
            endpoint: monitorEndpoint,
            events: [.accepted, .handshakeSucceeded, .handshakeFailedNoDetail, .handshakeFailedProtocol, .disconnected, .closed])
        // Read only when a test fails: however many connections a test makes, unread events
        // must never hold up libzmq.
        monitor = try ZMQMonitor(context: context, endpoint: monitorEndpoint, unreadLimit: 0)
        try socket.bind(bindTo)
        endpoint = try socket.lastEndpoint
    }

    /// The connection events of the servant socket since the last call, a line each
    /// (`accepted fd=…`, `disconnected fd=…`): for a failed test's report. Call before
    /// ``close()``.
    func connectionEvents() -> [String] {
        var lines: [String] = []
        while let event = try? monitor.next(dontWait: true) {
            lines.append("\(event.event) value=\(event.value) \(event.endpoint)")
        }
        return lines
    }

    /// Closes the servant's socket and its monitor, stopped first: a monitor's PAIR closed while
    /// it still publishes would keep the socket's connections open
    /// (``ZMQSocket/startMonitor(endpoint:events:file:line:)``).
    func close() {
        try? socket.stopMonitor()
        socket.close()
        monitor.close()
    }

    /// The next message with command `command` (heartbeats and repeated HELLOs skipped),
    /// without the broker's routing id and the MSV1 marker. Gives up after `timeout` (120 seconds
    /// by default: a message that must come may be slow on a loaded machine), however many
    /// other messages come meanwhile. Waits without holding a thread of the concurrency pool (two
    /// threads on two cores, shared by every test running at once): a test that blocked one
    /// while its own task waited for the pool would stall every other test.
    func next(
        _ command: ServantCommand, within timeout: Duration = .seconds(120)
    ) async throws -> (broker: [UInt8], frames: [[UInt8]]) {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - ContinuousClock.now
            let frames = try #require(
                left > .zero ? try await socket.receiveFrames(within: left) : nil, "no \(command.rawValue) came")
            try #require(frames.count >= 3 && frames[1] == ServantLink.protocolMarker)
            if frames[2] == command.frame { return (frames[0], Array(frames[3...])) }
        }
    }

    /// Sends `command` and its body frames to the broker with routing id `broker`.
    func send(to broker: [UInt8], _ command: ServantCommand, _ body: [[UInt8]]) throws {
        try socket.send(multipart: [broker, ServantLink.protocolMarker, command.frame] + body)
    }

    /// Waits for the broker's HELLO (at most `timeout`) and answers READY
    /// (``readyInfo(capacity:batch:functions:incarnation:name:)``); returns the broker's routing id.
    @discardableResult
    func becomeReady(
        capacity: Int64, batch: Int64? = nil, functions: [String] = ["twice"], incarnation: Int64 = 9,
        name: String? = nil, within timeout: Duration = .seconds(30)
    ) async throws -> [UInt8] {
        let (broker, _) = try await next(.hello, within: timeout)
        try send(
            to: broker, .ready,
            [Self.readyInfo(capacity: capacity, batch: batch, functions: functions, incarnation: incarnation, name: name)])
        return broker
    }

    /// The info dictionary of a READY: a servant of `functions` (by default `twice`) in its
    /// `incarnation`, running `capacity` queries at once, taking up to `batch` per QUERY message (none: one),
    /// named `name` (none: the broker names it by its host and port), still running `running`
    /// queries of the broker's earlier sessions (none: the key is left out).
    static func readyInfo(
        capacity: Int64, batch: Int64?, functions: [String] = ["twice"], incarnation: Int64 = 9, name: String? = nil,
        running: Int64? = nil
    ) -> [UInt8] {
        var entries: [(String, QValue)] = [
            ("incarnation", .atom(.long(incarnation))), ("capacity", .atom(.long(capacity))), ("pid", .atom(.long(1))),
            ("service", .atom(.symbol("default"))), ("functions", .vector(.symbol(functions))),
        ]
        if let batch { entries.append(("batch", .atom(.long(batch)))) }
        if let name { entries.append(("name", .atom(.symbol(name)))) }
        if let running { entries.append(("running", .atom(.long(running)))) }
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

    /// The id and result of a broker's answer `(id; result; info)` to a client. A failure —
    /// the error text as the result and under the info's `error` key — comes back as the q
    /// error `.error(text)`, once the two texts are checked to agree.
    static func idAndResult(of answer: [UInt8]) throws -> (id: QValue, result: QValue) {
        guard case .list(let items, _) = try QIPC.decode(answer).value, items.count == 3 else {
            throw ScriptedServantError(description: "expected (id; result; info)")
        }
        if case .error = items[1] {
            throw ScriptedServantError(description: "a q error inside the reply list: \(items[1])")
        }
        if let failure = InfoDictionary.failure(in: items[2]) {
            guard items[1] == .string(failure) else {
                throw ScriptedServantError(description: "the result is not the info's error text: \(items)")
            }
            return (items[0], .error(failure))
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

/// Plays a ready scripted servant on a thread of its own: answers every heartbeat, and each
/// query with `answer(tag, message)` (nil: no answer), until stopped. For tests whose broker
/// must see the servant alive at all times, however busy the concurrency pool is.
final class ServantResponder: Sendable {
    private let thread: RepeatingThread

    /// Starts answering for `servant`, ready at the broker with routing id `broker`.
    init(
        _ servant: ScriptedServant, broker: [UInt8],
        answer: @escaping @Sendable (_ tag: [UInt8], _ message: [UInt8]) -> [UInt8]?
    ) {
        var poller = ZMQPoller()
        _ = poller.add(servant.socket)
        thread = RepeatingThread {
            guard (try? poller.poll(timeoutMilliseconds: 10)) != nil,
                let frames = try? servant.socket.receiveMultipartBytes(dontWait: true),
                frames.count >= 3
            else { return }
            if frames[2] == ServantCommand.ping.frame {
                try? servant.send(to: broker, .pong, [WireInteger.encode(9)])
            } else if frames[2] == ServantCommand.query.frame {
                for first in stride(from: 3, to: frames.count - 1, by: 2) {
                    if let reply = answer(frames[first], frames[first + 1]) {
                        try? servant.send(to: broker, .reply, [frames[first], reply])
                    }
                }
            }
        }
    }

    /// Stops answering and waits for the thread to end; the socket is the caller's again.
    func stop() {
        thread.stop()
    }
}

/// A message from the broker that is not what a test expected.
struct ScriptedServantError: Error, CustomStringConvertible {
    var description: String
}
