import CZeroMQ

/// One multipart message received into reusable storage.
///
/// An event loop keeps one `ZMQFrames` per socket and receives into it with
/// ``ZMQSocket/receive(into:dontWait:file:line:)``. Frames smaller than
/// ``largeFrameSize`` are copied back to back into one buffer that is reused, so once it has
/// grown, receiving small messages allocates nothing
/// (``ZMQSocket/receiveMultipart(dontWait:file:line:)`` makes an object and an array per
/// frame). A larger frame gets an array of its own, which ``copy(of:)`` hands out without
/// copying it again: a 1 MB result is copied once on its way through, and its array is freed
/// with the next message. The shared buffer is kept for the next message only up to
/// ``retainedCapacity``: one message of many small frames (a batch) does not pin its size for
/// good. Owned by one thread, like the socket it reads.
public struct ZMQFrames {
    /// Frames from this size up are kept in their own arrays rather than the shared buffer.
    public static let largeFrameSize = 16 * 1024

    /// The most bytes of small frames the shared buffer keeps between messages; a larger buffer
    /// is freed when the next message is received.
    public static let retainedCapacity = 256 * 1024

    /// The small frames' bytes, back to back.
    private var bytes: [UInt8] = []
    /// Where each frame lies: in `bytes`, or in its own array in `largeFrames`.
    private var bounds: [Range<Int>] = []
    /// Per frame, its own array when it is a large frame.
    private var largeFrames: [[UInt8]?] = []
    /// The `zmq_msg_t` each frame is received into before its bytes are appended.
    private let scratch = ZMQMessage()

    /// No frames yet.
    public init() {}

    /// The number of frames of the message last received.
    public var count: Int { bounds.count }

    /// The bytes of frame `index`, in place.
    public subscript(index: Int) -> ArraySlice<UInt8> {
        if let large = largeFrames[index] { return large[...] }
        return bytes[bounds[index]]
    }

    /// Frame `index` as an array of its own (a large frame's array is shared, not copied).
    public func copy(of index: Int) -> [UInt8] {
        largeFrames[index] ?? Array(bytes[bounds[index]])
    }

    /// A message-level property (`zmq_msg_gets`) of the message last received, such as
    /// "User-Id" (what the ZAP handler admitted the peer as) or "Peer-Address"; nil when absent
    /// or when nothing was received yet.
    public func metadata(_ property: String) -> String? {
        guard count > 0 else { return nil }
        return scratch.metadata(property)
    }

    /// The bytes the shared buffer of small frames holds room for now.
    public var bufferCapacity: Int { bytes.capacity }

    /// Forgets the frames, keeping the storage of the small ones up to ``retainedCapacity``.
    public mutating func removeAll() {
        let keep = bytes.capacity <= Self.retainedCapacity
        bytes.removeAll(keepingCapacity: keep)
        bounds.removeAll(keepingCapacity: keep)
        largeFrames.removeAll(keepingCapacity: keep)
    }

    /// Appends the body of the scratch message as the next frame; returns whether more follow.
    fileprivate mutating func appendScratch() -> Bool {
        let size = zmq_msg_size(scratch.pointer)
        let body = UnsafeRawBufferPointer(start: size > 0 ? zmq_msg_data(scratch.pointer) : nil, count: size)
        if size >= Self.largeFrameSize {
            largeFrames.append(Array(body))
            bounds.append(0..<size)
        } else {
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
            let error = ZMQError.last(call: "zmq_msg_recv", file: file, line: line)
            switch error.code {
            case .interrupted: continue
            case .again where frames.count == 0: return false
            default: throw error
            }
        }
    }
}
