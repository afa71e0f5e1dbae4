import Dispatch
public import MServeServant
import QData
import Synchronization

/// A registry whose `hold x` runs until the test lets it finish, however slowly the machine
/// goes, and answers `x`. A hold never lets go by itself before a minute has passed, so a test
/// that fails before it releases leaves no servant worker held for ever.
public final class HeldFunction: Sendable {
    private let runs = Atomic(0)
    private let gate = DispatchSemaphore(value: 0)

    /// A function whose holds wait for ``release(_:)``.
    public init() {}

    /// Whether a `hold` has started.
    public var started: Bool { runs.load(ordering: .sequentiallyConsistent) > 0 }

    /// How many `hold`s have started.
    public var startedCount: Int { runs.load(ordering: .sequentiallyConsistent) }

    /// Lets `count` holds finish.
    public func release(_ count: Int) { for _ in 0..<count { gate.signal() } }

    /// The registry serving `hold`.
    public var registry: FunctionRegistry {
        var functions = FunctionRegistry()
        register(in: &functions)
        return functions
    }

    /// Adds `hold` to `functions`.
    public func register(in functions: inout FunctionRegistry) {
        functions.register("hold", arity: 1...1) { [self] arguments in
            runs.add(1, ordering: .sequentiallyConsistent)
            _ = gate.wait(timeout: .now() + 60)
            return arguments[0]
        }
    }
}
