@testable import MServeBroker
import MServeProtocol
import MServeServant
import MServeTestSupport
import MServeTesting
import QData
import Testing
import ZeroMQ

/// Every reply goes back to the client that asked, whatever its envelope: libzmq's own short
/// routing ids (which the broker keeps made once per client), a long chosen routing id, and
/// frames a client puts in front of its message.
struct ClientEnvelopeTests {
    /// A one-frame envelope is kept by a key made from its routing id: ids that differ, in a
    /// byte or in length alone, never share a key; an id over 7 bytes has none.
    @Test func routingIDsOfUpToSevenBytesHaveKeysOfTheirOwn() {
        let ids: [[UInt8]] = [[], [0], [0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [1, 0, 0, 0, 0], [9, 9], [255, 255, 255, 255, 255, 255, 255]]
        let keys = ids.map { id in BrokerLoop.envelopeKey(id.span) }
        #expect(keys.allSatisfy { $0 != nil })
        #expect(Set(keys.compactMap { $0 }).count == ids.count)
        #expect(BrokerLoop.envelopeKey([UInt8](repeating: 0, count: 8).span) == nil)
    }

    @Test func repliesReachTheirOwnClientWithTheirOwnEnvelope() async throws {
        try await LocalCluster.run(functions: DemoFunctions.registry(), servants: 2) { cluster in
            let context = try ZMQContext()
            defer { context.terminate() }
            var clients: [(socket: ZMQSocket, prefix: [[UInt8]])] = []
            for index in 0..<4 {
                let socket = try ZMQSocket(context: context, type: .dealer)
                try socket.setLinger(milliseconds: 0)
                switch index {
                case 1: try socket.setRoutingId(Array("a-client-with-a-long-routing-id".utf8))
                case 2: try socket.setRoutingId([9, 9])
                default: break
                }
                try socket.connect(cluster.brokerEndpoint)
                clients.append((socket, index == 3 ? [Array("tag".utf8), []] : []))
            }
            defer { clients.forEach { $0.socket.close() } }
            // Interleaved: client c asks for ids c*1000+1 … c*1000+25.
            for n in 1...25 {
                for (index, client) in clients.enumerated() {
                    let id = Int64(index * 1_000 + n)
                    let message = QIPC.encode(.list([.atom(.long(id)), .string("echo `s\(n)")]), messageType: .async)
                    try client.socket.send(multipart: client.prefix + [message])
                }
            }
            for (index, client) in clients.enumerated() {
                var ids: Set<Int64> = []
                for _ in 1...25 {
                    let frames = try #require(try await client.socket.receiveFrames(within: .seconds(10)))
                    #expect(Array(frames.dropLast()) == client.prefix)
                    guard case .list(let items, _) = try QIPC.decode(frames[frames.count - 1]).value,
                        case .atom(.long(let id)) = items.first
                    else {
                        Issue.record("client \(index): expected (id; result; info)")
                        continue
                    }
                    ids.insert(id)
                }
                #expect(ids == Set((1...25).map { Int64(index * 1_000 + $0) }), "client \(index)")
            }
        }
    }

    /// A message with more frames in front of its query than a client's envelope may have, or
    /// more bytes in them, is dropped and logged: each would be echoed, held for a client
    /// that may never read. One within the limits is answered with all of them.
    @Test func anEnvelopeOverTheLimitsIsDroppedAndLogged() async throws {
        let log = LogRecorder()
        try await LocalCluster.run(functions: DemoFunctions.registry(), servants: 1, logger: log.logger(label: "test")) { cluster in
            let context = try ZMQContext()
            defer { context.terminate() }
            let socket = try ZMQSocket(context: context, type: .dealer)
            defer { socket.close() }
            try socket.setLinger(milliseconds: 0)
            try socket.connect(cluster.brokerEndpoint)
            func query(_ id: Int64) -> [UInt8] {
                QIPC.encode(.list([.atom(.long(id)), .string("echo 1")]), messageType: .async)
            }
            // The routing id is one of the frames in front of the query.
            let tooMany = [[UInt8]](repeating: [], count: ClientEnvelope.maximumFrames)
            try socket.send(multipart: tooMany + [query(1)])
            let tooLarge = [[UInt8](repeating: 1, count: ClientEnvelope.maximumBytes)]
            try socket.send(multipart: tooLarge + [query(2)])
            let most = [[UInt8]](repeating: [7], count: ClientEnvelope.maximumFrames - 1)
            try socket.send(multipart: most + [query(3)])
            let frames = try #require(try await socket.receiveFrames(within: .seconds(10)))
            #expect(Array(frames.dropLast()) == most)
            guard case .list(let items, _) = try QIPC.decode(frames[frames.count - 1]).value else {
                Issue.record("expected (id; result; info)")
                return
            }
            #expect(items.first == .atom(.long(3)), "only the query within the limits is answered")
            // The routing id makes the 33rd frame. (The next refusal's line is held back: at
            // most one such line a second.)
            #expect(log.messages.contains("dropped a client message with 33 frames in front of its query (at most 32 are taken)"))
        }
    }
}

/// A client that chose its own routing id and connects again under it takes its connection
/// over at once, with the replies still due to it: before, a connection made while the broker
/// still held the old one was ignored by libzmq's ROUTER for good (its queries never read,
/// never answered), which happened whenever queries of the old connection were still queued.
struct ClientReconnectionTests {
    @Test func aClientConnectingAgainUnderItsOwnRoutingIDIsAnsweredOnTheNewConnection() async throws {
        try await LocalCluster.run(functions: DemoFunctions.registry(), servants: 2) { cluster in
            let context = try ZMQContext()
            defer { context.terminate() }
            let id = Array("a-client-that-comes-back".utf8)
            func connect() throws -> ZMQSocket {
                let socket = try ZMQSocket(context: context, type: .dealer)
                try socket.setLinger(milliseconds: 0)
                try socket.setRoutingId(id)
                try socket.connect(cluster.brokerEndpoint)
                return socket
            }
            // More queries than the servants run at once: some wait in the broker's queue.
            let first = try connect()
            for n in 0..<8 {
                try first.send(QIPC.encode(.list([.atom(.long(Int64(100 + n))), .string("sleep 300")]), messageType: .async))
            }
            await idle(for: .milliseconds(50))
            first.close()
            let again = try connect()
            defer { again.close() }
            try again.send(QIPC.encode(.list([.atom(.long(2000)), .string("echo 7")]), messageType: .async))
            var answered: [Int64] = []
            while !answered.contains(2000), let frames = try await again.receiveFrames(within: .seconds(30)) {
                guard let message = frames.last, case .list(let items, _) = try QIPC.decode(message).value,
                    case .atom(.long(let answer)) = items.first
                else { continue }
                answered.append(answer)
            }
            #expect(answered.contains(2000), "answers on the new connection: \(answered)")
        }
    }
}
