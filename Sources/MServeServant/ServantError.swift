import Foundation
import MServeServantPluginKit
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

extension ServantError {
    /// The error a client sees when servant function `function` threw `failure`, an error
    /// other than a `ServantError`: `function: DESCRIPTION`, where the description is an
    /// `NSError`'s `localizedDescription`, a `LocalizedError`'s `errorDescription`, a
    /// `CustomStringConvertible`'s `description`, in that order, or else the error's type name
    /// (a bare `struct Boom: Error` gives `boom: Boom`). Never the debug dump of the value,
    /// which would show the client the function's internals.
    public init(function: String, failure: any Error) {
        self.init("\(function): \(ServantPluginFunction.clientDescription(of: failure))")
    }
}
