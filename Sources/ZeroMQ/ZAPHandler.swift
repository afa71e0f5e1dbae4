import CZeroMQ
import Foundation
import Synchronization

/// One authentication request libzmq sends to a ZAP handler (RFC 27, version 1.0).
public struct ZAPRequest: Sendable, Hashable {
    /// The ZAP domain of the socket being connected to.
    public var domain: String
    /// The peer's IP address.
    public var address: String
    /// The socket's routing id, as set on it.
    public var identity: [UInt8]
    /// `NULL`, `PLAIN` or `CURVE`.
    public var mechanism: String
    /// For CURVE, the client's public key, Z85-encoded (40 characters); empty otherwise.
    public var publicKey: String
}

/// A ZAP handler's answer to one request.
public struct ZAPDecision: Sendable, Hashable {
    /// Whether the peer is admitted.
    public var admitted: Bool
    /// The User-Id attached to every message from the peer (read with `metadata("User-Id")`).
    public var userID: String

    /// Admits the peer, tagging its messages with `userID`.
    public static func admit(as userID: String = "") -> ZAPDecision { ZAPDecision(admitted: true, userID: userID) }

    /// Refuses the peer: the handshake fails and the connection is closed.
    public static let refuse = ZAPDecision(admitted: false, userID: "")
}

/// A ZAP handler: binds `inproc://zeromq.zap.01` in a context and answers libzmq's
/// authentication requests on its own thread with `decide`. Every CURVE server socket of the
/// context asks it before a peer's handshake completes. Start it before binding those sockets;
/// ``stop()`` it before terminating the context.
public final class ZAPHandler: Sendable {
    /// Decides on one request; runs on the handler's thread.
    public typealias Decide = @Sendable (ZAPRequest) -> ZAPDecision

    /// The endpoint libzmq sends ZAP requests to.
    public static let endpoint = "inproc://zeromq.zap.01"

    private let lifetime = ZAPHandlerLifetime()

    /// Binds the handler's socket in `context` and starts answering on a new thread.
    public init(context: ZMQContext, decide: @escaping Decide) throws(ZMQError) {
        let socket = try ZMQSocket(context: context, type: .rep)
        do {
            try socket.setLinger(milliseconds: 0)
            try socket.bind(Self.endpoint)
        } catch {
            socket.close()
            throw error
        }
        let handoff = SocketHandoff(socket)
        let lifetime = self.lifetime
        let thread = Thread {
            let socket = handoff.socket
            var poller = ZMQPoller()
            let index = poller.add(socket)
            while !lifetime.stopping.load(ordering: .relaxed) {
                guard (try? poller.poll(timeoutMilliseconds: 50)) != nil else { break }
                guard poller.returnedEvents(at: index).contains(.readable) else { continue }
                while let frames = try? socket.receiveMultipartBytes(dontWait: true) {
                    _ = try? socket.send(multipart: Self.answer(frames, decide: decide))
                }
            }
            socket.close()
            lifetime.finished.signal()
        }
        thread.name = "mserve-zap"
        thread.start()
    }

    /// Stops answering and closes the handler's socket; returns once it is closed.
    public func stop() {
        if !lifetime.stopping.exchange(true, ordering: .relaxed) { lifetime.finished.wait() }
    }

    /// The reply frames to a request's frames: version, request id, status code, status text,
    /// user id, metadata.
    static func answer(_ frames: [[UInt8]], decide: Decide) -> [[UInt8]] {
        guard frames.count >= 6, frames[0] == Array("1.0".utf8) else {
            let requestID = frames.count > 1 ? frames[1] : []
            return [Array("1.0".utf8), requestID, Array("500".utf8), Array("malformed ZAP request".utf8), [], []]
        }
        let mechanism = String(decoding: frames[5], as: UTF8.self)
        var publicKey = ""
        if mechanism == "CURVE", frames.count >= 7, frames[6].count == 32 {
            publicKey = ZMQ.z85Encode(frames[6]) ?? ""
        }
        let request = ZAPRequest(
            domain: String(decoding: frames[2], as: UTF8.self), address: String(decoding: frames[3], as: UTF8.self),
            identity: frames[4], mechanism: mechanism, publicKey: publicKey)
        let decision = decide(request)
        return [
            Array("1.0".utf8), frames[1], Array((decision.admitted ? "200" : "400").utf8),
            Array((decision.admitted ? "OK" : "not admitted").utf8), Array(decision.userID.utf8), [],
        ]
    }
}

/// Whether a handler's thread should stop, and the signal that it has.
final class ZAPHandlerLifetime: Sendable {
    let stopping = Atomic<Bool>(false)
    let finished = DispatchSemaphore(value: 0)
}

/// Moves a socket to the one thread that will own it.
final class SocketHandoff: @unchecked Sendable {
    // @unchecked: the socket is created on one thread and then used only by the handler's thread.
    let socket: ZMQSocket
    init(_ socket: ZMQSocket) { self.socket = socket }
}

extension ZMQ {
    /// Z85-encodes bytes whose count is a multiple of 4 (a 32-byte CURVE key gives 40
    /// characters); nil otherwise.
    public static func z85Encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else { return nil }
        var text = [CChar](repeating: 0, count: bytes.count * 5 / 4 + 1)
        let result = bytes.withUnsafeBufferPointer { buffer in
            zmq_z85_encode(&text, buffer.baseAddress, buffer.count)
        }
        guard result != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The CURVE public keys a ZAP handler admits, each with the name it was admitted under.
/// Shared between the thread that refreshes it and the handler's thread.
public final class ZAPKeyList: Sendable {
    private let names = Mutex<[String: String]>([:])

    /// An empty list (admits no one) or one holding `keys` (public key → name).
    public init(_ keys: [String: String] = [:]) {
        names.withLock { $0 = keys }
    }

    /// Replaces the whole list (public key → name).
    public func replace(_ keys: [String: String]) {
        names.withLock { $0 = keys }
    }

    /// The name `publicKey` was admitted under; nil when it is not admitted.
    public func name(of publicKey: String) -> String? {
        names.withLock { $0[publicKey] }
    }

    /// Whether the peer whose messages carry `userID` is still admitted: a handler made with
    /// ``ZAPHandler/init(context:admitting:onRefuse:)`` tags each message with the peer's public
    /// key. False for a message with no User-Id.
    public func admits(userID: String?) -> Bool {
        guard let userID, !userID.isEmpty else { return false }
        return name(of: userID) != nil
    }

    /// Every admitted key (public key → name).
    public var keys: [String: String] { names.withLock { $0 } }
}
