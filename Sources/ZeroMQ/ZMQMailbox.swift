import Synchronization

/// A thread-safe inbox for a poll loop: any thread posts commands, the loop's thread takes
/// them when the mailbox's ``wakeSignal`` file descriptor polls readable.
public final class ZMQMailbox<Command: Sendable>: Sendable {
    private let commands = Mutex<[Command]>([])
    /// The descriptor to add to the loop's ``ZMQPoller``.
    public let wakeSignal: ZMQWakeSignal

    /// Creates an empty mailbox.
    public init() throws {
        wakeSignal = try ZMQWakeSignal()
    }

    /// Adds a command and wakes the loop. Never blocks on the loop.
    public func post(_ command: Command) {
        commands.withLock { $0.append(command) }
        wakeSignal.signal()
    }

    /// Takes every command posted so far, oldest first.
    public func takeAll() -> [Command] {
        wakeSignal.drain()
        return commands.withLock { pending in
            let taken = pending
            pending.removeAll(keepingCapacity: true)
            return taken
        }
    }

    /// Closes the wake descriptor. Call once, after the loop has stopped.
    public func close() {
        wakeSignal.close()
    }
}
