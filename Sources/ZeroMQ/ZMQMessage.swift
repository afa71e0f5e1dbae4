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
    /// For a countable body (``init(countableCopyOf:)``): its size and where it is counted
    /// once sent; nil for any other body.
    var releaseCount: ZMQReleaseCount?

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

    /// A message made of several pieces laid end to end: byte arrays of the caller's and
    /// ranges of other messages' bodies, copied straight from those bodies (libzmq messages
    /// are contiguous, so a piece that travels inside a larger message is copied once, here,
    /// and never through a Swift array).
    public init(joining pieces: [ZMQMessagePiece]) {
        pointer = .allocate(capacity: 1)
        let total = pieces.reduce(0) { $0 + $1.count }
        let rc = zmq_msg_init_size(pointer, total)
        precondition(rc == 0, "zmq_msg_init_size(\(total)) failed: out of memory")
        guard total > 0, let destination = zmq_msg_data(pointer) else { return }
        var offset = 0
        for piece in pieces { offset = piece.copy(to: destination, at: offset) }
    }

    /// A message holding a copy of some bytes in memory of its own, countable: sent with
    /// ``ZMQSocket/send(_:more:dontWait:countingIn:)``, its bytes count in a ``ZMQHeldBytes``
    /// until libzmq lets the message go.
    public init(countableCopyOf bytes: ArraySlice<UInt8>) {
        pointer = .allocate(capacity: 1)
        zmq_msg_init(pointer)
        let destination = replaceWithCountableBody(count: bytes.count)
        bytes.withUnsafeBytes { source in
            if source.count > 0 { destination.copyMemory(from: source.baseAddress!, byteCount: source.count) }
        }
    }

    /// Whether the body is countable (``init(countableCopyOf:)``,
    /// ``replaceBody(joining:_:_:countable:)``).
    public var isCountable: Bool { releaseCount != nil }

    /// Makes the message hold three pieces laid end to end, as ``init(joining:)`` does,
    /// closing what it held: a message object reused for frame after frame (one emptied by
    /// a send), without an array of pieces or a new `zmq_msg_t`. A `countable` body is one
    /// of the message's own allocation, as ``init(countableCopyOf:)`` makes.
    public func replaceBody(
        joining first: ZMQMessagePiece, _ second: ZMQMessagePiece, _ third: ZMQMessagePiece, countable: Bool = false
    ) {
        let total = first.count + second.count + third.count
        let destination: UnsafeMutableRawPointer
        if countable {
            destination = replaceWithCountableBody(count: total)
        } else {
            zmq_msg_close(pointer)
            releaseCount = nil
            let rc = zmq_msg_init_size(pointer, total)
            precondition(rc == 0, "zmq_msg_init_size(\(total)) failed: out of memory")
            guard total > 0, let data = zmq_msg_data(pointer) else { return }
            destination = data
        }
        var offset = first.copy(to: destination, at: 0)
        offset = second.copy(to: destination, at: offset)
        _ = third.copy(to: destination, at: offset)
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

    /// A copy of the bytes of the body in `range` (clamped to the body).
    public func bytes(in range: Range<Int>) -> [UInt8] {
        withUnsafeBody { body in
            let lower = min(max(range.lowerBound, 0), body.count)
            let upper = min(max(range.upperBound, lower), body.count)
            return Array(body[lower..<upper])
        }
    }

    /// The body decoded as UTF-8 (invalid sequences repaired).
    public var string: String {
        withUnsafeBody { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads the body in place, without copying.
    public func withBytes<Result>(_ body: (RawSpan) throws -> Result) rethrows -> Result {
        try withUnsafeBody { buffer in try body(buffer.bytes) }
    }

    /// Reads the bytes of the body in `range` (clamped to the body) in place, without copying.
    public func withBytes<Result>(in range: Range<Int>, _ body: (RawSpan) throws -> Result) rethrows -> Result {
        try withUnsafeBody { buffer in
            let lower = min(max(range.lowerBound, 0), buffer.count)
            let upper = min(max(range.upperBound, lower), buffer.count)
            return try body(UnsafeRawBufferPointer(rebasing: buffer[lower..<upper]).bytes)
        }
    }

    /// Reads the body in place as a span of bytes, borrowed for the call: nothing is copied,
    /// and the span cannot outlive the message (a query is checked this way in its frame).
    public func withSpan<Result, Failure: Error>(
        _ body: (Span<UInt8>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let count = zmq_msg_size(pointer)
        guard count > 0, let data = zmq_msg_data(pointer) else {
            return try body(Span<UInt8>())
        }
        let buffer = UnsafeBufferPointer(start: data.assumingMemoryBound(to: UInt8.self), count: count)
        return try body(buffer.span)
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

    /// Moves the body of `source` into a new message, leaving `source` empty (`zmq_msg_move`:
    /// nothing is copied).
    static func moving(from source: UnsafeMutablePointer<zmq_msg_t>) -> ZMQMessage {
        let moved = ZMQMessage()
        let rc = zmq_msg_move(moved.pointer, source)
        precondition(rc == 0, "zmq_msg_move failed")
        return moved
    }

    fileprivate func withUnsafeBody<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        let count = zmq_msg_size(pointer)
        guard count > 0, let data = zmq_msg_data(pointer) else {
            return try body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        return try body(UnsafeRawBufferPointer(start: data, count: count))
    }
}

/// One piece of a message joined with ``ZMQMessage/init(joining:)``.
public enum ZMQMessagePiece {
    /// Bytes of the caller's.
    case bytes(ArraySlice<UInt8>)
    /// The bytes of another message's body in a range.
    case body(ZMQMessage, Range<Int>)

    /// The number of bytes the piece adds.
    public var count: Int {
        switch self {
        case .bytes(let bytes): bytes.count
        case .body(_, let range): range.count
        }
    }

    /// Copies the piece to `destination + offset`; returns the offset after it.
    fileprivate func copy(to destination: UnsafeMutableRawPointer, at offset: Int) -> Int {
        switch self {
        case .bytes(let bytes):
            bytes.withUnsafeBytes { source in
                if source.count > 0 {
                    (destination + offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
                }
            }
            return offset + bytes.count
        case .body(let message, let range):
            message.withUnsafeBody { source in
                precondition(range.lowerBound >= 0 && range.upperBound <= source.count, "a range outside the message")
                if !range.isEmpty {
                    (destination + offset).copyMemory(from: source.baseAddress! + range.lowerBound, byteCount: range.count)
                }
            }
            return offset + range.count
        }
    }
}

@available(*, unavailable, message: "a ZMQMessagePiece refers to a message of one thread")
extension ZMQMessagePiece: Sendable {}

@available(*, unavailable, message: "a ZMQMessage belongs to one thread")
extension ZMQMessage: Sendable {}
