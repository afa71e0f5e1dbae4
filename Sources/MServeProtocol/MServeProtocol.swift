// MServeProtocol owns the wire protocol between clients, brokers and servants
// (frame layouts and commands, see docs/PROTOCOL.md), the info dictionary that
// comes back with every reply, the clocks both ends time queries with, and the
// endpoint line an mserve process prints when it is up (EndpointLine).

import QData

/// The protocol marker that opens every broker↔servant message. It names the
/// protocol and its version; a peer refuses any other marker.
public enum ServantLink {
    /// Frame 1 of every broker↔servant message.
    public static let protocolMarker: [UInt8] = Array("MSV1".utf8)

    /// How long a servant keeps the session of a broker it hears nothing from (no `PING`, no
    /// `QUERY`): a minute, after which the broker's queries waiting there are dropped and a
    /// `QUERY` of that session is answered `BYE` (docs/PROTOCOL.md). A broker heartbeats far
    /// more often; one whose own process did not run for nearly this long greets its servants
    /// again before it sends them anything.
    public static let brokerSessionTimeout: Duration = .seconds(60)
}

/// The commands of the broker↔servant link (frame 2, ASCII).
public enum ServantCommand: String, Sendable, CaseIterable {
    /// Broker → servant: start a session. Frame 3: the broker's incarnation (8 bytes,
    /// little-endian). Optional frame 4: the most answers it takes in one REPLY; optional
    /// frame 5: the largest REPLY message it accepts, in bytes.
    case hello = "HELLO"
    /// Servant → broker: answer to HELLO. Frame 3: an IPC message holding a symbol-keyed
    /// dictionary (`incarnation`, `capacity`, `batch`: the most queries it takes in one QUERY,
    /// `pid`, `service`, `functions`: the symbols of the functions it serves, those its
    /// `--allow` lets through, and `name` when it has one).
    case ready = "READY"
    /// Broker → servant: run queries, up to the servant's `batch` in one message. From frame 3,
    /// pairs: a correlation tag (8 bytes LE), then the client's `(id; query)` IPC message,
    /// unchanged.
    case query = "QUERY"
    /// Servant → broker: answers, up to the broker's HELLO limit in one message. From frame 3,
    /// triples: the tag, the `(id; result)` or `(id; result; info)` IPC message, the execution
    /// time in nanoseconds (8 bytes LE).
    case reply = "REPLY"
    /// Broker → servant: heartbeat.
    case ping = "PING"
    /// Servant → broker: heartbeat answer. Frame 3: the servant's incarnation (8 bytes LE).
    case pong = "PONG"
    /// Servant → broker: the servant is stopping. The broker sends it no more queries; the
    /// answers to the ones it runs follow, then BYE.
    case drain = "DRAIN"
    /// Either way: the sender is leaving; the receiver forgets the session. From a servant,
    /// optional frames: the tags of queries it received and never started, which the broker
    /// sends elsewhere without counting them as a dispatch.
    case bye = "BYE"

    /// The command's frame bytes (made once per command, not per message).
    public var frame: [UInt8] {
        switch self {
        case .hello: Self.helloFrame
        case .ready: Self.readyFrame
        case .query: Self.queryFrame
        case .reply: Self.replyFrame
        case .ping: Self.pingFrame
        case .pong: Self.pongFrame
        case .drain: Self.drainFrame
        case .bye: Self.byeFrame
        }
    }

    private static let helloFrame = Array(ServantCommand.hello.rawValue.utf8)
    private static let readyFrame = Array(ServantCommand.ready.rawValue.utf8)
    private static let queryFrame = Array(ServantCommand.query.rawValue.utf8)
    private static let replyFrame = Array(ServantCommand.reply.rawValue.utf8)
    private static let pingFrame = Array(ServantCommand.ping.rawValue.utf8)
    private static let pongFrame = Array(ServantCommand.pong.rawValue.utf8)
    private static let drainFrame = Array(ServantCommand.drain.rawValue.utf8)
    private static let byeFrame = Array(ServantCommand.bye.rawValue.utf8)

    /// Reads a command frame; nil for anything else.
    public init?(frame: [UInt8]) {
        self.init(frame: frame[...])
    }

    /// Reads a command frame in place; nil for anything else.
    public init?(frame: ArraySlice<UInt8>) {
        // Compared as bytes: this runs for every message on the servant link.
        for command in Self.allCases where command.frame.elementsEqual(frame) {
            self = command
            return
        }
        return nil
    }
}

/// What one READY may announce (docs/PROTOCOL.md, section 2). A broker refuses a READY past
/// these limits, with a warning naming the servant and the limit, and keeps the servant out of
/// dispatch; one within them costs its loop a few milliseconds at most to read (one listing
/// millions of functions held it for seconds). A servant whose functions are past them refuses
/// to start.
public enum ReadyLimits {
    /// The most bytes a READY's dictionary may have: its IPC message, and a compressed one's
    /// plain message too (256 KiB).
    public static let largestBody = 256 << 10
    /// The most function names its `functions` may list.
    public static let mostFunctions = 4_096
    /// The longest function name, and the longest `name`, in UTF-8 bytes.
    public static let longestName = 255
}

/// Little-endian 8-byte integers, as used for tags, incarnations and durations on the wire.
public enum WireInteger {
    /// Encodes `value` as 8 little-endian bytes.
    public static func encode(_ value: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        encode(value, into: &bytes)
        return bytes
    }

    /// Writes `value` as 8 little-endian bytes over `bytes`, reusing its storage: a loop that
    /// sends an integer per message keeps one array for it instead of making one each time.
    public static func encode(_ value: UInt64, into bytes: inout [UInt8]) {
        if bytes.count != 8 { bytes = [UInt8](repeating: 0, count: 8) }
        for index in 0..<8 { bytes[index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }

    /// Decodes 8 little-endian bytes; nil if `bytes` is not exactly 8 long.
    public static func decode(_ bytes: [UInt8]) -> UInt64? {
        decode(bytes[...])
    }

    /// Decodes 8 little-endian bytes in place; nil if `bytes` is not exactly 8 long.
    public static func decode(_ bytes: ArraySlice<UInt8>) -> UInt64? {
        guard bytes.count == 8 else { return nil }
        var value: UInt64 = 0
        var shift: UInt64 = 0
        for byte in bytes {
            value |= UInt64(byte) << shift
            shift += 8
        }
        return value
    }
}

/// MServe's version.
public enum MServeVersion {
    /// The release version of this build.
    public static let current = "0.1.0"
}
