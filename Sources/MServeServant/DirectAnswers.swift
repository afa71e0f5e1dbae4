import Foundation
import Logging
import Synchronization
import ZeroMQ

/// Lets a worker send its answer on the servant's socket itself while the servant's loop
/// sleeps: under mserve's rule (one query at a time) an answer then costs the loop no wake-up.
///
/// The loop holds ``ZMQSleepGate``'s lock while it works and lets go of it only while it sleeps
/// in `poll` (``willSleep()``/``didWake()``). A worker that finds the lock free sends its answer
/// as a `REPLY` of its own, then asks the socket's state: the send may have processed the
/// command that announced a new message, so a waiting message wakes the loop
/// (``ServantControl/socketReadable``). A worker that finds the loop at work posts its answer
/// to the mailbox as before, where answers finished together leave in one `REPLY`.
///
/// The place each answer sent here frees at the servant (its broker session's, or the direct
/// queries') is noted under the lock, before the lock is let go: the loop, which takes the
/// lock as it wakes, frees them (``takeFreedPlaces(_:)``) before it reads what the broker sent
/// after that answer.
final class DirectAnswers: ZMQSleepGate, @unchecked Sendable {
    // Unchecked: `socket`, `closed` and `freedPlaces` are used only with `lock` held, by the
    // loop's thread or by one worker at a time.
    private let lock = NSLock()
    private let socket: ZMQSocket
    private let mailbox: ZMQMailbox<ServantControl>
    private let logger: Logger
    private var closed = false
    private var freedPlaces: [(broker: [UInt8], session: UInt64)] = []
    private let sent = Atomic<UInt64>(0)

    init(socket: ZMQSocket, mailbox: ZMQMailbox<ServantControl>, logger: Logger) {
        self.socket = socket
        self.mailbox = mailbox
        self.logger = logger
    }

    /// The loop's thread takes the socket: called once, before its first turn.
    func loopStarts() { lock.lock() }

    /// The loop's thread is done with the socket, which no worker may use any more.
    func loopEnded() {
        closed = true
        lock.unlock()
    }

    func willSleep() { lock.unlock() }

    func didWake() { lock.lock() }

    /// Answers sent by workers since start.
    var count: UInt64 { sent.load(ordering: .relaxed) }

    /// Hands `free` the place each answer sent here since the last call freed, as the broker
    /// and session of its query, and forgets them. Called by the loop's thread while it holds
    /// the lock (awake, outside `poll`).
    func takeFreedPlaces(_ free: (_ broker: [UInt8], _ session: UInt64) -> Void) {
        guard !freedPlaces.isEmpty else { return }
        for place in freedPlaces { free(place.broker, place.session) }
        freedPlaces.removeAll(keepingCapacity: true)
    }

    /// Sends `done` as the loop would, a broker's answer as a `REPLY` of its own, if the loop
    /// sleeps; false, sending nothing, when the loop is at work (or has ended): the answer
    /// then goes through the mailbox.
    func send(_ done: ServantJob.Completion) -> Bool {
        guard lock.try() else { return false }
        defer { lock.unlock() }
        guard !closed else { return false }
        do {
            if let envelope = done.directEnvelope {
                try socket.send(multipart: [done.broker] + envelope + [done.reply])
            } else {
                try socket.sendReply([done][...], to: done.broker)
            }
            if try socket.events.contains(.readable) { _ = mailbox.post(.socketReadable) }
        } catch {
            logger.warning("could not send to a broker: \(error)")
        }
        freedPlaces.append((done.broker, done.session))
        sent.add(1, ordering: .relaxed)
        return true
    }
}
