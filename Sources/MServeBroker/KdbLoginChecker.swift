import Dispatch
import MServePasswords
import Synchronization
import ZeroMQ

/// Checks kdb+ logins against slow password hashes (the hub's users) on a thread of its own,
/// so that a login, right or wrong, never holds up the broker's loop for the hash's rounds.
///
/// A password that passed once is remembered by a keyed fingerprint (never the password
/// itself), so a client that reconnects with it logs in at once; the entry is forgotten when
/// the user's hash changes. At most ``maxPending`` checks wait at a time: beyond, a login is
/// refused at once rather than queued behind a flood of wrong guesses.
final class KdbLoginChecker: Sendable {
    /// The outcome of a slow check.
    struct Result: Sendable {
        /// The door's connection the login came on.
        var connection: UInt64
        /// Whether the password matched the hash.
        var accepted: Bool
    }

    /// What ``check(connection:user:password:hash:)`` decided at once.
    enum Decision: Equatable {
        /// The password passed before: logged in now.
        case accepted
        /// The check runs; its ``Result`` comes through ``takeResults()``.
        case pending
        /// Too many checks wait already.
        case busy
    }

    /// Checks waiting or running at most.
    static let maxPending = 16

    private struct State {
        var pending = 0
        var results: [Result] = []
        /// Passwords that passed: by user, the hash they passed and the password's fingerprint.
        var passed: [String: (hash: PasswordHash, fingerprint: [UInt8])] = [:]
    }

    private let state = Mutex(State())
    private let queue: DispatchQueue
    private let fingerprinter = PasswordFingerprinter()
    /// Readable once a result is waiting; the door polls it.
    let wakeSignal: ZMQWakeSignal

    /// A checker running its checks on `queue` (by default a serial queue of its own).
    init(queue: DispatchQueue = DispatchQueue(label: "mserve.kdb-login-checks")) throws(ZMQError) {
        self.queue = queue
        wakeSignal = try ZMQWakeSignal()
    }

    /// Decides the login of `user` with `password` on `connection` against `hash`: at once
    /// when the password passed before, else by a check on the checker's thread.
    func check(connection: UInt64, user: String, password: String, hash: PasswordHash) -> Decision {
        let fingerprint = fingerprinter.fingerprint(password)
        let decision = state.withLock { state -> Decision in
            if let known = state.passed[user], known.hash == hash,
                PasswordDigest.constantTimeEqual(known.fingerprint, fingerprint)
            {
                return .accepted
            }
            guard state.pending < Self.maxPending else { return .busy }
            state.pending += 1
            return .pending
        }
        guard decision == .pending else { return decision }
        queue.async { [self] in
            let accepted = hash.verifies(password: password)
            state.withLock { state in
                state.pending -= 1
                state.results.append(Result(connection: connection, accepted: accepted))
                if accepted { state.passed[user] = (hash, fingerprint) }
            }
            wakeSignal.signal()
        }
        return .pending
    }

    /// The results of the checks finished since the last call.
    func takeResults() -> [Result] {
        wakeSignal.drain()
        return state.withLock { state in
            defer { state.results.removeAll() }
            return state.results
        }
    }

    /// Forgets the passwords that passed for users whose hash is no longer `users` says.
    func forget(unless users: KdbUsers) {
        state.withLock { state in
            state.passed = state.passed.filter { user, known in users.passwords[user] == .hashed(known.hash) }
        }
    }

    /// Closes the wake signal (the thread's last results are dropped).
    func close() {
        wakeSignal.close()
    }
}
