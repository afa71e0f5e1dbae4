import Logging
import MServeProtocol
import MServeQuery
import QData

/// An error a servant function throws to fail the query: the client gets
/// `(id; "message"; info)` with the text under info's `error` key.
public struct ServantError: Error, CustomStringConvertible, Sendable {
    /// The text the client sees after the `'`.
    public var message: String

    /// Creates an error with the text the client sees.
    public init(_ message: String) {
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
