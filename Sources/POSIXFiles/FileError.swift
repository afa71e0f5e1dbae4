#if canImport(Glibc)
import Glibc
#endif

/// A file call that failed, naming the file and the system's reason.
public struct FileError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure; extensible, compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, as shown in messages.
        public let name: String

        /// A code named `name`.
        public init(_ name: String) { self.name = name }

        /// A system call failed (the message carries the system's reason).
        public static let systemCall = Code("system call")
        /// The file to create exists already; it was left as it was.
        public static let exists = Code("exists")
        /// The file to read or write is not a regular file (a FIFO, a device, a directory, a
        /// socket, or a symbolic link where none is followed).
        public static let notRegularFile = Code("not a regular file")
        /// The file to read is larger than the reader's limit.
        public static let tooLarge = Code("too large")

        /// The code's name.
        public var description: String { name }
    }

    /// What kind of failure.
    public var code: Code
    /// What failed and why, for people; names the file.
    public var message: String
    /// The system's error number, when a system call failed.
    public var systemErrorNumber: Int32?
    /// The system's reason alone (`strerror`), when a system call failed: for a caller that
    /// names the file in its own words.
    public var systemReason: String? { systemErrorNumber.map { String(cString: strerror($0)) } }
    /// Why, without the file's name: the system's reason, or this module's own words
    /// (`it is a FIFO (named pipe), not a regular file`); for a caller that names the file in
    /// its own words.
    public var reason: String { systemReason ?? ownReason ?? message }
    /// The reason in this module's own words, when no system call failed.
    private var ownReason: String?
    /// Where the error was made.
    public var file: String
    /// The line where the error was made.
    public var line: Int

    /// An error of `code` saying `message`.
    public init(
        _ code: Code, _ message: String, systemErrorNumber: Int32? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.systemErrorNumber = systemErrorNumber
        self.file = file
        self.line = line
    }

    /// An error about the file `path` that no system call reported: `cannot read PATH: REASON`.
    init(_ code: Code, readingPath path: String, reason: String, file: String = #fileID, line: Int = #line) {
        self.init(code, doing: "read", path: path, reason: reason, file: file, line: line)
    }

    /// An error about the file `path` that no system call reported: `cannot DOING PATH: REASON`.
    init(_ code: Code, doing: String, path: String, reason: String, file: String = #fileID, line: Int = #line) {
        self.init(code, "cannot \(doing) \(path): \(reason)", file: file, line: line)
        ownReason = reason
    }

    /// An error for the system call that just failed: `message`, then the system's reason.
    static func lastSystemCall(_ message: String, file: String = #fileID, line: Int = #line) -> FileError {
        let number = errno
        return FileError(
            number == EEXIST ? .exists : .systemCall, "\(message): \(String(cString: strerror(number)))",
            systemErrorNumber: number, file: file, line: line)
    }

    /// The message.
    public var description: String { message }
}
