// A servant's result on its way to a client without being copied into an array.

import MServeProtocol
import QData
import ZeroMQ

/// A client's reply `(id; result; info)` laid out around a servant's result where it lies, in
/// the ZeroMQ frame the servant's `REPLY` brought: `head` (header, list and id), the bytes
/// `result` of `body`, then `tail` (the info dictionary), from
/// ``ReplyAssembly/splicedClientReply(id:resultCount:routing:servant:timings:)``.
///
/// A ZeroMQ client gets one frame joined from the three (``frame``: the result copied once,
/// from libzmq's message into libzmq's message); the kdb+ door writes the three to its socket
/// one after the other, the result straight from the servant's frame (``KdbStream``).
struct ClientReplyFrame {
    /// The message header, the list's head and the id's payload.
    var head: [UInt8]
    /// The servant's `REPLY` frame that holds the result.
    var body: ZMQMessage
    /// Where the result lies in `body`.
    var result: Range<Int>
    /// The info dictionary.
    var tail: [UInt8]

    /// The size of the whole reply in bytes.
    var count: Int { head.count + result.count + tail.count }

    /// The reply as one ZeroMQ frame.
    var frame: ZMQMessage {
        ZMQMessage(joining: [.bytes(head[...]), .body(body, result), .bytes(tail[...])])
    }

    /// The reply's pieces as the kdb+ door writes them for a query that came in `form`: the
    /// async message, the same as a response, or the result alone as a response.
    func kdbPieces(form: KdbReplyForm) -> [ZMQMessagePiece] {
        switch form {
        case .async:
            return [.bytes(head[...]), .body(body, result), .bytes(tail[...])]
        case .syncList:
            var responseHead = head
            responseHead[1] = QMessageType.response.rawValue
            return [.bytes(responseHead[...]), .body(body, result), .bytes(tail[...])]
        case .syncBare:
            let length = UInt32(truncatingIfNeeded: 8 + result.count)
            var header: [UInt8] = [1, QMessageType.response.rawValue, 0, 0]
            for index in 0..<4 { header.append(UInt8(truncatingIfNeeded: length >> (8 * UInt32(index)))) }
            return [.bytes(header[...]), .body(body, result)]
        }
    }
}

/// A reply to a ZeroMQ client, made and not yet sent (``BrokerLoop/clientReplies``).
struct PendingClientReply {
    /// What the reply goes out as.
    enum Body {
        /// A reply assembled in bytes.
        case bytes([UInt8])
        /// A reply joined around a servant's frame.
        case frame(ZMQMessage)
    }

    /// The client's envelope.
    var envelope: [[UInt8]]
    /// The reply.
    var body: Body
}
