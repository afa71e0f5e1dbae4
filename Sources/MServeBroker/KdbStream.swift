import MServeProtocol
import POSIXSockets
import ZeroMQ

/// One kdb+ IPC byte stream over a non-blocking TCP socket: input gathered and cut into
/// messages by their 8-byte headers (refusing forged headers and messages over the size
/// limit), and output buffered up to a bound. Once a large message has passed, each buffer
/// goes back to at most ``retainedCapacity``: a connection that carried one large message
/// does not hold its size for as long as it stays open. A large reply is queued as pieces
/// (``enqueue(pieces:)``) and written from where they lie — a servant's result straight from
/// the ZeroMQ frame it came in — never joined into the output buffer.
struct KdbStream {
    /// The most bytes one read takes from the socket.
    static let readSize = 64 << 10

    /// The most bytes each buffer keeps once it is empty.
    static let retainedCapacity = 1 << 20

    /// Why a stream must be closed.
    enum Failure: Error {
        case badHeader(String)
        case tooLarge(Int)
    }

    let descriptor: Int32
    let maxMessageSize: Int
    let maxBufferedOutput: Int
    private(set) var input: [UInt8] = []
    private var inputStart = 0
    private var output: [UInt8] = []
    private var outputOffset = 0
    /// Output queued after `output`, in order, written piece by piece from where it lies.
    private var pieces: [ZMQMessagePiece] = []
    /// How much of the first piece was written.
    private var pieceOffset = 0
    /// The bytes in `pieces`, written or not.
    private var piecesCount = 0
    private(set) var closed = false
    /// Whether a write failed: the peer closed or reset the connection (not a peer too slow to
    /// read, whose bytes wait within the bound).
    private(set) var peerGone = false

    init(descriptor: Int32, maxMessageSize: Int, maxBufferedOutput: Int) {
        self.descriptor = descriptor
        self.maxMessageSize = maxMessageSize
        self.maxBufferedOutput = maxBufferedOutput
    }

    /// Bytes received and not yet taken.
    var pendingInput: ArraySlice<UInt8> { input[inputStart...] }

    /// Whether output is waiting for the socket to take it.
    var wantsWrite: Bool { outputOffset < output.count || !pieces.isEmpty }

    /// Bytes waiting to be written.
    var bufferedOutput: Int { output.count - outputOffset + piecesCount - pieceOffset }

    /// The room the input and output buffers hold now (tests).
    var capacities: (input: Int, output: Int) { (input.capacity, output.capacity) }

    /// Reads what the socket has (at most `budget` bytes, for fairness); false when the peer
    /// closed the connection.
    mutating func readAvailable(budget: Int = 4 << 20) -> Bool {
        var total = 0
        while total < budget {
            compactInput()
            switch TCPSocket.read(descriptor, into: &input, limit: Self.readSize) {
            case .bytes(let count): total += count
            case .wouldBlock: return true
            case .closed: return false
            }
        }
        return true
    }

    /// Adds bytes as if they had been read (tests).
    mutating func appendInputForTesting(_ bytes: [UInt8]) {
        input.append(contentsOf: bytes)
    }

    /// Drops `count` bytes from the front of the input (the handshake).
    mutating func consumeInput(_ count: Int) {
        inputStart += count
    }

    /// The next whole message from the input, nil when it has not all arrived yet. Throws
    /// when the header is forged or announces more than the size limit: the caller closes.
    mutating func nextMessage() throws(Failure) -> [UInt8]? {
        let available = input.count - inputStart
        guard available >= 8 else { return nil }
        let header = input[inputStart..<inputStart + 8]
        let base = header.startIndex
        guard header[base] <= 1, header[base + 1] <= 2, header[base + 2] <= 2 else {
            throw .badHeader(
                "not a kdb+ IPC header: \(header.map { String($0, radix: 16) }.joined(separator: " "))")
        }
        let littleEndian = header[base] == 1
        let length =
            littleEndian
            ? Int(header[base + 4]) | Int(header[base + 5]) << 8 | Int(header[base + 6]) << 16
                | Int(header[base + 7]) << 24
            : Int(header[base + 7]) | Int(header[base + 6]) << 8 | Int(header[base + 5]) << 16
                | Int(header[base + 4]) << 24
        guard length >= 9 else { throw .badHeader("a kdb+ IPC message of \(length) bytes is impossible") }
        guard length <= maxMessageSize else { throw .tooLarge(length) }
        guard available >= length else {
            // Room for the whole message at once: the buffer does not double past it (copying
            // what came so far each time), and can be handed over whole (below).
            // (A read appends its whole limit before it knows how much came.)
            if input.capacity < inputStart + length + Self.readSize && length > Self.retainedCapacity {
                input.reserveCapacity(inputStart + length + Self.readSize)
            }
            return nil
        }
        if inputStart == 0 && length == input.count && length > Self.retainedCapacity {
            // A large message alone in the buffer is the buffer: handed over, not copied.
            let message = input
            input = []
            return message
        }
        let message = Array(input[inputStart..<inputStart + length])
        inputStart += length
        if inputStart == input.count && input.capacity > Self.retainedCapacity {
            input = []
            inputStart = 0
        }
        return message
    }

    /// Queues bytes and writes what the socket takes now. False when the bound on buffered
    /// output is exceeded or the peer has gone: the caller closes.
    mutating func enqueue(_ bytes: [UInt8]) -> Bool {
        if bufferedOutput + bytes.count > maxBufferedOutput && bufferedOutput > 0 { return false }
        // Behind queued pieces, bytes are one more piece: the order is kept.
        guard pieces.isEmpty else {
            pieces.append(.bytes(bytes[...]))
            piecesCount += bytes.count
            return flush()
        }
        if outputOffset == output.count {
            output.removeAll(keepingCapacity: output.capacity <= Self.retainedCapacity)
            outputOffset = 0
        }
        output.append(contentsOf: bytes)
        return flush()
    }

    /// Queues one message in pieces — bytes, and ranges of ZeroMQ messages written from those
    /// messages' own memory, which the stream holds until they are written — and writes what
    /// the socket takes now. False as for ``enqueue(_:)``.
    mutating func enqueue(pieces newPieces: [ZMQMessagePiece]) -> Bool {
        let count = newPieces.reduce(0) { $0 + $1.count }
        if bufferedOutput + count > maxBufferedOutput && bufferedOutput > 0 { return false }
        pieces.append(contentsOf: newPieces.filter { $0.count > 0 })
        piecesCount += count
        return flush()
    }

    /// Writes what the socket takes; false when the peer has gone (``peerGone``).
    mutating func flush() -> Bool {
        while outputOffset < output.count {
            guard let written = TCPSocket.write(descriptor, output, from: outputOffset) else {
                peerGone = true
                return false
            }
            if written == 0 { return true }
            outputOffset += written
        }
        output.removeAll(keepingCapacity: output.capacity <= Self.retainedCapacity)
        outputOffset = 0
        while let piece = pieces.first {
            let written: Int?
            switch piece {
            case .bytes(let bytes):
                written = TCPSocket.write(descriptor, Array(bytes), from: pieceOffset)
            case .body(let message, let range):
                written = message.withBytes(in: (range.lowerBound + pieceOffset)..<range.upperBound) {
                    TCPSocket.write(descriptor, $0)
                }
            }
            guard let written else {
                peerGone = true
                return false
            }
            if written == 0 { return true }
            pieceOffset += written
            if pieceOffset == piece.count {
                pieces.removeFirst()
                piecesCount -= pieceOffset
                pieceOffset = 0
            }
        }
        return true
    }

    /// Closes the socket (once). Unsent bytes are discarded and the peer gets a reset, so
    /// a peer that stopped reading learns of it at once.
    mutating func close() {
        end(closing: TCPSocket.abort)
    }

    /// Writes what is still buffered, as far as the kernel takes it before `deadline`
    /// (monotonic nanoseconds), then closes the socket normally, so that the peer reads its
    /// last replies (the broker stopping) instead of a reset.
    mutating func finish(before deadline: UInt64) {
        guard !closed else { return }
        while flush(), wantsWrite, QueryClock.monotonicNanoseconds() < deadline {
            TCPSocket.waitWritable(descriptor, milliseconds: 10)
        }
        end(closing: TCPSocket.close)
    }

    private mutating func end(closing closeDescriptor: (Int32) -> Void) {
        guard !closed else { return }
        closed = true
        closeDescriptor(descriptor)
        input = []
        output = []
        inputStart = 0
        outputOffset = 0
        pieces = []
        pieceOffset = 0
        piecesCount = 0
    }

    private mutating func compactInput() {
        if inputStart > 0 && inputStart == input.count && input.capacity > Self.retainedCapacity {
            input = []
            inputStart = 0
        } else if inputStart > 0 && (inputStart == input.count || inputStart > 1 << 20) {
            input.removeFirst(inputStart)
            inputStart = 0
        }
    }
}
