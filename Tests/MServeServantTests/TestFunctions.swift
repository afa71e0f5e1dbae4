import MServeServant
import QData

extension FunctionRegistry {
    /// The servant tests' API: `twice n` answers 2n.
    static func twice() -> FunctionRegistry {
        var functions = FunctionRegistry()
        functions.register("twice", arity: 1...1) { arguments in
            guard case .atom(.long(let n)) = arguments[0] else { throw ServantError("twice: type") }
            return .atom(.long(2 * n))
        }
        return functions
    }
}
