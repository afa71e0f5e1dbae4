import DemoAPI
public import MServeServant
public import QData

/// The demo API the quickstart serves (`proc1`, `proc2`, `proc3`, `echo`, `sleep`, `fail`,
/// `pid`), registered in-process. The same implementation (module `DemoAPI`) is what the
/// `demo-api` servant plugin exports, so both behave alike.
public enum DemoFunctions {
    /// A registry with the demo functions.
    public static func registry() -> FunctionRegistry {
        var functions = FunctionRegistry()
        for function in DemoAPI.functions { functions.register(function) }
        return functions
    }

    /// Five trades for `symbol`, the same every time for the same symbol.
    public static func trades(for symbol: String) -> QTable {
        DemoAPI.trades(for: symbol)
    }
}
