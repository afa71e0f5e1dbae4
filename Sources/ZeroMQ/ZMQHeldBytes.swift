// Counting the bytes of sent messages that libzmq still holds: a message sent to a peer that
// does not read waits in libzmq's queue for that peer, and only libzmq knows when it leaves.
// A message whose body the caller allocated (`zmq_msg_init_data`) tells it: libzmq calls the
// message's free function once its I/O thread has written the message out, or dropped it.

import CZeroMQ
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The bytes of messages sent with ``ZMQSocket/send(_:more:dontWait:countingIn:)`` that libzmq
/// still holds: queued for the peer, or being written to its connection. A message's bytes are
/// added when libzmq takes it and taken away when libzmq lets it go (written out, or dropped
/// with a peer that went), on whichever thread does.
public final class ZMQHeldBytes: Sendable {
    private let bytes = Atomic<Int>(0)
    /// The count this one is part of, which counts its bytes too (a total over many peers).
    private let whole: ZMQHeldBytes?

    /// Nothing held; the bytes counted here are counted in `whole` too, when given.
    public init(partOf whole: ZMQHeldBytes? = nil) {
        self.whole = whole
    }

    /// The bytes held now.
    public var count: Int { bytes.load(ordering: .acquiring) }

    func add(_ count: Int) {
        bytes.add(count, ordering: .releasing)
        whole?.add(count)
    }

    func subtract(_ count: Int) {
        bytes.subtract(count, ordering: .releasing)
        whole?.subtract(count)
    }
}

/// The free-function hint of a countable message (``ZMQMessage/init(countableCopyOf:)``): its
/// size, and the ``ZMQHeldBytes`` it is counted in while libzmq holds it.
final class ZMQReleaseCount: Sendable {
    let byteCount: Int
    private let heldIn = Mutex<ZMQHeldBytes?>(nil)

    init(byteCount: Int) {
        self.byteCount = byteCount
    }

    /// Counts the message in `held` (before it is handed to libzmq).
    func attach(to held: ZMQHeldBytes) {
        held.add(byteCount)
        let previous = heldIn.withLock { heldIn in
            defer { heldIn = held }
            return heldIn
        }
        previous?.subtract(byteCount)
    }

    /// Counts the message out of where it was counted: libzmq let it go, or never took it.
    func detach() {
        heldIn.withLock { heldIn in
            defer { heldIn = nil }
            return heldIn
        }?.subtract(byteCount)
    }

    /// What the free function of a countable message does: frees the body and counts it out.
    static func release(data: UnsafeMutableRawPointer?, hint: UnsafeMutableRawPointer?) {
        free(data)
        guard let hint else { return }
        Unmanaged<ZMQReleaseCount>.fromOpaque(hint).takeRetainedValue().detach()
    }
}

extension ZMQMessage {
    /// Makes the message hold a body of `count` bytes of its own allocation, whose release by
    /// libzmq is counted (``ZMQSocket/send(_:more:dontWait:countingIn:)``); returns where the
    /// body starts. Closes what the message held.
    func replaceWithCountableBody(count: Int) -> UnsafeMutableRawPointer {
        zmq_msg_close(pointer)
        guard let data = malloc(max(count, 1)) else { preconditionFailure("malloc(\(count)) failed: out of memory") }
        let releaseCount = ZMQReleaseCount(byteCount: count)
        let hint = Unmanaged.passRetained(releaseCount).toOpaque()
        let rc = zmq_msg_init_data(pointer, data, count, { data, hint in ZMQReleaseCount.release(data: data, hint: hint) }, hint)
        precondition(rc == 0, "zmq_msg_init_data(\(count)) failed")
        self.releaseCount = releaseCount
        return data
    }
}
