// A plain blocking TCP connection to a loopback port, for tests that act as a misbehaving
// peer: one that opens a connection, sends part of a request and waits.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection to `127.0.0.1:port`, closed when the object goes away.
public final class RawTCPConnection {
    private var descriptor: Int32

    /// Connects to `127.0.0.1:port`; throws when the connection cannot be made.
    public init(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let code = errno
            Glibc.close(fd)
            throw TestFailure("connect to port \(port) failed: errno \(code)")
        }
        descriptor = fd
    }

    /// Writes all of `text`; false when the peer closed or the write failed.
    @discardableResult
    public func send(_ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            bytes = bytes.dropFirst(written)
        }
        return true
    }

    /// What one look at the connection found.
    private enum Look {
        case nothingYet
        case bytes(ArraySlice<UInt8>)
        case closed
    }

    /// Reads what has arrived, without waiting.
    private func look() -> Look {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 0) > 0 else { return .nothingYet }
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if count > 0 { return .bytes(buffer[0..<count]) }
        if count < 0 && (errno == EINTR || errno == EAGAIN) { return .nothingYet }
        return .closed
    }

    /// Waits up to `timeout` for the peer to close the connection (end of stream or a reset),
    /// discarding anything it sends before; true when it closed. Waits without holding a
    /// thread of the concurrency pool (which the server under test may need to answer).
    public func waitForClose(timeout: Duration) async -> Bool {
        await readUntilClosed(timeout: timeout) != nil
    }

    /// Whether the peer has closed the connection (anything it sent before is discarded).
    public var hasClosed: Bool {
        while true {
            switch look() {
            case .nothingYet: return false
            case .bytes: continue
            case .closed: return true
            }
        }
    }

    /// Everything the peer sends until it closes; nil when it has not closed when `timeout`
    /// passes. Waits without holding a thread of the concurrency pool.
    public func readUntilClosed(timeout: Duration) async -> String? {
        let giveUp = ContinuousClock.now + timeout
        var received: [UInt8] = []
        while true {
            switch look() {
            case .bytes(let bytes):
                received += bytes
            case .closed:
                return String(decoding: received, as: UTF8.self)
            case .nothingYet:
                guard ContinuousClock.now < giveUp else { return nil }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    /// At least `count` bytes the peer sends, or fewer when it closes or `timeout` passes first.
    /// Waits without holding a thread of the concurrency pool (on which Swift Testing runs
    /// synchronous tests too).
    public func receive(count: Int, timeout: Duration) async -> [UInt8] {
        let giveUp = ContinuousClock.now + timeout
        var received: [UInt8] = []
        while received.count < count, ContinuousClock.now < giveUp {
            switch look() {
            case .bytes(let bytes): received += bytes
            case .closed: return received
            case .nothingYet: await idle(for: .milliseconds(1))
            }
        }
        return received
    }

    /// Closes the connection.
    public func close() {
        if descriptor >= 0 {
            Glibc.close(descriptor)
            descriptor = -1
        }
    }

    deinit {
        close()
    }
}
