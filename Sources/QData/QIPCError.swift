import Foundation

/// A message the codec cannot accept, with where and why.
public struct QIPCError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name.
        public let name: String
        /// Fewer bytes than the message needs.
        public static let truncated = Code(name: "truncated")
        /// The header is not a kdb+ IPC header, or its length disagrees with the bytes.
        public static let badHeader = Code(name: "badHeader")
        /// A type byte MServe does not accept (functions, enumerations, unknown types).
        public static let unsupportedType = Code(name: "unsupportedType")
        /// A count or length that cannot be right (negative, or larger than the bytes left).
        public static let badLength = Code(name: "badLength")
        /// Nesting deeper than ``QIPC/maximumDepth``.
        public static let tooDeep = Code(name: "tooDeep")
        /// Bytes left over after the value.
        public static let trailingBytes = Code(name: "trailingBytes")
        /// The compressed payload does not decompress to the size it announces.
        public static let badCompression = Code(name: "badCompression")
        /// A compressed message announces a decompressed size over the caller's limit.
        public static let tooLarge = Code(name: "tooLarge")
        /// The value has the wrong shape for the operation (e.g. slicing a non-list).
        public static let unexpectedShape = Code(name: "unexpectedShape")
        /// A value no q process can hold: a table with no columns, or whose columns differ in
        /// length, name a column twice or are not lists, a dictionary whose keys and values
        /// differ in count.
        public static let invalidValue = Code(name: "invalidValue")
        /// The code's name.
        public var description: String { name }
    }

    /// What is wrong.
    public var code: Code
    /// A sentence saying what and where (byte offset).
    public var message: String
    /// Where it was raised.
    public var file: String
    /// Where it was raised.
    public var line: Int

    /// An error of `code`, saying `message`, made at the caller's source location.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// The message.
    public var description: String { message }
}
