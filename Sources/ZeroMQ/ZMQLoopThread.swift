import Foundation
import ServiceLifecycle

/// A socket-owning event loop's thread. libzmq sockets must stay on one thread and a poll
/// loop blocks it, so each loop (broker, servant, hub, hub clients) gets a thread of its own,
/// and the `async` service that owns it waits for it without holding a concurrency thread.
public enum ZMQLoopThread {
    /// Runs `loop` on a new thread named `name`; returns when `loop` returns and throws what
    /// it throws. Stop the loop by other means (its ``ZMQMailbox``) to make this return.
    public static func run(named name: String, _ loop: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                do {
                    try loop()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = name
            thread.start()
        }
    }

    /// Runs `loop` on a new thread named `name` as a service's `run()` does: `stop` is called
    /// (it posts the loop's stop command) on graceful shutdown, unless
    /// `stoppingOnGracefulShutdown` is false, and on cancellation; returns when `loop` does.
    public static func runService(
        named name: String, stoppingOnGracefulShutdown: Bool = true, stop: @escaping @Sendable () -> Void,
        _ loop: @escaping @Sendable () throws -> Void
    ) async throws {
        guard stoppingOnGracefulShutdown else {
            return try await withTaskCancellationHandler {
                try await run(named: name, loop)
            } onCancel: {
                stop()
            }
        }
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await run(named: name, loop)
            } onCancel: {
                stop()
            }
        } onGracefulShutdown: {
            stop()
        }
    }

    /// Starts a loop on a new thread named `name` for a synchronous owner: `make` builds the
    /// loop on that thread (so that its state never leaves it), then `run` runs it there.
    /// Returns once `make` has returned, and throws what it threw.
    public static func start<Loop>(
        named name: String, make: @escaping @Sendable () throws -> Loop, run: @escaping @Sendable (Loop) -> Void
    ) throws {
        let startup = ZMQStartup<Bool>()
        let thread = Thread {
            guard let loop = try? startup.report({ _ in true }, of: make) else { return }
            run(loop)
        }
        thread.name = name
        thread.start()
        _ = try startup.wait()
    }
}
