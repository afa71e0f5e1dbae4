import MServePlugin
import MServeQuery
import ZeroMQ

/// A broker start-up or run-time failure.
public struct BrokerError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name.
        public let name: String
        /// A socket could not be bound or connected.
        public static let socket = Code(name: "socket")
        /// The dispatch algorithm or routing plugin could not be made.
        public static let plugin = Code(name: "plugin")
        /// The configuration is invalid.
        public static let configuration = Code(name: "configuration")
        /// A call of one of the broker's own functions (``BrokerFunctions``) was refused.
        public static let brokerFunction = Code(name: "brokerFunction")
        /// A query calls a function that no known servant of the service serves.
        public static let unservedFunction = Code(name: "unservedFunction")
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
