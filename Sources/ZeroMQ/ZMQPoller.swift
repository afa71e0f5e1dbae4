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

/// A poll set over sockets and raw file descriptors (`zmq_poll`). Cheap to rebuild; polling
/// does not allocate. Owned by the thread that owns its sockets.
public struct ZMQPoller {
    private var items: [zmq_pollitem_t] = []
    /// The sockets polled, kept alive and checked for being open; nil for file descriptors.
    private var sockets: [ZMQSocket?] = []

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
                        code: .notSocket, call: "zmq_poll",
                        message: "item \(index) is a socket that was closed", file: file, line: line)
                }
            }
        }
        let count = Int32(items.count)
        let rc = items.withUnsafeMutableBufferPointer { buffer in
            zmq_poll(buffer.baseAddress, count, timeoutMilliseconds)
        }
        if rc >= 0 { return Int(rc) }
        let error = ZMQError.last(call: "zmq_poll", file: file, line: line)
        if error.code == .interrupted {
            for index in items.indices { items[index].revents = 0 }
            return 0
        }
        throw error
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
