import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// What a socket or file descriptor is ready for (ZMQ_POLLIN, ZMQ_POLLOUT, ZMQ_POLLERR).
public struct ZMQPollEvents: OptionSet, Sendable, Hashable {
    /// The `ZMQ_POLL*` bits.
    public let rawValue: Int16

    /// Events from `ZMQ_POLL*` bits.
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// A message can be received (a file descriptor is readable).
    public static let readable = ZMQPollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// A message can be sent without blocking (a file descriptor is writable).
    public static let writable = ZMQPollEvents(rawValue: Int16(ZMQ_POLLOUT))
    /// An error condition on a file descriptor.
    public static let error = ZMQPollEvents(rawValue: Int16(ZMQ_POLLERR))
}

/// What a poller does around its sleep (``ZMQPoller/sleepGate``). A loop that lets other
/// threads use one of its sockets under a lock holds that lock while it works, and lets go of
/// it only while it sleeps in `poll`, when it touches no socket.
///
/// A thread that uses the socket while the loop sleeps must leave it as the poller expects:
/// after a send it asks the socket's state (``ZMQSocket/events``), which processes every
/// command and settles the socket again, and wakes the loop if a message is waiting (the send
/// may have processed the command that signalled it).
public protocol ZMQSleepGate: AnyObject, Sendable {
    /// Called on the loop's thread just before the poller sleeps.
    func willSleep()
    /// Called on the loop's thread as soon as the poller wakes, before it asks any socket.
    func didWake()
}

/// A poll set over sockets and raw file descriptors, with `zmq_poll`'s meaning: an item is
/// reported when it is ready now, and a poll with a timeout returns nothing only once the
/// timeout has passed. Cheap to rebuild; polling does not allocate once its buffers have grown.
/// Owned by the thread that owns its sockets.
///
/// It costs fewer system calls than `zmq_poll`. `zmq_poll` asks every socket for its state
/// (`ZMQ_EVENTS`, which in libzmq is a `getpid` and a `poll` of the socket's command
/// descriptor when nothing is pending) before it sleeps and again after, for every socket,
/// ready or not. This poller asks only the sockets whose state it cannot know
/// (``ZMQSocket/isSettled``: no receive that found nothing since their last send, say), then
/// sleeps in one `poll` on the raw descriptors and the command descriptors of the settled
/// sockets (``ZMQSocket/fileDescriptor``), and afterwards asks only the sockets whose
/// descriptor fired. A settled socket's state can change only through a command, and a command
/// to a socket that has processed all of them signals its descriptor.
public struct ZMQPoller {
    private var items: [zmq_pollitem_t] = []
    /// Called around each sleep; nil: nothing.
    public var sleepGate: (any ZMQSleepGate)?
    /// The sockets polled, kept alive and checked for being open; nil for file descriptors.
    private var sockets: [ZMQSocket?] = []
    /// One poll's descriptors, and the item each stands for (kept to avoid allocating).
    private var descriptors: [pollfd] = []
    private var descriptorItems: [Int] = []

    /// An empty poll set.
    public init() {}

    /// The number of items.
    public var count: Int { items.count }

    /// Adds a socket; returns its item index.
    @discardableResult
    public mutating func add(_ socket: ZMQSocket, events: ZMQPollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: -1, events: events.rawValue, revents: 0))
        sockets.append(socket)
        return items.count - 1
    }

    /// Adds a file descriptor (e.g. ``ZMQWakeSignal/fileDescriptor``); returns its item index.
    @discardableResult
    public mutating func add(fileDescriptor: Int32, events: ZMQPollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: events.rawValue, revents: 0))
        sockets.append(nil)
        return items.count - 1
    }

    /// Changes what an item is polled for, e.g. adding ``ZMQPollEvents/writable`` only while
    /// there is something to send.
    public mutating func setEvents(_ events: ZMQPollEvents, at index: Int) {
        items[index].events = events.rawValue
    }

    /// Removes the last `count` items, keeping the storage.
    public mutating func removeLast(_ count: Int) {
        items.removeLast(count)
        sockets.removeLast(count)
    }

    /// Removes every item, keeping the storage.
    public mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
        sockets.removeAll(keepingCapacity: true)
    }

    /// Waits until an item is ready or the timeout passes (-1: forever; 0: just look).
    /// Returns the number of ready items; 0 on timeout or when a signal interrupted the wait.
    public mutating func poll(timeoutMilliseconds: Int, file: String = #fileID, line: Int = #line) throws(ZMQError) -> Int {
        for index in sockets.indices {
            if let socket = sockets[index] {
                guard let handle = socket.handle, handle == items[index].socket else {
                    throw ZMQError(
                        code: .notSocket, call: "poll",
                        message: "item \(index) is a socket that was closed", file: file, line: line)
                }
            }
        }
        let deadline = timeoutMilliseconds > 0 ? Self.nowMilliseconds() &+ timeoutMilliseconds : 0
        var timeout = timeoutMilliseconds
        while true {
            guard let ready = try pollOnce(timeoutMilliseconds: timeout, file: file, line: line) else {
                // Interrupted by a signal.
                for index in items.indices { items[index].revents = 0 }
                return 0
            }
            if ready > 0 || timeoutMilliseconds == 0 { return ready }
            // A descriptor fired for a command that left every item as it was (a peer joined,
            // a pipe can be written again): wait out the rest of the timeout, as zmq_poll does.
            if timeoutMilliseconds > 0 {
                timeout = deadline &- Self.nowMilliseconds()
                if timeout <= 0 { return 0 }
            }
        }
    }

    /// One pass: the unsettled sockets' state, then one `poll` (not sleeping if a socket is
    /// ready), then the state of the sockets whose descriptor fired. Nil when a signal
    /// interrupted the `poll`.
    private mutating func pollOnce(timeoutMilliseconds: Int, file: String, line: Int) throws(ZMQError) -> Int? {
        var ready = 0
        descriptors.removeAll(keepingCapacity: true)
        descriptorItems.removeAll(keepingCapacity: true)
        for index in items.indices {
            items[index].revents = 0
            let wanted = items[index].events
            guard let socket = sockets[index] else {
                descriptors.append(pollfd(fd: items[index].fd, events: Self.descriptorEvents(wanted), revents: 0))
                descriptorItems.append(index)
                continue
            }
            // A socket polled for nothing is left alone, its commands unprocessed.
            guard wanted & Self.socketEvents != 0 else { continue }
            if !socket.isSettled || wanted & Self.socketEvents != ZMQPollEvents.readable.rawValue {
                let revents = try socket.events.rawValue & wanted & Self.socketEvents
                if revents != 0 {
                    items[index].revents = revents
                    ready += 1
                    continue
                }
            }
            // Every command processed and nothing to report: the next command signals this.
            descriptors.append(pollfd(fd: try socket.fileDescriptor, events: Int16(POLLIN), revents: 0))
            descriptorItems.append(index)
        }
        let count = nfds_t(descriptors.count)
        let timeout = Int32(clamping: ready > 0 ? 0 : timeoutMilliseconds)
        sleepGate?.willSleep()
        let rc = descriptors.withUnsafeMutableBufferPointer { buffer in
            Glibc.poll(buffer.baseAddress, count, timeout)
        }
        let failure = rc < 0 ? ZMQError.lastCode : nil
        sleepGate?.didWake()
        if let failure {
            if failure == .interrupted { return nil }
            throw ZMQError(code: failure, call: "poll", file: file, line: line)
        }
        guard rc > 0 else { return ready }
        for position in descriptors.indices where descriptors[position].revents != 0 {
            let index = descriptorItems[position]
            let wanted = items[index].events
            let revents: Int16
            if let socket = sockets[index] {
                revents = try socket.events.rawValue & wanted & Self.socketEvents
            } else {
                revents = Self.itemEvents(descriptors[position].revents)
            }
            items[index].revents = revents
            if revents != 0 { ready += 1 }
        }
        return ready
    }

    /// The events a socket can report (`ZMQ_EVENTS`).
    private static let socketEvents = Int16(ZMQ_POLLIN | ZMQ_POLLOUT)

    /// `poll` events for an item's `ZMQ_POLL*` events on a raw descriptor.
    private static func descriptorEvents(_ events: Int16) -> Int16 {
        var result: Int16 = 0
        if events & Int16(ZMQ_POLLIN) != 0 { result |= Int16(POLLIN) }
        if events & Int16(ZMQ_POLLOUT) != 0 { result |= Int16(POLLOUT) }
        if events & Int16(ZMQ_POLLPRI) != 0 { result |= Int16(POLLPRI) }
        return result
    }

    /// An item's `ZMQ_POLL*` events for what `poll` returned on a raw descriptor, as
    /// `zmq_poll` maps them: anything but in, out and priority is an error.
    private static func itemEvents(_ returned: Int16) -> Int16 {
        var result: Int16 = 0
        if returned & Int16(POLLIN) != 0 { result |= Int16(ZMQ_POLLIN) }
        if returned & Int16(POLLOUT) != 0 { result |= Int16(ZMQ_POLLOUT) }
        if returned & Int16(POLLPRI) != 0 { result |= Int16(ZMQ_POLLPRI) }
        if returned & ~Int16(POLLIN | POLLOUT | POLLPRI) != 0 { result |= Int16(ZMQ_POLLERR) }
        return result
    }

    private static func nowMilliseconds() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return time.tv_sec * 1_000 + time.tv_nsec / 1_000_000
    }

    /// The events ready on an item after the last ``poll(timeoutMilliseconds:file:line:)``.
    public func returnedEvents(at index: Int) -> ZMQPollEvents {
        ZMQPollEvents(rawValue: items[index].revents)
    }
}

extension ZMQPoller {
    /// Removes the items past the first `count`, keeping the storage.
    public mutating func truncate(to count: Int) {
        removeLast(self.count - count)
    }
}
