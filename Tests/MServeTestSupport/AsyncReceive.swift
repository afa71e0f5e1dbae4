public import ZeroMQ

extension ZMQSocket {
    /// The next message within `timeout`, or nil; waited for without holding a thread of the
    /// concurrency pool (two threads on two cores, shared by every test running at once):
    /// non-blocking reads with short sleeps between them. A test that blocked a pool thread
    /// while a task of its own waited for one could stall every test running at once.
    public func receiveFrames(within timeout: Duration) async throws -> [[UInt8]]? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let frames = try receiveMultipartBytes(dontWait: true) { return frames }
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The next message's parts within `timeout`, or nil, as ``receiveFrames(within:)`` waits
    /// for them; each part keeps its metadata (`User-Id`, `Peer-Address`).
    public func receiveMessages(within timeout: Duration) async throws -> [ZMQMessage]? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let messages = try receiveMultipart(dontWait: true) { return messages }
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}
