/// An error of the HTTP side: a bad `--http` address, a bind refused by the safety rules.
public struct MonitoringError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name.
        public let name: String
        /// The address is not `HOST:PORT` or `PORT`.
        public static let address = Code(name: "address")
        /// The bind is refused by a safety rule (a non-loopback bind under `--keys`).
        public static let refused = Code(name: "refused")
        /// The HTTP server could not start.
        public static let server = Code(name: "server")
        /// The code's name.
        public var description: String { name }
    }

    /// What went wrong.
    public var code: Code
    /// A sentence naming the problem.
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
