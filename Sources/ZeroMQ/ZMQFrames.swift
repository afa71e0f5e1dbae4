import CZeroMQ

/// One multipart message received into reusable storage: the bytes of every frame in one
/// buffer, and where each frame starts and ends.
///
/// An event loop keeps one `ZMQFrames` per socket and receives into it with
/// ``ZMQSocket/receive(into:dontWait:file:line:)``: once the buffer has grown to the loop's
/// largest message, receiving allocates nothing (``ZMQSocket/receiveMultipart(dontWait:file:line:)``
/// makes an object and an array per frame). Owned by one thread, like the socket it reads.
public struct ZMQFrames {
    /// Every frame's bytes, back to back.
    public private(set) var bytes: [UInt8] = []
    /// Where each frame lies in `bytes`.
    private var bounds: [Range<Int>] = []
    /// The `zmq_msg_t` each frame is received into before its bytes are appended.
    private let scratch = ZMQMessage()

    /// No frames yet.
    public init() {}

    /// The number of frames of the message last received.
    public var count: Int { bounds.count }

    /// The bytes of frame `index`, in place.
    public subscript(index: Int) -> ArraySlice<UInt8> { bytes[bounds[index]] }

    /// The byte range of frame `index` in ``bytes``.
    public func range(of index: Int) -> Range<Int> { bounds[index] }

    /// A copy of frame `index`.
    public func copy(of index: Int) -> [UInt8] { Array(bytes[bounds[index]]) }

    /// Forgets the frames, keeping the storage.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        bounds.removeAll(keepingCapacity: true)
    }

    /// Appends the body of the scratch message as the next frame; returns whether more follow.
    fileprivate mutating func appendScratch() -> Bool {
        let start = bytes.count
        let size = zmq_msg_size(scratch.pointer)
        if size > 0, let data = zmq_msg_data(scratch.pointer) {
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: size))
        }
        bounds.append(start..<bytes.count)
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
