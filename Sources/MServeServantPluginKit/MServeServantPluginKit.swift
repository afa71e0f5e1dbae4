// MServeServantPluginKit owns the Swift side of writing a servant plugin: functions written
// on q values (`ServantPluginFunction`), and the export of them as the C table of
// plugins/include/mserve_servant_plugin.h (`ServantPluginExport`), which converts the kdb+
// IPC bytes crossing the ABI to and from `QValue`s.

import Foundation
public import QData

/// What a plugin function returns: a result, and optionally an info dictionary.
public struct ServantPluginResult: Sendable {
    /// The result sent to the client.
    public var result: QValue
    /// A symbol-keyed dictionary the broker merges into the reply's info dictionary.
    public var info: QValue?

    /// Creates a result with an optional info dictionary.
    public init(_ result: QValue, info: QValue? = nil) {
        self.result = result
        self.info = info
    }
}

extension ServantPluginResult {
    /// Why no client could read a reply carrying `result` and `info`, or nil when one could:
    /// a q error inside the result (a top-level one is a failure, and fine) or anywhere in the
    /// info, which would travel inside the reply list where no kdb+ client reads one
    /// (docs/PROTOCOL.md); or a value no q process can hold (``QData/QValue/shapeProblem``).
    /// A servant refuses such a result, failing the query with `NAME: ` and this text.
    public static func unsendableReason(result: QValue, info: QValue?) -> String? {
        if case .error = result {
        } else if result.holdsError {
            return "the result holds a q error inside a list; return the error itself (or throw) to fail the query"
        }
        if let problem = result.shapeProblem {
            return "the result is a value no q process can hold: \(problem)"
        }
        guard let info else { return nil }
        if info.holdsError { return "the info dictionary holds a q error; no client reads one inside the reply" }
        if let problem = info.shapeProblem {
            return "the info dictionary is a value no q process can hold: \(problem)"
        }
        return nil
    }
}

/// An error a plugin function throws to give the client the q error `'message`.
///
/// Any other error thrown by a function reaches the client as `NAME: DESCRIPTION`, naming the
/// function (``ServantPluginFunction/errorText(_:function:)``).
public struct ServantPluginFailure: Error, CustomStringConvertible, Sendable {
    /// The text the client sees after the `'`.
    public var message: String

    /// Creates a failure with the text the client sees.
    public init(_ message: String) {
        self.message = message
    }

    /// The text the client sees.
    public var description: String { message }
}

/// One function a servant plugin serves: a name, the argument counts it accepts, and a body
/// on q values. The body runs on the servant's worker threads, possibly concurrently.
public struct ServantPluginFunction: Sendable {
    /// The name clients call.
    public var name: String
    /// The argument counts accepted; the servant checks them before calling the body.
    public var arity: ClosedRange<Int>
    /// The body: the literal arguments in, the result (and optional info) out.
    public var body: @Sendable ([QValue]) throws -> ServantPluginResult
    /// Whether the function returns its one argument unchanged (``identity(_:)``): exported
    /// through the plugin ABI, it copies the argument's bytes to the result without running
    /// ``body``.
    public private(set) var returnsItsArgument = false

    /// A function returning a plain result.
    public init(
        _ name: String, arity: ClosedRange<Int>, _ body: @escaping @Sendable ([QValue]) throws -> QValue
    ) {
        self.name = name
        self.arity = arity
        self.body = { ServantPluginResult(try body($0)) }
    }

    /// A function returning a result and its own info dictionary. Disfavoured: a trailing
    /// closure that fits both initialisers (its body only throws) goes to
    /// ``init(_:arity:_:)``; one that returns a `ServantPluginResult` comes here.
    @_disfavoredOverload
    public init(
        _ name: String, arity: ClosedRange<Int>,
        withInfo body: @escaping @Sendable ([QValue]) throws -> ServantPluginResult
    ) {
        self.name = name
        self.arity = arity
        self.body = body
    }

    /// `name x`: returns its one argument unchanged, as an echo does. Exported through the
    /// plugin ABI (``ServantPluginExport``), the argument's bytes are copied to the result as
    /// the servant passed them, never decoded into a `QValue` and encoded again: for a 40 MB
    /// vector the plugin makes one copy, its result, where a function on q values holds the
    /// decoded vector and its encoding as well. Registered in-process, its body returns
    /// `arguments[0]`.
    public static func identity(_ name: String) -> ServantPluginFunction {
        var function = ServantPluginFunction(name, arity: 1...1) { $0[0] }
        function.returnsItsArgument = true
        return function
    }

    /// The error text a thrown error gives the client: a ``ServantPluginFailure``'s message as
    /// it is; any other error as `FUNCTION: DESCRIPTION` (``clientDescription(of:)``), naming
    /// `function`, the function that threw it.
    public static func errorText(_ error: any Error, function: String) -> String {
        if let failure = error as? ServantPluginFailure { return failure.message }
        return "\(function): \(clientDescription(of: error))"
    }

    /// What an error says of itself, for a client: an `NSError`'s `localizedDescription`, a
    /// `LocalizedError`'s `errorDescription`, a `CustomStringConvertible`'s `description`, in
    /// that order, or else the error's type name (a bare `struct Boom: Error` gives `Boom`).
    /// Never the debug dump of the value, which would show the client a function's internals.
    public static func clientDescription(of error: any Error) -> String {
        if type(of: error) is NSError.Type {
            return (error as NSError).localizedDescription
        }
        if let localized = error as? any LocalizedError, let text = localized.errorDescription {
            return text
        }
        // Through Any: a cast from `any Error` may bridge to NSError, which always describes itself.
        if let describing = error as Any as? any CustomStringConvertible {
            return describing.description
        }
        return String(describing: type(of: error))
    }
}

/// A plugin's API: the functions it serves, listed once (a type, so the export's C
/// trampolines can name it without capturing anything).
public protocol ServantPluginAPI {
    /// The functions served, in the order the C table lists them.
    static var functions: [ServantPluginFunction] { get }
}
