// How much the broker keeps for each ZeroMQ client that does not read its replies: libzmq
// queues a ROUTER's messages per peer, and holds them until the peer takes them. The broker
// counts the bytes it holds per client (ZMQHeldBytes) and drops replies beyond the bound.

import MServeProtocol
import ZeroMQ

/// The ZeroMQ clients whose replies libzmq holds or recently held, by envelope: the bytes
/// held for each and the replies dropped for it since its last log line. Owned by the loop.
struct ClientReplyBacklogs {
    /// One client's reply backlog.
    final class Client {
        /// The bytes of its replies libzmq holds (queued, or being written to it).
        let held: ZMQHeldBytes
        init(total: ZMQHeldBytes) { held = ZMQHeldBytes(partOf: total) }
        /// Replies dropped for it since its last "dropped replies" line, and their bytes.
        var droppedSinceLine = 0
        var droppedBytesSinceLine = 0
        /// When its next "dropped replies" line may be logged (monotonic nanoseconds).
        var nextLineAt: UInt64 = 0
        /// Whether it may be forgotten: nothing held, nothing dropped left unlogged.
        var isIdle: Bool { held.count == 0 && droppedSinceLine == 0 }
    }

    /// How many clients are kept before the idle ones are forgotten.
    static let clientsKeptBeforeSweep = 4_096

    private var clients: [[[UInt8]]: Client] = [:]

    /// The bytes libzmq holds for all the clients together.
    let total = ZMQHeldBytes()

    /// The number of clients known now.
    var count: Int { clients.count }

    /// The backlog of the client with `envelope`, made when new.
    mutating func client(for envelope: [[UInt8]]) -> Client {
        if let client = clients[envelope] { return client }
        if clients.count >= Self.clientsKeptBeforeSweep { forgetIdleClients() }
        let client = Client(total: total)
        clients[envelope] = client
        return client
    }

    /// Forgets the clients with nothing held and nothing left to log.
    mutating func forgetIdleClients() {
        clients = clients.filter { !$0.value.isIdle }
    }

    /// Calls `body` with each client that has dropped replies not yet logged.
    func forEachWithUnloggedDrops(_ body: ([[UInt8]], Client) -> Void) {
        for (envelope, client) in clients where client.droppedSinceLine > 0 { body(envelope, client) }
    }
}
