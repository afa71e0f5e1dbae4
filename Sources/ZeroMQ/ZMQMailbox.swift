import Synchronization

/// A thread-safe inbox for a poll loop: any thread posts commands, the loop's thread takes
/// them when the mailbox's ``wakeSignal`` file descriptor polls readable.
public final class ZMQMailbox<Command: Sendable>: Sendable {
    private let commands = Mutex<(pending: [Command], open: Bool)>(([], true))
    /// The descriptor to add to the loop's ``ZMQPoller``.
    public let wakeSignal: ZMQWakeSignal

    /// Creates an empty mailbox.
    public init() throws {
        wakeSignal = try ZMQWakeSignal()
    }

    /// Adds a command and wakes the loop. Never blocks on the loop. Returns false, and drops
    /// the command, once the loop has closed its intake (it has stopped and will not read it).
    ///
    /// Only the post that finds the mailbox empty signals: the loop takes every pending
    /// command at once, so a burst of posts costs one wake-up, not one system call each.
    @discardableResult
    public func post(_ command: Command) -> Bool {
        let (accepted, first) = commands.withLock { state -> (Bool, Bool) in
            guard state.open else { return (false, false) }
            state.pending.append(command)
            return (true, state.pending.count == 1)
        }
        if first { wakeSignal.signal() }
        return accepted
    }

    /// Takes every command posted so far, oldest first. The signal is drained before the
    /// commands are taken, so a command posted after this call always signals again.
    public func takeAll() -> [Command] {
        wakeSignal.drain()
        return commands.withLock { state in
            let taken = state.pending
            state.pending.removeAll(keepingCapacity: true)
            return taken
        }
    }

    /// Refuses further posts and returns what is still pending: a loop calls it as it stops,
    /// so that no poster waits for an answer that will never come.
    public func closeIntake() -> [Command] {
        commands.withLock { state in
            state.open = false
            let taken = state.pending
            state.pending.removeAll()
            return taken
        }
    }

    /// Closes the wake descriptor. Call once, after the loop has stopped.
    public func close() {
        wakeSignal.close()
    }
}
