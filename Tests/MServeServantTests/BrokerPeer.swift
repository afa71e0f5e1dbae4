import MServeProtocol
import MServeServant
import MServeTestSupport
import QData
import Testing
import ZeroMQ

/// A DEALER standing in for a broker in session with a servant: it says HELLO (with the
/// frames a test chooses), checks the READY, and sends and reads MSV1 messages, waiting
/// without holding a thread of the concurrency pool.
struct BrokerPeer {
    let socket: ZMQSocket
    /// The servant's READY dictionary.
    let ready: [String: QValue]

    /// Connects to the servant at `endpoint` and starts a session with a HELLO whose frames
    /// after the command are `helloFrames` (the broker incarnation 7 by default).
    init(context: ZMQContext, endpoint: String, helloFrames: [[UInt8]] = [WireInteger.encode(7)]) async throws {
        socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.connect(endpoint)
        try socket.send(multipart: [ServantLink.protocolMarker, ServantCommand.hello.frame] + helloFrames)
        let frames = try #require(try await socket.receiveFrames(within: .seconds(10)), "no READY came")
        try #require(frames.count == 3 && frames[1] == ServantCommand.ready.frame, "not a READY: \(frames)")
        let entries = InfoDictionary.symbolKeyedEntries(try QIPC.decode(frames[2]).value) ?? []
        ready = Dictionary(entries, uniquingKeysWith: { first, _ in first })
    }

    /// Sends `command` and its frames.
    func send(_ command: ServantCommand, _ frames: [[UInt8]] = []) throws {
        try socket.send(multipart: [ServantLink.protocolMarker, command.frame] + frames)
    }

    /// Sends a QUERY of one `(tag; text)` query.
    func query(tag: UInt64, _ text: String) throws {
        try send(.query, [WireInteger.encode(tag), QIPC.encode(.list([.atom(.long(Int64(tag))), .string(text)]), messageType: .async)])
    }

    /// The next message within `timeout` (marker, command, frames…), or nil.
    func next(within timeout: Duration = .seconds(10)) async throws -> [[UInt8]]? {
        try await socket.receiveFrames(within: timeout)
    }
}
