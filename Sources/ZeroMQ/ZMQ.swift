import CZeroMQ

/// Library-wide facts and helpers.
public enum ZMQ {
    /// The version of the libzmq this process runs with.
    public static var version: (major: Int, minor: Int, patch: Int) {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (Int(major), Int(minor), Int(patch))
    }

    /// Whether libzmq was built with `capability` ("curve", "ipc", "draft"…).
    public static func has(_ capability: String) -> Bool {
        zmq_has(capability) == 1
    }

    /// A new CURVE key pair, Z85-encoded (40 characters each).
    public static func curveKeyPair() throws -> (publicKey: String, secretKey: String) {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw ZMQError(call: "zmq_curve_keypair") }
        return (string(publicKey), string(secretKey))
    }

    /// The CURVE public key belonging to a Z85 secret key.
    public static func curvePublicKey(fromSecret secretKey: String) throws -> String {
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else { throw ZMQError(call: "zmq_curve_public") }
        return string(publicKey)
    }

    /// Runs libzmq's built-in proxy between two sockets until the context is terminated.
    public static func proxy(frontend: ZMQSocket, backend: ZMQSocket) throws {
        let result = zmq_proxy(frontend.handle, backend.handle, nil)
        if result != 0 {
            let error = ZMQError(call: "zmq_proxy")
            if error.code == .contextTerminated { return }
            throw error
        }
    }

    static func string(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A ZeroMQ context: owns libzmq's I/O threads. Thread-safe.
public final class ZMQContext: @unchecked Sendable {
    // @unchecked: libzmq contexts are thread-safe; `handle` never changes.
    let handle: UnsafeMutableRawPointer
    private let terminated = LockedFlag()

    /// Creates a context with `ioThreads` I/O threads.
    public init(ioThreads: Int = 1) throws {
        guard let context = zmq_ctx_new() else { throw ZMQError(call: "zmq_ctx_new") }
        zmq_ctx_set(context, ZMQ_IO_THREADS, Int32(ioThreads))
        zmq_ctx_set(context, ZMQ_BLOCKY, 0)
        handle = context
    }

    /// Makes blocking calls on this context's sockets return `.contextTerminated`.
    public func shutdown() {
        zmq_ctx_shutdown(handle)
    }

    /// Terminates the context (close its sockets first, or this blocks until they are).
    /// Safe to call twice; never called from `deinit`.
    public func terminate() {
        guard terminated.set() else { return }
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}

import Synchronization

/// A flag that can be set once, from any thread.
final class LockedFlag: Sendable {
    private let value = Atomic<Bool>(false)
    /// Sets the flag; true if this call set it.
    func set() -> Bool { !value.exchange(true, ordering: .acquiringAndReleasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
