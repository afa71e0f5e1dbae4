import CZeroMQ

/// One multipart message received into reusable storage.
///
/// An event loop keeps one `ZMQFrames` per socket and receives into it with
/// ``ZMQSocket/receive(into:dontWait:file:line:)``. Frames smaller than
/// ``largeFrameSize`` are copied back to back into one buffer that is reused, so once it has
/// grown, receiving small messages allocates nothing
/// (``ZMQSocket/receiveMultipart(dontWait:file:line:)`` makes an object and an array per
/// frame). A larger frame is not copied at all: its libzmq message is moved
/// (`zmq_msg_move`) into a ``ZMQMessage`` of its own, which ``message(at:)`` hands out, to be
/// sent on (``ZMQMessage/copy()`` shares the body) or read in place; it is released with the
/// next message. The shared buffer is kept for the next message only up to
/// ``retainedCapacity``: one message of many small frames (a batch) does not pin its size for
/// good. Owned by one thread, like the socket it reads.
public struct ZMQFrames {
    /// Frames from this size up stay in their own libzmq messages rather than the shared buffer.
    public static let largeFrameSize = 16 * 1024

    /// The most bytes of small frames the shared buffer keeps between messages; a larger buffer
    /// is freed when the next message is received.
    public static let retainedCapacity = 256 * 1024

    // The storage is visible to inlined code: a loop reads its frames for every message, and
    // a call into this module for each read copied the struct (a retain and release of each
    // array) while the inlined read touches only what it reads.

    /// The small frames' bytes, back to back.
    @usableFromInline internal private(set) var bytes: [UInt8] = []
    /// Where each frame lies: in `bytes`, or in its own message in `largeFrames`.
    @usableFromInline internal private(set) var bounds: [Range<Int>] = []
    /// Per frame, its own message when it is a large frame.
    @usableFromInline internal private(set) var largeFrames: [ZMQMessage?] = []
    /// The `zmq_msg_t` each frame is received into before its bytes are appended.
    private let scratch = ZMQMessage()

    /// No frames yet.
    public init() {}

    /// The number of frames of the message last received.
    @inlinable public var count: Int { bounds.count }

    /// The bytes of frame `index`: a small frame's in place, a large frame's copied (read those
    /// with ``message(at:)``).
    @inlinable public subscript(index: Int) -> ArraySlice<UInt8> {
        if let large = largeFrames[index] { return large.bytes[...] }
        return bytes[bounds[index]]
    }

    /// Reads frame `index` in place as a span of bytes, borrowed for the call: nothing is
    /// copied, a large frame's bytes read in its own message.
    @inlinable public func withSpan<Result, Failure: Error>(
        ofFrame index: Int, _ body: (Span<UInt8>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        if let large = largeFrames[index] { return try large.withSpan(body) }
        return try body(bytes.span.extracting(bounds[index]))
    }

    /// The size of frame `index`, in bytes.
    @inlinable public func size(ofFrame index: Int) -> Int { bounds[index].count }

    /// The frames in front of the last one, and their bytes together (a client's envelope).
    @inlinable public var leadingFrames: (count: Int, bytes: Int) {
        guard count > 1 else { return (0, 0) }
        var total = 0
        for index in 0..<(count - 1) { total += bounds[index].count }
        return (count - 1, total)
    }

    /// Frame `index` as an array of its own (copied).
    @inlinable public func copy(of index: Int) -> [UInt8] {
        largeFrames[index]?.bytes ?? Array(bytes[bounds[index]])
    }

    /// Frame `index` as a message: a large frame's own, as libzmq received it (nothing copied),
    /// a small frame's copied into a new one. Sending the returned message empties it, and a
    /// large frame with it: send a ``ZMQMessage/copy()`` to keep the frame readable.
    @inlinable public func message(at index: Int) -> ZMQMessage {
        largeFrames[index] ?? ZMQMessage(bytes: bytes[bounds[index]])
    }

    /// Whether frame `index` is kept in a message of its own (``largeFrameSize`` bytes or more).
    @inlinable public func isLarge(_ index: Int) -> Bool {
        largeFrames[index] != nil
    }

    /// A message-level property (`zmq_msg_gets`) of the message last received, such as
    /// "User-Id" (what the ZAP handler admitted the peer as) or "Peer-Address"; nil when absent
    /// or when nothing was received yet.
    public func metadata(_ property: String) -> String? {
        guard count > 0 else { return nil }
        // The last frame holds it: in the scratch message, or moved out of it when large.
        let last: ZMQMessage? = largeFrames[largeFrames.count - 1]
        return (last ?? scratch).metadata(property)
    }

    /// The bytes the shared buffer of small frames holds room for now.
    public var bufferCapacity: Int { bytes.capacity }

    /// The frames whose places are kept now (without another allocation).
    public var frameCapacity: Int { bounds.capacity }

    /// The most frames whose places are kept between messages: a message of more frees them
    /// when the next one is received.
    public static let retainedFrameCount = 4_096

    /// Forgets the frames, keeping the storage of the small ones up to ``retainedCapacity``
    /// bytes and ``retainedFrameCount`` frames.
    public mutating func removeAll() {
        let keep = bytes.capacity <= Self.retainedCapacity && bounds.capacity <= Self.retainedFrameCount
        bytes.removeAll(keepingCapacity: keep)
        bounds.removeAll(keepingCapacity: keep)
        largeFrames.removeAll(keepingCapacity: keep)
    }

    /// Appends the body of the scratch message as the next frame; returns whether more follow.
    fileprivate mutating func appendScratch() -> Bool {
        let size = zmq_msg_size(scratch.pointer)
        if size >= Self.largeFrameSize {
            let more = zmq_msg_more(scratch.pointer) != 0
            largeFrames.append(ZMQMessage.moving(from: scratch.pointer))
            bounds.append(0..<size)
            return more
        } else {
            let body = UnsafeRawBufferPointer(start: size > 0 ? zmq_msg_data(scratch.pointer) : nil, count: size)
            let start = bytes.count
            bytes.append(contentsOf: body)
            largeFrames.append(nil)
            bounds.append(start..<bytes.count)
        }
        return zmq_msg_more(scratch.pointer) != 0
    }

    fileprivate var scratchPointer: UnsafeMutablePointer<zmq_msg_t> { scratch.pointer }
}

extension ZMQSocket {
    /// Receives all frames of one message into `frames`, replacing what it held. Returns false,
    /// with `frames` empty, when none is waiting (`dontWait`) or the receive timeout expired.
    public func receive(
        into frames: inout ZMQFrames, dontWait: Bool = false, file: String = #fileID, line: Int = #line
    ) throws(ZMQError) -> Bool {
        frames.removeAll()
        let handle = try openHandle(call: "zmq_msg_recv", file: file, line: line)
        var flags = dontWait ? ZMQ_DONTWAIT : 0
        while true {
            if zmq_msg_recv(frames.scratchPointer, handle, flags) >= 0 {
                // The rest of a message arrives together with its first frame.
                if !frames.appendScratch() { return true }
                flags = 0
                continue
            }
            let code = ZMQError.lastCode
            switch code {
            case .interrupted: continue
            case .again where frames.count == 0:
                if dontWait { markSettled() }
                return false
            default: throw ZMQError(code: code, call: "zmq_msg_recv", file: file, line: line)
            }
        }
    }
}
