import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A failed libzmq call: the errno value, the call that failed, libzmq's description and where
/// in the calling code it happened.
public struct ZMQError: Error, CustomStringConvertible, Sendable {
    /// An errno value reported by libzmq; extensible, compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The errno value.
        public let rawValue: Int32

        /// A code for an errno value.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// EAGAIN: a non-blocking call would block, or a send/receive timeout expired.
        public static let again = Code(rawValue: EAGAIN)
        /// EHOSTUNREACH: a ROUTER with `ROUTER_MANDATORY` has no peer with that routing id.
        public static let hostUnreachable = Code(rawValue: EHOSTUNREACH)
        /// ETERM: the socket's context was shut down or terminated.
        public static let contextTerminated = Code(rawValue: Int32(ZMQ_HAUSNUMERO) + 53)
        /// EINTR: a signal interrupted the call.
        public static let interrupted = Code(rawValue: EINTR)
        /// EINVAL: an invalid argument, option value or endpoint.
        public static let invalidArgument = Code(rawValue: EINVAL)
        /// ENOTSUP: the operation is not supported by this socket type.
        public static let notSupported = Code(rawValue: ENOTSUP)
        /// EPROTONOSUPPORT: the endpoint's transport is not supported.
        public static let protocolNotSupported = Code(rawValue: EPROTONOSUPPORT)
        /// EADDRINUSE: the address is already bound.
        public static let addressInUse = Code(rawValue: EADDRINUSE)
        /// EADDRNOTAVAIL: the address is not local.
        public static let addressNotAvailable = Code(rawValue: EADDRNOTAVAIL)
        /// ENODEV: the named network interface does not exist.
        public static let noDevice = Code(rawValue: ENODEV)
        /// ENOENT: the endpoint was not bound or connected (unbind, disconnect).
        public static let noEntry = Code(rawValue: ENOENT)
        /// ENOTSOCK: the socket was closed or is invalid.
        public static let notSocket = Code(rawValue: ENOTSOCK)
        /// EMTHREAD: no I/O thread is available.
        public static let noIOThread = Code(rawValue: Int32(ZMQ_HAUSNUMERO) + 54)
        /// EFSM: the operation is not valid in the socket's current state (e.g. REQ sending twice).
        public static let invalidState = Code(rawValue: Int32(ZMQ_HAUSNUMERO) + 51)
        /// ENOCOMPATPROTO: the transport does not suit the socket type.
        public static let incompatibleProtocol = Code(rawValue: Int32(ZMQ_HAUSNUMERO) + 52)
        /// EMFILE: too many open sockets or files.
        public static let tooManyOpenFiles = Code(rawValue: EMFILE)
        /// EFAULT: an invalid socket or message.
        public static let fault = Code(rawValue: EFAULT)
        /// ENOMEM: out of memory.
        public static let outOfMemory = Code(rawValue: ENOMEM)
        /// EBADF: a bad file descriptor.
        public static let badFileDescriptor = Code(rawValue: EBADF)

        /// libzmq's text for this errno value.
        public var description: String { String(cString: zmq_strerror(rawValue)) }
    }

    /// What went wrong, as an errno value.
    public var code: Code
    /// The libzmq call that failed, with its main argument, e.g. `zmq_bind(tcp://*:0)`.
    public var call: String
    /// A human-readable explanation (libzmq's `zmq_strerror` text unless stated otherwise).
    public var message: String
    /// The source file of the call into this library.
    public var file: String
    /// The source line of the call into this library.
    public var line: Int

    /// An error with every field given.
    public init(code: Code, call: String, message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.call = call
        self.message = message
        self.file = file
        self.line = line
    }

    /// An error for a code, with libzmq's text as the message.
    public init(code: Code, call: String, file: String = #fileID, line: Int = #line) {
        self.init(code: code, call: call, message: code.description, file: file, line: line)
    }

    /// The failure for people, without the call and the source location: the message, for an
    /// endpoint libzmq refuses as invalid, what an endpoint looks like, and for a bind to a
    /// host name (`tcp://localhost:PORT`, which libzmq takes for an interface it does not
    /// find), what to give instead.
    public var reason: String {
        if call.hasPrefix("zmq_bind("), code == .noDevice {
            return "\(message) (libzmq binds an address or an interface name, not a host name: give 127.0.0.1, "
                + "or another of this host's addresses)"
        }
        let endpointCall = call.hasPrefix("zmq_bind(") || call.hasPrefix("zmq_connect(")
        guard endpointCall, code == .invalidArgument || code == .protocolNotSupported else { return message }
        return "\(message) (an endpoint is tcp://HOST:PORT or ipc://PATH)"
    }

    /// `call failed: message (errno N) at file:line`.
    public var description: String {
        "\(call) failed: \(message) (errno \(code.rawValue)) at \(file):\(line)"
    }

    /// The calling thread's current `zmq_errno()`, without an error's text: a receive that
    /// finds nothing, the loop's most frequent failure, reads it and makes no string.
    static var lastCode: Code { Code(rawValue: zmq_errno()) }

    /// The error for the calling thread's current `zmq_errno()`.
    static func last(call: String, file: String, line: Int) -> ZMQError {
        ZMQError(code: lastCode, call: call, file: file, line: line)
    }
}
