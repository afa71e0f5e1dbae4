import CZeroMQ

/// Waits on several sockets and raw file descriptors at once (`zmq_poll`).
///
/// Build it once with ``add(_:events:)`` / ``add(fileDescriptor:events:)``, then call
/// ``poll(timeoutMilliseconds:)`` in the loop and read ``returnedEvents(at:)``.
public struct ZMQPoller {
    private var items: [zmq_pollitem_t] = []

    /// Creates an empty poller.
    public init() {}

    /// Watches `socket` for `events`; returns the item's index.
    @discardableResult
    public mutating func add(_ socket: ZMQSocket, events: ZMQPollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: 0, events: events.rawValue, revents: 0))
        return items.count - 1
    }

    /// Watches a raw descriptor for `events`; returns the item's index.
    @discardableResult
    public mutating func add(fileDescriptor: Int32, events: ZMQPollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: events.rawValue, revents: 0))
        return items.count - 1
    }

    /// Forgets every item.
    public mutating func removeAll() {
        items.removeAll()
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) for an item to become ready.
    /// Returns how many are ready; 0 on timeout or when a signal interrupted the wait.
    @discardableResult
    public mutating func poll(timeoutMilliseconds: Int) throws -> Int {
        for index in items.indices { items[index].revents = 0 }
        let count = Int32(items.count)
        let result = items.withUnsafeMutableBufferPointer { buffer in
            zmq_poll(buffer.baseAddress, Int32(count), timeoutMilliseconds)
        }
        if result >= 0 { return Int(result) }
        let error = ZMQError(call: "zmq_poll")
        if error.code == .interrupted { return 0 }
        throw error
    }

    /// What item `index` was ready for in the last poll.
    public func returnedEvents(at index: Int) -> ZMQPollEvents {
        ZMQPollEvents(rawValue: items[index].revents)
    }
}
