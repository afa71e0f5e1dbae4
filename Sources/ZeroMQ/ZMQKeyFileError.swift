import Foundation
import POSIXFiles

/// A key file could not be read or written.
public struct ZMQKeyFileError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, naming the file.
    public var message: String
    /// Where it was raised.
    public var file: String
    /// Where it was raised.
    public var line: Int

    /// Creates an error at the caller's location.
    public init(_ message: String, file: String = #fileID, line: Int = #line) {
        self.message = message
        self.file = file
        self.line = line
    }

    /// The message.
    public var description: String { message }
}
