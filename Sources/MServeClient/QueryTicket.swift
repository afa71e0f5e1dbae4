import Synchronization

/// One query's race between its send and its task's cancellation.
final class QueryTicket: Sendable {
    enum Outcome { case posted, cancelledFirst, refused }
    private enum State { case new, posted, cancelled }
    private let state = Mutex(State.new)

    /// Runs `post` (which returns whether the mailbox took the send) unless cancelled first.
    func post(_ post: () -> Bool) -> Outcome {
        state.withLock { state in
            if state == .cancelled { return .cancelledFirst }
            guard post() else { return .refused }
            state = .posted
            return .posted
        }
    }

    /// Marks the query cancelled; true when its send was posted (the loop must be told).
    func cancel() -> Bool {
        state.withLock { state in
            defer { state = .cancelled }
            return state == .posted
        }
    }
}
