// A servant's result on its way to a client without being copied into an array.

import MServeProtocol
import QData
import ZeroMQ

/// A client's reply `(id; result; info)` laid out around a servant's result where it lies:
/// `head` (header, list and id), the `result` piece, then `tail` (the info dictionary), from
/// ``ReplyAssembly/splicedClientReply(id:resultCount:routing:servant:timings:)``. The result
/// is a range of the ZeroMQ frame the servant's `REPLY` brought, or, for a small frame, its
/// bytes where the loop received them (``ZMQFrames``), not yet copied anywhere.
///
/// A ZeroMQ client gets one frame joined from the three (``frame``: the result copied once,
/// into libzmq's message); the kdb+ door writes the three to its socket one after the other
/// (``KdbStream``), from a reply ``detached`` from the loop's receive buffer.
struct ClientReplyFrame {
    /// The message header, the list's head and the id's payload.
    var head: [UInt8]
    /// The servant's result: a range of its `REPLY` frame, or bytes of the loop's.
    var result: ZMQMessagePiece
    /// The info dictionary.
    var tail: [UInt8]

    /// The size of the whole reply in bytes.
    var count: Int { head.count + result.count + tail.count }

    /// The reply as one ZeroMQ frame: in `message` (an empty one, a send emptied) when given,
    /// else in a new one; countable, so that the bytes libzmq holds for the client are known.
    func frame(reusing message: ZMQMessage? = nil) -> ZMQMessage {
        let frame = message ?? ZMQMessage()
        frame.replaceBody(joining: .bytes(head[...]), result, .bytes(tail[...]), countable: true)
        return frame
    }

    /// The reply with a result of its own: a result still in the loop's receive buffer is
    /// copied, so that a reply kept for later (a slow kdb+ client's) holds that buffer neither
    /// alive nor from being reused.
    var detached: ClientReplyFrame {
        guard case .bytes(let bytes) = result else { return self }
        return ClientReplyFrame(head: head, result: .bytes(Array(bytes)[...]), tail: tail)
    }

    /// The reply's pieces as the kdb+ door writes them for a query that came in `form`: the
    /// async message, the same as a response, or the result alone as a response.
    func kdbPieces(form: KdbReplyForm) -> [ZMQMessagePiece] {
        switch form {
        case .async:
            return [.bytes(head[...]), result, .bytes(tail[...])]
        case .syncList:
            var responseHead = head
            responseHead[1] = QMessageType.response.rawValue
            return [.bytes(responseHead[...]), result, .bytes(tail[...])]
        case .syncBare:
            let length = UInt32(truncatingIfNeeded: 8 + result.count)
            var header: [UInt8] = [1, QMessageType.response.rawValue, 0, 0]
            for index in 0..<4 { header.append(UInt8(truncatingIfNeeded: length >> (8 * UInt32(index)))) }
            return [.bytes(header[...]), result]
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
