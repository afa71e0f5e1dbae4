import Dispatch
import Synchronization

/// The "wait until bound" handshake between a loop's thread and its owner: the loop reports
/// once, with what it bound (its endpoint, say) or why it could not start; owners wait for that
/// report, from async code or (``wait()``) from a synchronous initializer. No polling: waiters
/// are resumed by the report.
public final class ZMQStartup<Value: Sendable>: Sendable {
    private enum Waiter {
        case task(CheckedContinuation<Value, any Error>)
        case thread(DispatchSemaphore)
    }
    private struct State {
        var result: Result<Value, any Error>?
        var waiters: [UInt64: Waiter] = [:]
        var cancelled: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
    }
    private let state = Mutex(State())

    /// A handshake not yet reported.
    public init() {}

    /// The report, once made.
    public var result: Result<Value, any Error>? { state.withLock { $0.result } }

    /// Reports a successful start with `value`. Only the first report counts.
    public func succeed(_ value: Value) { report(.success(value)) }

    /// Reports a failed start. Only the first report counts.
    public func fail(_ error: any Error) { report(.failure(error)) }

    /// Makes the loop with `make` and reports `value(loop)`, or the error `make` threw (and
    /// throws it again).
    public func report<Loop>(_ value: (Loop) -> Value, of make: () throws -> Loop) throws -> Loop {
        do {
            let loop = try make()
            succeed(value(loop))
            return loop
        } catch {
            fail(error)
            throw error
        }
    }

    private func report(_ result: Result<Value, any Error>) {
        let waiters = state.withLock { state -> [Waiter] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            switch waiter {
            case .task(let continuation): continuation.resume(with: result)
            case .thread(let semaphore): semaphore.signal()
            }
        }
    }

    /// Waits for the report; returns the value or throws the start-up error. Throws
    /// `CancellationError` if the waiting task is cancelled first.
    public var value: Value {
        get async throws {
            let id = state.withLock { state -> UInt64 in
                defer { state.nextWaiter += 1 }
                return state.nextWaiter
            }
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                    let now = state.withLock { state -> Result<Value, any Error>? in
                        if let result = state.result { return result }
                        if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                        state.waiters[id] = .task(continuation)
                        return nil
                    }
                    if let now { continuation.resume(with: now) }
                }
            } onCancel: {
                let waiter = state.withLock { state -> Waiter? in
                    guard state.result == nil else { return nil }
                    guard let waiter = state.waiters.removeValue(forKey: id) else {
                        state.cancelled.insert(id)
                        return nil
                    }
                    return waiter
                }
                if case .task(let continuation) = waiter { continuation.resume(throwing: CancellationError()) }
            }
        }
    }

    /// Blocks the calling thread until the report; returns the value or throws the start-up
    /// error. For synchronous owners whose loop starts on a thread of its own.
    public func wait() throws -> Value {
        let semaphore = DispatchSemaphore(value: 0)
        let now = state.withLock { state -> Result<Value, any Error>? in
            if let result = state.result { return result }
            defer { state.nextWaiter += 1 }
            state.waiters[state.nextWaiter] = .thread(semaphore)
            return nil
        }
        if let now { return try now.get() }
        semaphore.wait()
        return try state.withLock { $0.result! }.get()
    }
}
