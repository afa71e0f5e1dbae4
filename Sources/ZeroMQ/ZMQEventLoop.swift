#if canImport(Glibc)
import Glibc
#endif

/// Where a poll loop is in its life: it serves, it finishes what it holds before it goes, or it
/// has gone.
public enum ZMQLoopState: Sendable, Hashable {
    /// Serving: reading its sockets and taking new work.
    case running
    /// Asked to stop: taking no new work, finishing what it holds until its drain deadline.
    case draining
    /// Done: the loop's `while` ends at the next check.
    case stopped
}

/// An item of a ``ZMQEventLoop``'s poll set, as ``ZMQEventLoop/add(_:events:)`` returned it.
public struct ZMQLoopRegistration: Hashable, Sendable {
    fileprivate let index: Int
}

/// A timer of a ``ZMQEventLoop``, as ``ZMQEventLoop/addTimer(dueAt:)`` returned it.
public struct ZMQLoopTimer: Hashable, Sendable {
    fileprivate let index: Int
}

/// The one poll loop under every MServe event loop (broker, servant, client, hub, hub watcher,
/// spoke agent): its poll set of sockets and descriptors registered by handle, its timers, its
/// mailbox, and its state. Made on the loop's thread and touched only there (checked, as
/// swift-nio's `NIOLoopBound` checks its event loop): it is not `Sendable`, and other threads
/// reach the loop only through its ``ZMQMailbox``.
///
/// ```swift
/// let loop = try ZMQEventLoop(mailbox: mailbox)
/// let socket = loop.add(routerSocket)
/// while loop.state != .stopped {
///     for command in try loop.poll(atMostMilliseconds: 1_000) { … }
///     if loop.isReadable(socket) { … }
/// }
/// ```
public final class ZMQEventLoop<Command: Sendable> {
    /// Where other threads post commands; polled with the loop's items.
    public let mailbox: ZMQMailbox<Command>
    /// Running, draining or stopped.
    public private(set) var state: ZMQLoopState = .running
    /// Until when a draining loop may finish its work (monotonic nanoseconds).
    public private(set) var drainDeadline: UInt64 = .max

    private var poller = ZMQPoller()
    /// Items added with `add`; items past them are the turn's own (see `poll`).
    private var registeredCount = 0
    private let mailboxRegistration: ZMQLoopRegistration
    private var timers: [UInt64?] = []
    private let owner = pthread_self()

    /// A loop that polls `mailbox` and whatever is added to it, on the calling thread.
    public init(mailbox: ZMQMailbox<Command>) {
        self.mailbox = mailbox
        mailboxRegistration = ZMQLoopRegistration(index: poller.add(fileDescriptor: mailbox.wakeSignal.fileDescriptor))
        registeredCount = poller.count
    }

    /// Stops the program unless called on the thread that made the loop: loop state is never
    /// touched from another thread.
    public func preconditionOnLoopThread(file: StaticString = #fileID, line: UInt = #line) {
        precondition(pthread_equal(owner, pthread_self()) != 0, "a loop's state was touched off its thread", file: file, line: line)
    }

    // MARK: poll set

    /// Polls `socket` for `events` from now on; returns its handle.
    public func add(_ socket: ZMQSocket, events: ZMQPollEvents = .readable) -> ZMQLoopRegistration {
        preconditionOnLoopThread()
        precondition(poller.count == registeredCount, "add items before the first poll")
        defer { registeredCount = poller.count }
        return ZMQLoopRegistration(index: poller.add(socket, events: events))
    }

    /// Polls a file descriptor for `events` from now on; returns its handle.
    public func add(fileDescriptor: Int32, events: ZMQPollEvents = .readable) -> ZMQLoopRegistration {
        preconditionOnLoopThread()
        precondition(poller.count == registeredCount, "add items before the first poll")
        defer { registeredCount = poller.count }
        return ZMQLoopRegistration(index: poller.add(fileDescriptor: fileDescriptor, events: events))
    }

    /// Changes what an item is polled for (``ZMQPollEvents/writable`` only while there is
    /// something to send, say).
    public func setEvents(_ events: ZMQPollEvents, for registration: ZMQLoopRegistration) {
        preconditionOnLoopThread()
        poller.setEvents(events, at: registration.index)
    }

    /// What the last poll found `registration` ready for.
    public func returnedEvents(_ registration: ZMQLoopRegistration) -> ZMQPollEvents {
        poller.returnedEvents(at: registration.index)
    }

    /// Whether the last poll found `registration` readable.
    public func isReadable(_ registration: ZMQLoopRegistration) -> Bool {
        poller.returnedEvents(at: registration.index).contains(.readable)
    }

    /// The whole poll set as last polled, for the turn's own items added by `poll`'s
    /// `turnItems` (their indices are the ones ``ZMQPoller/add(_:events:)`` returned there).
    public var pollSet: ZMQPoller { poller }

    // MARK: timers

    /// A timer, due at `dueAt` (monotonic nanoseconds; nil: not armed). The poll wakes for it.
    public func addTimer(dueAt: UInt64? = nil) -> ZMQLoopTimer {
        preconditionOnLoopThread()
        timers.append(dueAt)
        return ZMQLoopTimer(index: timers.count - 1)
    }

    /// Arms `timer` for `due` (nil disarms it).
    public func schedule(_ timer: ZMQLoopTimer, at due: UInt64?) {
        timers[timer.index] = due
    }

    /// When `timer` is due; nil when it is not armed.
    public func due(_ timer: ZMQLoopTimer) -> UInt64? { timers[timer.index] }

    /// Whether `timer` is armed and due at `now`; if so it is armed again `interval`
    /// nanoseconds after `now` (nil: left disarmed).
    public func fire(_ timer: ZMQLoopTimer, now: UInt64, thenEvery interval: UInt64?) -> Bool {
        guard let due = timers[timer.index], now >= due else { return false }
        timers[timer.index] = interval.map { now &+ $0 }
        return true
    }

    // MARK: turning

    /// The poll timeout that wakes a loop at `due` (monotonic nanoseconds) seen from `now`,
    /// rounded up to whole milliseconds so the loop wakes after it, not before: 0 when it is
    /// due, at most `atMostMilliseconds`; nil `due`: `atMostMilliseconds` (-1: forever).
    public static func pollTimeout(until due: UInt64?, now: UInt64, atMostMilliseconds: Int) -> Int {
        guard let due else { return atMostMilliseconds }
        if due <= now { return 0 }
        let milliseconds = Int(clamping: (due - now) / 1_000_000 + 1)
        return atMostMilliseconds < 0 ? milliseconds : min(milliseconds, atMostMilliseconds)
    }

    /// What the poll does around each sleep (``ZMQPoller/sleepGate``); nil: nothing.
    public var sleepGate: (any ZMQSleepGate)? {
        get { poller.sleepGate }
        set { poller.sleepGate = newValue }
    }

    /// Waits until an item is ready, a timer (or `wakeAt`) is due, or `atMostMilliseconds`
    /// pass (-1: no limit); returns the commands posted to the mailbox since the last poll.
    /// `turnItems` adds this turn's own items (connections that come and go) after the
    /// registered ones. A signal interrupting the wait counts as a turn with nothing ready.
    public func poll(
        now: UInt64, wakeAt: UInt64? = nil, atMostMilliseconds: Int,
        turnItems: (inout ZMQPoller) -> Void = { _ in }
    ) throws(ZMQError) -> [Command] {
        preconditionOnLoopThread()
        poller.truncate(to: registeredCount)
        turnItems(&poller)
        var due = wakeAt
        for timer in timers { if let timer { due = min(due ?? timer, timer) } }
        _ = try poller.poll(timeoutMilliseconds: Self.pollTimeout(until: due, now: now, atMostMilliseconds: atMostMilliseconds))
        return isReadable(mailboxRegistration) ? mailbox.takeAll() : []
    }

    // MARK: state

    /// Starts draining, with `drainTime` to finish before ``drainTimedOut(now:)`` says so;
    /// false (and nothing changes) when the loop is already draining or stopped.
    @discardableResult
    public func beginDraining(within drainTime: Duration, now: UInt64) -> Bool {
        preconditionOnLoopThread()
        guard state == .running else { return false }
        state = .draining
        let (seconds, attoseconds) = drainTime.components
        drainDeadline = now &+ UInt64(max(0, seconds)) * 1_000_000_000 &+ UInt64(max(0, attoseconds / 1_000_000_000))
        return true
    }

    /// Whether a draining loop has run past its drain deadline.
    public func drainTimedOut(now: UInt64) -> Bool { state == .draining && now >= drainDeadline }

    /// Marks the loop stopped: its `while` ends at the next check.
    public func stop() {
        preconditionOnLoopThread()
        state = .stopped
    }
}
