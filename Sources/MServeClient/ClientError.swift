public import QData

/// Why a query failed.
public struct ClientError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name.
        public let name: String
        /// The query failed: the reply was `(id; "text"; info)` with `error` in its info (or,
        /// from an older broker, a q error); `message` is the text.
        public static let queryFailed = Code(name: "queryFailed")
        /// No answer came within the client's deadline (is the broker running?).
        public static let deadlineExceeded = Code(name: "deadlineExceeded")
        /// No connection to the broker within the client's `connectTimeout`.
        public static let notConnected = Code(name: "notConnected")
        /// The client was closed before the answer came.
        public static let closed = Code(name: "closed")
        /// The answer was not a valid `(id; result; info)` message.
        public static let malformedReply = Code(name: "malformedReply")
        /// The socket failed.
        public static let socket = Code(name: "socket")
        /// The query is larger than the client's `maxQuerySize` (the broker's message limit); it
        /// was not sent.
        public static let queryTooLarge = Code(name: "queryTooLarge")
        /// An option given to `send` is refused before anything is sent (a deadline that is
        /// not positive), as the broker would refuse it.
        public static let invalidOption = Code(name: "invalidOption")
        /// The code's name.
        public var description: String { name }
    }

    /// What kind of failure.
    public var code: Code
    /// The error text (for `.queryFailed`, the failure's text).
    public var message: String
    /// The info dictionary that came with a failed query's reply, if any (its `error` entry
    /// holds the text).
    public var info: QValue?
    /// Where it was raised.
    public var file: String
    /// Where it was raised.
    public var line: Int

    /// Creates an error at the caller's location.
    public init(_ code: Code, _ message: String, info: QValue? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.info = info
        self.file = file
        self.line = line
    }

    /// A failed query as q shows an error (`'message`); any other error as its message, which says what
    /// happened and what to check (the code is for programs).
    public var description: String { code == .queryFailed ? "'\(message)" : message }
}
