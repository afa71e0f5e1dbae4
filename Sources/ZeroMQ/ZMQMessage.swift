import CZeroMQ

/// One frame as a libzmq message (`zmq_msg_t`), closed when the object goes away.
///
/// A class rather than a noncopyable struct so that messages fit in arrays
/// (``ZMQSocket/receiveMultipart(dontWait:file:line:)``). Owned by one thread, like sockets.
/// Sending it with `ZMQSocket.send(_:more:dontWait:)` hands the body to libzmq without
/// copying and leaves the message empty.
public final class ZMQMessage {
    /// The heap-allocated `zmq_msg_t`.
    let pointer: UnsafeMutablePointer<zmq_msg_t>

    /// An empty message.
    public init() {
        pointer = .allocate(capacity: 1)
        zmq_msg_init(pointer)
    }

    /// A message holding a copy of some bytes.
    public convenience init(bytes: [UInt8]) {
        self.init(bytes: bytes[...])
    }

    /// A message holding a copy of a slice of bytes.
    public init(bytes: ArraySlice<UInt8>) {
        pointer = .allocate(capacity: 1)
        let rc = zmq_msg_init_size(pointer, bytes.count)
        precondition(rc == 0, "zmq_msg_init_size(\(bytes.count)) failed: out of memory")
        if !bytes.isEmpty, let destination = zmq_msg_data(pointer) {
            bytes.withUnsafeBytes { source in
                destination.copyMemory(from: source.baseAddress!, byteCount: source.count)
            }
        }
    }

    /// A message holding the UTF-8 bytes of a string.
    public convenience init(string: String) {
        self.init(bytes: Array(string.utf8))
    }

    deinit {
        zmq_msg_close(pointer)
        pointer.deallocate()
    }

    /// The size of the body in bytes.
    public var count: Int { zmq_msg_size(pointer) }

    /// A copy of the body.
    public var bytes: [UInt8] {
        withUnsafeBody { Array($0) }
    }

    /// The body decoded as UTF-8 (invalid sequences repaired).
    public var string: String {
        withUnsafeBody { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads the body in place, without copying.
    public func withBytes<Result>(_ body: (RawSpan) throws -> Result) rethrows -> Result {
        try withUnsafeBody { buffer in try body(buffer.bytes) }
    }

    /// A message-level property (`zmq_msg_gets`) of a received message, e.g. "Peer-Address",
    /// "Routing-Id", "User-Id", "Socket-Type"; nil when absent.
    public func metadata(_ property: String) -> String? {
        guard let value = zmq_msg_gets(pointer, property) else { return nil }
        return String(cString: value)
    }

    /// Whether more frames of the same message follow this received frame.
    public var more: Bool { zmq_msg_more(pointer) != 0 }

    /// Another message sharing this one's body (`zmq_msg_copy`: reference counted, no byte copy).
    public func copy() -> ZMQMessage {
        let copy = ZMQMessage()
        let rc = zmq_msg_copy(copy.pointer, pointer)
        precondition(rc == 0, "zmq_msg_copy failed")
        return copy
    }

    private func withUnsafeBody<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        let count = zmq_msg_size(pointer)
        guard count > 0, let data = zmq_msg_data(pointer) else {
            return try body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        return try body(UnsafeRawBufferPointer(start: data, count: count))
    }
}

@available(*, unavailable, message: "a ZMQMessage belongs to one thread")
extension ZMQMessage: Sendable {}
