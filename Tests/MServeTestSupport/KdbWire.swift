// Raw kdb+ IPC bytes over a TCP socket, for tests that speak to the broker's kdb+ door as a
// q session would, byte for byte.

import POSIXSockets

/// Reads and writes on a non-blocking TCP socket (``POSIXSockets/TCPSocket``) for tests of the
/// kdb+ door: a write that waits for room, a read that waits for a count of bytes.
public enum KdbWire {
    /// Reads until `count` bytes have come, the peer closed, or 30 s passed.
    public static func read(_ descriptor: Int32, count: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        let giveUp = ContinuousClock.now + .seconds(30)
        while bytes.count < count, ContinuousClock.now < giveUp {
            if case .closed = TCPSocket.read(descriptor, into: &bytes, limit: count - bytes.count) { break }
            if bytes.count < count { try await Task.sleep(for: .milliseconds(5)) }
        }
        return bytes
    }

    /// Writes all of `bytes`, waiting for room as it goes; stops if the socket fails.
    public static func write(_ descriptor: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count, let written = TCPSocket.write(descriptor, bytes, from: offset) {
            offset += written
            if written == 0 { TCPSocket.waitWritable(descriptor, milliseconds: 100) }
        }
    }
}
