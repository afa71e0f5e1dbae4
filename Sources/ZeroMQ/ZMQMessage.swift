import CZeroMQ

/// One ZeroMQ frame, owning its `zmq_msg_t`. Sending it with ``ZMQSocket/send(_:more:dontWait:)-(ZMQMessage,_,_)``
/// hands its body to libzmq without copying (the broker forwards frames this way).
/// Not thread-safe: keep it on the thread that received it.
public final class ZMQMessage {
    let pointer: UnsafeMutablePointer<zmq_msg_t>
    private(set) var isConsumed = false

    /// An empty frame.
    public init() {
        pointer = .allocate(capacity: 1)
        zmq_msg_init(pointer)
    }

    /// A frame holding a copy of `bytes`.
    public convenience init(bytes: [UInt8]) {
        self.init(bytes: bytes[...])
    }

    /// A frame holding a copy of `bytes`.
    public init(bytes: ArraySlice<UInt8>) {
        pointer = .allocate(capacity: 1)
        zmq_msg_init_size(pointer, bytes.count)
        if !bytes.isEmpty {
            bytes.withUnsafeBytes { source in
                zmq_msg_data(pointer).copyMemory(from: source.baseAddress!, byteCount: source.count)
            }
        }
    }

    deinit {
        zmq_msg_close(pointer)
        pointer.deallocate()
    }

    /// Size of the frame in bytes.
    public var count: Int { zmq_msg_size(pointer) }

    /// A copy of the frame's bytes.
    public var bytes: [UInt8] {
        let size = count
        guard size > 0, let data = zmq_msg_data(pointer) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: data, count: size))
    }

    /// Whether more frames of the same message follow.
    public var more: Bool { zmq_msg_more(pointer) == 1 }

    /// A metadata property of a received frame: `Peer-Address`, `Routing-Id`, `User-Id`,
    /// `Socket-Type`. Nil when libzmq has none.
    public func metadata(_ property: String) -> String? {
        guard let value = zmq_msg_gets(pointer, property) else { return nil }
        return String(cString: value)
    }

    /// Marks the body as handed to libzmq (after a successful send, the message is empty).
    func consumed() { isConsumed = true }
}
