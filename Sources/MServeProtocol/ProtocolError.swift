import QData

/// A protocol-level problem with a message: the peer gets an error reply or a log line.
public struct ProtocolError: Error, CustomStringConvertible, Sendable {
    /// What kind of problem it is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name.
        public let name: String
        /// The bytes are not a kdb+ IPC message.
        public static let malformed = Code(name: "malformed")
        /// The message is valid q but not of the expected shape.
        public static let unexpectedShape = Code(name: "unexpectedShape")
        /// A frame sequence that the protocol does not define.
        public static let badFrames = Code(name: "badFrames")
        /// The code's name.
        public var description: String { name }
    }

    /// What kind of problem it is.
    public var code: Code
    /// A sentence for logs and error replies.
    public var message: String
    /// Where it was raised.
    public var file: String
    /// Where it was raised.
    public var line: Int

    /// Creates an error at the caller's location.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// The message.
    public var description: String { message }
}
