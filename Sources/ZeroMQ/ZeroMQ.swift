// ZeroMQ: a thin, safe Swift wrapper over libzmq. With POSIXSockets (the system socket API),
// the only targets that touch unsafe pointers, apart from the plugin ABIs' C boundary and
// QData's one bulk-copy file.
import CZeroMQ

/// Library-wide libzmq facilities: version, capabilities, CURVE keys and the built-in proxy.
public enum ZMQ {
    /// The version of the libzmq the process is linked against.
    public static var version: (major: Int, minor: Int, patch: Int) {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (Int(major), Int(minor), Int(patch))
    }

    /// Whether libzmq was built with a capability, e.g. `"curve"`, `"ipc"`, `"draft"`.
    public static func has(_ capability: String) -> Bool {
        zmq_has(capability) == 1
    }

    /// Generates a new CURVE key pair, both keys Z85-encoded (40 characters each).
    public static func curveKeyPair(
        file: String = #fileID, line: Int = #line
    ) throws(ZMQError) -> (publicKey: String, secretKey: String) {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        let rc = zmq_curve_keypair(&publicKey, &secretKey)
        guard rc == 0 else { throw ZMQError.last(call: "zmq_curve_keypair", file: file, line: line) }
        return (String(z85Buffer: publicKey), String(z85Buffer: secretKey))
    }

    /// Derives the Z85-encoded CURVE public key that belongs to a Z85-encoded secret key.
    public static func curvePublicKey(
        fromSecret secretKey: String, file: String = #fileID, line: Int = #line
    ) throws(ZMQError) -> String {
        guard secretKey.utf8.count == 40 else {
            throw ZMQError(
                code: .invalidArgument, call: "zmq_curve_public",
                message: "a Z85 CURVE key has 40 characters, got \(secretKey.utf8.count)",
                file: file, line: line)
        }
        var publicKey = [CChar](repeating: 0, count: 41)
        let rc = zmq_curve_public(&publicKey, secretKey)
        guard rc == 0 else { throw ZMQError.last(call: "zmq_curve_public", file: file, line: line) }
        return String(z85Buffer: publicKey)
    }

    /// Runs libzmq's built-in proxy between two sockets on the calling thread.
    ///
    /// Blocks until the sockets' context is shut down or terminated, then returns normally;
    /// the caller still closes both sockets afterwards. Any other failure is thrown.
    public static func proxy(
        frontend: ZMQSocket, backend: ZMQSocket, file: String = #fileID, line: Int = #line
    ) throws(ZMQError) {
        let frontendHandle = try frontend.openHandle(call: "zmq_proxy", file: file, line: line)
        let backendHandle = try backend.openHandle(call: "zmq_proxy", file: file, line: line)
        while true {
            let rc = zmq_proxy(frontendHandle, backendHandle, nil)
            if rc == 0 { return }
            let error = ZMQError.last(call: "zmq_proxy", file: file, line: line)
            switch error.code {
            case .contextTerminated: return
            case .interrupted: continue
            default: throw error
            }
        }
    }
}

extension String {
    /// A string from a NUL-terminated Z85 key buffer.
    init(z85Buffer buffer: [CChar]) {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
