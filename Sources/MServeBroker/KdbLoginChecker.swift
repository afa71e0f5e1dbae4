import Dispatch
import MServePasswords
import Synchronization
import ZeroMQ

/// Checks kdb+ logins against slow password hashes (the hub's users) on a thread of its own,
/// so that a login, right or wrong, never holds up the broker's loop for the hash's rounds.
///
/// A password that passed once is remembered by a keyed fingerprint (never the password
/// itself), so a client that reconnects with it logs in at once; the entry is forgotten when
/// the user's hash changes. At most ``maxPending`` checks wait at a time, and at most
/// ``maxPendingPerAddress`` of them from one peer address: beyond either, a login is refused
/// at once rather than queued behind a flood of wrong guesses, so the hashing costs at most one
/// thread however fast logins come. The thread takes the waiting checks by address in turn,
/// one from each address that has some, so a flood of wrong guesses from one address neither
/// takes every place nor delays another address's login by more than a check or two.
final class KdbLoginChecker: Sendable {
    /// The outcome of a slow check.
    struct Result: Sendable {
        /// The door's connection the login came on.
        var connection: UInt64
        /// Whether the password matched the hash.
        var accepted: Bool
    }

    /// What ``check(connection:address:user:password:hash:)`` decided at once.
    enum Decision: Equatable {
        /// The password passed before: logged in now.
        case accepted
        /// The check runs; its ``Result`` comes through ``takeResults()``.
        case pending
        /// Too many checks wait already, from all addresses together.
        case busy
        /// Too many checks from the login's address wait already.
        case addressBusy
    }

    /// Checks waiting or running at most.
    static let maxPending = 16
    /// Checks waiting or running at most from one peer address: a quarter of ``maxPending``.
    static let maxPendingPerAddress = 4

    /// A login waiting for its check.
    private struct Check {
        var connection: UInt64
        var user: String
        var password: String
        var hash: PasswordHash
        var fingerprint: [UInt8]
    }

    private struct State {
        /// Checks waiting or running, from all addresses.
        var pending = 0
        /// Checks waiting or running, by peer address.
        var pendingByAddress: [String: Int] = [:]
        /// Checks waiting, by peer address, each address's in the order they came.
        var waiting: [String: [Check]] = [:]
        /// The addresses with checks waiting, in the order they take their turns.
        var turns: [String] = []
        var results: [Result] = []
        /// Passwords that passed: by user, the hash they passed and the password's fingerprint.
        var passed: [String: (hash: PasswordHash, fingerprint: [UInt8])] = [:]

        /// The next check to run: the first waiting from the address whose turn it is, which
        /// then goes to the back of the turns if it has more.
        mutating func next() -> (address: String, check: Check)? {
            guard !turns.isEmpty else { return nil }
            let address = turns.removeFirst()
            guard var checks = waiting.removeValue(forKey: address), !checks.isEmpty else { return nil }
            let check = checks.removeFirst()
            if !checks.isEmpty {
                waiting[address] = checks
                turns.append(address)
            }
            return (address, check)
        }
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

    /// Decides the login of `user` with `password` on `connection`, from the peer address
    /// `address`, against `hash`: at once when the password passed before, else by a check on
    /// the checker's thread, if the address and all addresses together have places left.
    func check(connection: UInt64, address: String, user: String, password: String, hash: PasswordHash) -> Decision {
        let fingerprint = fingerprinter.fingerprint(password)
        let decision = state.withLock { state -> Decision in
            if let known = state.passed[user], known.hash == hash,
                PasswordDigest.constantTimeEqual(known.fingerprint, fingerprint)
            {
                return .accepted
            }
            guard state.pending < Self.maxPending else { return .busy }
            let fromAddress = state.pendingByAddress[address, default: 0]
            guard fromAddress < Self.maxPendingPerAddress else { return .addressBusy }
            state.pending += 1
            state.pendingByAddress[address] = fromAddress + 1
            if state.waiting[address] == nil { state.turns.append(address) }
            state.waiting[address, default: []].append(
                Check(connection: connection, user: user, password: password, hash: hash, fingerprint: fingerprint))
            return .pending
        }
        guard decision == .pending else { return decision }
        // One run per check queued: each takes the check whose turn it is, not this one.
        queue.async { [self] in runNextCheck() }
        return .pending
    }

    /// Runs the check whose turn it is, on the checker's thread.
    private func runNextCheck() {
        guard let (address, check) = state.withLock({ $0.next() }) else { return }
        let accepted = check.hash.verifies(password: check.password)
        state.withLock { state in
            state.pending -= 1
            let left = state.pendingByAddress[address, default: 1] - 1
            state.pendingByAddress[address] = left > 0 ? left : nil
            state.results.append(Result(connection: check.connection, accepted: accepted))
            if accepted { state.passed[check.user] = (check.hash, check.fingerprint) }
        }
        wakeSignal.signal()
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
