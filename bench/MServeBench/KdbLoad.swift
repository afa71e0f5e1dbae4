import Foundation
import QData

#if canImport(Glibc)
import Glibc
#endif

/// Drives the broker's kdb+ IPC door the way a q session or a kdb+ client library would:
/// each of `clients` threads opens its own TCP connection, logs in (capability 3), keeps
/// `inFlight` async `(id; query)` messages outstanding and reads the async `(id; result;
/// info)` replies, matching each to its send time by id, for `duration` seconds after a
/// warm-up that is not recorded. Every reply is decoded as `DealerLoad` decodes it: q errors
/// count as errors, info dictionaries' `queued`/`execution` are summed. Blocking sockets on
/// threads, like `DealerLoad`'s, so both doors' rows cost the client side the same.
enum KdbLoad {
    /// Seconds a connection waits for the door (connect, handshake, a reply) before failing.
    static let timeoutSeconds = 10

    static func run(
        host: String = "127.0.0.1", port: Int, workload: Workload, clients: Int, inFlight: Int, duration: Double,
        warmUp: Double = 0.5, symbols: Int = Workload.defaultSymbolCount, probe: CPUProbe? = nil
    ) throws -> LoadResult {
        let zipf = ZipfSampler(count: max(1, symbols), exponent: 1.1)
        let window = LoadWindow(warmUp: warmUp, duration: duration)
        let (measureFrom, end) = (window.measureFrom, window.end)
        return try window.run(clients: clients, threadName: "bench-kdb-client", probe: probe) { clientIndex in
            let connection = try KdbClientConnection(host: host, port: port, timeoutSeconds: timeoutSeconds)
            var random = BenchRandom(seed: UInt64(clientIndex + 1))
            var result = LoadResult()
            var sendTimes: [Int64: UInt64] = [:]
            sendTimes.reserveCapacity(inFlight * 2)
            var nextId: Int64 = 0
            func sendOne() throws {
                nextId += 1
                let query = workload.nextQuery(&random, zipf: zipf)
                let message = QIPC.encode(.list([.atom(.long(nextId)), .string(query)]), messageType: .async)
                sendTimes[nextId] = monotonicNanoseconds()
                try connection.send(message)
            }
            for _ in 0..<inFlight { try sendOne() }
            while !sendTimes.isEmpty {
                let reply = try connection.receiveMessage()
                let received = monotonicNanoseconds()
                let decoded = try? QIPC.decode(reply).value
                if case .error(let text)? = decoded {
                    throw BenchError(.setup, "the kdb+ door at \(host):\(port) answered with an error: \(text)")
                }
                guard case .list(let items, _)? = decoded, items.count >= 2,
                    case .atom(.long(let id)) = items[0], let sent = sendTimes.removeValue(forKey: id)
                else {
                    throw BenchError(
                        .setup, "the kdb+ door at \(host):\(port) sent a reply that is not (id; result; info) for a pending id")
                }
                if sent >= measureFrom && received <= end {
                    result.recordReply(items: items, nanoseconds: received - sent)
                }
                if received < end { try sendOne() }
            }
            return result
        }
    }
}

/// One client's blocking kdb+ IPC connection: the handshake, then whole messages each way
/// (8-byte header: endianness, message type, compression, reserved, total length).
/// Used by one thread only.
final class KdbClientConnection {
    private let descriptor: Int32
    /// Where the connection goes, for messages.
    let peer: String
    /// Seconds a send or a receive may wait.
    let timeoutSeconds: Int
    /// The capability byte the door agreed to.
    private(set) var capability: UInt8 = 0
    /// Bytes received and not yet returned; the unread ones start at `readIndex`.
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var chunk = [UInt8](repeating: 0, count: 64 << 10)

    /// A reply announcing more bytes than this is taken as a broken stream.
    static let maxMessageSize = 1 << 30

    /// Connects to `host:port` (an IPv4 address) and logs in as `credentials` asking for
    /// capability 3; throws if the door refuses (closes the connection) or stays silent for
    /// `timeoutSeconds`.
    init(host: String, port: Int, credentials: String = "mserve-bench", timeoutSeconds: Int) throws {
        peer = "\(host):\(port)"
        self.timeoutSeconds = timeoutSeconds
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BenchError(.setup, "socket(): \(Self.errorText())") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var yes: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopbackAddress(port: port)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(descriptor)
            throw BenchError(.setup, "\(host) is not an IPv4 address")
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let text = Self.errorText()
            close(descriptor)
            throw BenchError(.setup, "cannot connect to the kdb+ door at \(peer): \(text)")
        }
        do {
            try send(Array(credentials.utf8) + [3, 0])
            let answer = try receive(atLeast: 1, during: "the handshake")
            guard answer == 1, buffer[0] <= 3 else {
                throw BenchError(.setup, "the kdb+ door at \(peer) answered the handshake with \(buffer.count) bytes")
            }
            capability = buffer[0]
            buffer.removeAll(keepingCapacity: true)
        } catch {
            close(descriptor)
            throw error
        }
    }

    deinit { close(descriptor) }

    /// Sends all of `bytes`.
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EINTR { continue }
                let reason =
                    errno == EAGAIN || errno == EWOULDBLOCK ? "the door read nothing for \(timeoutSeconds) s" : Self.errorText()
                throw BenchError(.setup, "cannot send to the kdb+ door at \(peer): \(reason)")
            }
            offset += sent
        }
    }

    /// Reads one whole message (header and body).
    func receiveMessage() throws -> [UInt8] {
        try fill(8, during: "a reply")
        func lengthByte(_ index: Int) -> UInt32 { UInt32(buffer[readIndex + 4 + index]) }
        let length = Int(
            buffer[readIndex] == 1
                ? lengthByte(0) | lengthByte(1) << 8 | lengthByte(2) << 16 | lengthByte(3) << 24
                : lengthByte(3) | lengthByte(2) << 8 | lengthByte(1) << 16 | lengthByte(0) << 24)
        guard length >= 9, length <= Self.maxMessageSize else {
            throw BenchError(.setup, "the kdb+ door at \(peer) sent a header announcing \(length) bytes")
        }
        try fill(length, during: "a reply")
        let message = Array(buffer[readIndex..<readIndex + length])
        readIndex += length
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        }
        return message
    }

    /// Reads until `count` unread bytes are buffered.
    private func fill(_ count: Int, during what: String) throws {
        if buffer.count - readIndex >= count { return }
        if readIndex > 0 {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
        _ = try receive(atLeast: count, during: what)
    }

    /// Appends received bytes to `buffer` until it holds `count`; returns its size.
    private func receive(atLeast count: Int, during what: String) throws -> Int {
        while buffer.count < count {
            let received = chunk.withUnsafeMutableBytes { Glibc.recv(descriptor, $0.baseAddress!, $0.count, 0) }
            if received > 0 {
                buffer.append(contentsOf: chunk[0..<received])
            } else if received == 0 || errno == ECONNRESET {
                let how = received == 0 ? "closed" : "reset"
                throw BenchError(
                    .setup,
                    what == "the handshake"
                        ? "the kdb+ door at \(peer) refused the handshake (\(how) the connection)"
                        : "the kdb+ door at \(peer) \(how) the connection while the client waited for \(what)")
            } else if errno != EINTR {
                let reason =
                    errno == EAGAIN || errno == EWOULDBLOCK
                    ? "nothing came within \(timeoutSeconds) s" : Self.errorText()
                throw BenchError(.setup, "the kdb+ door at \(peer) failed during \(what): \(reason)")
            }
        }
        return buffer.count
    }

    /// `sockaddr_in` for 127.0.0.1:`port`.
    static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        return address
    }

    private static func errorText() -> String { String(cString: strerror(errno)) }
}
