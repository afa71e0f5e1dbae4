import Foundation

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
}
