/// Where an error was raised.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// The file, as `#fileID`.
    public var file: String
    /// The line.
    public var line: Int

    /// Creates a location; the defaults name the caller.
    public init(file: String = #fileID, line: Int = #line) {
        self.file = file
        self.line = line
    }

    /// `file:line`.
    public var description: String { "\(file):\(line)" }
}

/// A hub, spoke or hub-client failure.
public struct HubError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure it is; extensible.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name.
        public let name: String
        /// Creates a code.
        public init(_ name: String) { self.name = name }

        /// The hub endpoint is already bound by another process (another hub is serving).
        public static let addressInUse = Code("addressInUse")
        /// The hub endpoint's address is not one of this host's: the hub it names can only be
        /// served on another host.
        public static let addressNotOnThisHost = Code("addressNotOnThisHost")
        /// Another hub serves from the same hub directory.
        public static let directoryInUse = Code("directoryInUse")
        /// A socket could not be created, bound or connected.
        public static let socket = Code("socket")
        /// The hub database could not be opened, read or written.
        public static let database = Code("database")
        /// The hub directory given may not be used as it is: it is not a directory, another
        /// user owns it, or its group or others may write it. A setting to change, not a
        /// failure of the hub (`mserve hub` exits 64 for it, as for other refused settings).
        public static let directoryRefused = Code("directoryRefused")
        /// The hub did not answer in time.
        public static let timeout = Code("timeout")
        /// A message that the hub protocol does not define.
        public static let malformed = Code("malformed")
        /// The hub answered with an error.
        public static let refused = Code("refused")
        /// The hub refused an administrative command that carried no admin token.
        public static let adminTokenMissing = Code("adminTokenMissing")
        /// The hub refused an administrative command whose admin token is not its current one.
        public static let adminTokenWrong = Code("adminTokenWrong")
        /// A hub run with keys refused an administrative command from a key other than its own.
        public static let adminKeyNeeded = Code("adminKeyNeeded")

        /// The code's name.
        public var description: String { name }
    }

    /// What kind of failure it is.
    public var code: Code
    /// A sentence for logs and users.
    public var message: String
    /// Where it was raised.
    public var location: SourceLocation

    /// Creates an error at the caller's location.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.location = SourceLocation(file: file, line: line)
    }

    /// The message.
    public var description: String { message }
}
