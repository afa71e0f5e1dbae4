public import MServeServantPluginKit
import QData

extension FunctionRegistry {
    /// Registers a function written for a servant plugin, run in-process. Its
    /// `ServantPluginFailure`s reach the client as failures with the same text, other errors
    /// as they would through the plugin ABI (`ServantPluginFunction.errorText`).
    public mutating func register(_ function: ServantPluginFunction) {
        let body = function.body
        let name = function.name
        register(function.name, arity: function.arity, withInfo: { arguments in
            do {
                let outcome = try body(arguments)
                return ServantResult(outcome.result, info: outcome.info)
            } catch {
                throw ServantError(ServantPluginFunction.errorText(error, function: name))
            }
        })
    }
}
