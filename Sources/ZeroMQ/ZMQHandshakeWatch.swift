import CZeroMQ
import Foundation
import Synchronization

/// A connection to a server socket whose security handshake failed before its peer could be
/// authenticated: a plaintext (NULL) peer at a CURVE socket, a peer speaking another mechanism,
/// something that is not ZeroMQ, or a peer that hung up mid-handshake. The ZAP handler never
/// hears of these (libzmq refuses them before asking it).
public struct ZMQHandshakeFailure: Sendable, Hashable {
    /// `.handshakeFailedProtocol` or `.handshakeFailedNoDetail`.
    public var event: ZMQMonitorEvents
    /// For a protocol failure, the `ZMQ_PROTOCOL_ERROR_*` code; otherwise the errno.
    public var value: Int32
    /// The peer's address (`host:port`) as it was accepted; nil when it could no longer be read
    /// (the connection was already gone when the watch looked).
    public var peerAddress: String?

    /// Creates a failure report.
    public init(event: ZMQMonitorEvents, value: Int32, peerAddress: String?) {
        self.event = event
        self.value = value
        self.peerAddress = peerAddress
    }

    /// Why a CURVE handshake whose boxes the server could not open failed, in words.
    public static let curveDidNotDecrypt =
        "its CURVE handshake did not decrypt (wrong server key, or its own public and secret keys do not match)"

    /// Why the handshake failed, in words.
    public var reason: String {
        if event == .handshakeFailedProtocol {
            switch value {
            case Int32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH):
                return "it spoke another security mechanism (plaintext, say)"
            case Int32(ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC):
                // The server cannot tell which side of the peer's keys is wrong: the box it could
                // not open was sealed with a server key other than this server's, or with a
                // secret key that is not the one of the public key the peer announced.
                return Self.curveDidNotDecrypt
            default:
                return "it broke the ZMTP protocol (error 0x\(String(value, radix: 16)))"
            }
        }
        return "the connection failed during the handshake (\(String(cString: strerror(value))))"
    }
}

/// Watches a server socket's connections with a socket monitor on its own thread and reports
/// each one whose security handshake failed (``ZMQHandshakeFailure``), with the peer's
/// address read when the connection was accepted. Refusals by the ZAP handler are not
/// reported here: the handler itself sees those. Start it on the thread that owns the socket;
/// ``stop()`` it before terminating the context.
public final class ZMQHandshakeWatch: Sendable {
    private let lifetime = ZAPHandlerLifetime()

    /// Starts monitoring `socket` (through an inproc endpoint named after `name`, unique in the
    /// context) and reports each failed handshake to `onFailure`, on the watch's thread.
    public init(
        socket: ZMQSocket, context: ZMQContext, name: String,
        onFailure: @escaping @Sendable (ZMQHandshakeFailure) -> Void
    ) throws(ZMQError) {
        let endpoint = "inproc://mserve-handshake-watch-\(name)-\(UInt64.random(in: 0...UInt64.max))"
        try socket.startMonitor(
            endpoint: endpoint,
            events: [.accepted, .disconnected, .closed, .handshakeFailedProtocol, .handshakeFailedNoDetail])
        let monitor: ZMQMonitor
        do {
            monitor = try ZMQMonitor(context: context, endpoint: endpoint)
            try monitor.socket.setLinger(milliseconds: 0)
        } catch {
            try? socket.stopMonitor()
            throw error
        }
        let handoff = SocketHandoff(monitor.socket)
        let lifetime = self.lifetime
        let thread = Thread {
            let socket = handoff.socket
            var poller = ZMQPoller()
            let index = poller.add(socket)
            var tracker = HandshakeTracker()
            while !lifetime.stopping.load(ordering: .relaxed) {
                guard (try? poller.poll(timeoutMilliseconds: 50)) != nil else { break }
                guard poller.returnedEvents(at: index).contains(.readable) else { continue }
                while let event = try? ZMQMonitor.event(from: socket) {
                    if let failure = tracker.take(event) { onFailure(failure) }
                }
            }
            socket.close()
            lifetime.finished.signal()
        }
        thread.name = "mserve-handshake-watch"
        thread.start()
    }

    /// Stops watching and closes the monitor's socket; returns once it is closed.
    public func stop() {
        if !lifetime.stopping.exchange(true, ordering: .relaxed) { lifetime.finished.wait() }
    }
}

/// Pairs a failed handshake with the connection it ended. libzmq reports a failed handshake
/// and then, at once and from the same I/O thread, the disconnection of its file descriptor;
/// the descriptor's peer address was read when it was accepted.
struct HandshakeTracker {
    private var addresses: [Int32: String] = [:]
    private var pending: (event: ZMQMonitorEvents, value: Int32)?

    /// Takes one monitor event; returns a failure once its connection is known.
    mutating func take(_ event: ZMQMonitorEvent) -> ZMQHandshakeFailure? {
        switch event.event {
        case .accepted:
            // Bounded: a descriptor never reported closed is forgotten with the rest.
            if addresses.count >= 65_536 { addresses.removeAll() }
            addresses[event.value] = ZMQ.peerAddress(ofDescriptor: event.value)
            return nil
        case .handshakeFailedProtocol, .handshakeFailedNoDetail:
            pending = (event.event, event.value)
            return nil
        case .disconnected, .closed:
            let address = addresses.removeValue(forKey: event.value)
            guard let failure = pending else { return nil }
            pending = nil
            return ZMQHandshakeFailure(event: failure.event, value: failure.value, peerAddress: address)
        default:
            return nil
        }
    }
}

extension ZMQMonitor {
    /// The next event waiting on a monitor's PAIR socket, without waiting; nil when none is.
    static func event(from socket: ZMQSocket) throws(ZMQError) -> ZMQMonitorEvent? {
        guard let frames = try socket.receiveMultipartBytes(dontWait: true) else { return nil }
        return try ZMQMonitor.decode(frames)
    }
}

extension ZMQ {
    /// The address (`host:port`, IPv6 hosts in brackets) of the peer of a connected TCP socket;
    /// nil when it cannot be read (the descriptor is closed, or not an IP socket).
    public static func peerAddress(ofDescriptor descriptor: Int32) -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) }
        }
        guard status == 0 else { return nil }
        var host = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address -> String? in
                    var ip = address.pointee.sin_addr
                    guard inet_ntop(AF_INET, &ip, &host, socklen_t(host.count)) != nil else { return nil }
                    return "\(Self.text(host)):\(UInt16(bigEndian: address.pointee.sin_port))"
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address -> String? in
                    var ip = address.pointee.sin6_addr
                    guard inet_ntop(AF_INET6, &ip, &host, socklen_t(host.count)) != nil else { return nil }
                    return "[\(Self.text(host))]:\(UInt16(bigEndian: address.pointee.sin6_port))"
                }
            }
        default:
            return nil
        }
    }

    /// The text of a NUL-terminated C string buffer.
    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
