// ZeroMQ owns the thin, safe Swift wrapper over libzmq: contexts, sockets, messages,
// polling (sockets and raw descriptors), monitors, CURVE keys and cross-thread wake-ups.
// It is the only MServe target that touches unsafe pointers.

import CZeroMQ
import Glibc

/// A failed libzmq call: the errno it set, the call, and libzmq's text for it.
public struct ZMQError: Error, CustomStringConvertible, Sendable {
    /// An errno value, with names for the ones MServe reacts to.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The errno value.
        public let rawValue: Int32
        /// Creates a code from an errno value.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// EAGAIN: nothing to receive, or the send would block.
        public static let again = Code(rawValue: EAGAIN)
        /// EHOSTUNREACH: a ROUTER with ROUTER_MANDATORY has no such peer.
        public static let hostUnreachable = Code(rawValue: EHOSTUNREACH)
        /// ETERM: the context was terminated.
        public static let contextTerminated = Code(rawValue: 156_384_765)  // ETERM
        /// EINTR: a signal interrupted the call.
        public static let interrupted = Code(rawValue: EINTR)
        /// EINVAL: an invalid argument or endpoint.
        public static let invalidArgument = Code(rawValue: EINVAL)
        /// EADDRINUSE: the address is already bound.
        public static let addressInUse = Code(rawValue: EADDRINUSE)
        /// EPROTONOSUPPORT: the transport is not supported.
        public static let protocolNotSupported = Code(rawValue: EPROTONOSUPPORT)
        /// ENOTSUP: the operation is not supported by this socket type.
        public static let notSupported = Code(rawValue: 95)
        /// EFSM: the operation is not valid in the socket's state.
        public static let invalidState = Code(rawValue: 156_384_763)

        public var description: String { String(cString: zmq_strerror(rawValue)) }
    }

    /// The errno value libzmq set.
    public var code: Code
    /// The call that failed, with its main argument, e.g. `zmq_bind(tcp://*:0)`.
    public var call: String
    /// libzmq's text for the error.
    public var message: String
    /// Where it was raised.
    public var file: String
    /// Where it was raised.
    public var line: Int

    /// Creates an error from the current errno.
    init(call: String, file: String = #fileID, line: Int = #line) {
        self.init(code: Code(rawValue: zmq_errno()), call: call, file: file, line: line)
    }

    /// Creates an error for `code`.
    public init(code: Code, call: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.call = call
        self.message = String(cString: zmq_strerror(code.rawValue))
        self.file = file
        self.line = line
    }

    public var description: String { "\(call): \(message) (errno \(code.rawValue))" }
}
