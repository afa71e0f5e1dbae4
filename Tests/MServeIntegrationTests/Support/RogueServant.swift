import Foundation
import MServeProtocol
import QData
import Synchronization
import ZeroMQ

/// A servant that does not play by the rules: it binds a ROUTER that welcomes anyone (a CURVE
/// server without a ZAP handler when given a key, else plain), counts every message it gets,
/// and registers itself with the hub by hand — through a hub connection made with `hubKeys`
/// (a key the hub admits), claiming `claimedKey` (nil: no key at all) as the key it serves with.
final class RogueServant: Sendable {
    /// The endpoint its ROUTER is bound to, as registered (`tcp://127.0.0.1:PORT`).
    let endpoint: String
    private let state = RogueState()

    /// Binds, registers with the hub at `hub` and keeps heartbeating until ``stop()``.
    init(hub: String, hubKeys: ZMQCurveClientKeys, serverKeys: ZMQCurveKeyPair?, service: String = "default") throws {
        let context = try ZMQContext(ioThreads: 1)
        let router = try ZMQSocket(context: context, type: .router)
        try router.setLinger(milliseconds: 0)
        if let serverKeys { try router.setCurveServer(secretKey: serverKeys.secretKey) }
        try router.bind("tcp://127.0.0.1:0")
        endpoint = try router.lastEndpoint
        let port = Int32(endpoint.split(separator: ":").last ?? "") ?? 0
        let session = UUID().uuidString
        let hubSocket = try ZMQSocket(context: context, type: .dealer)
        try hubSocket.setLinger(milliseconds: 0)
        try hubSocket.setRoutingId(Array("spoke-\(session)".utf8))
        try hubSocket.setCurveClient(hubKeys)
        try hubSocket.connect(hub)

        var registration: [(String, QValue)] = [
            ("pid", .atom(.long(Int64(getpid())))), ("port", .atom(.int(port))), ("threads", .atom(.int(1))),
            ("IP", .atom(.symbol("127.0.0.1"))), ("host", .atom(.symbol("rogue"))), ("user", .atom(.symbol("rogue"))),
            ("service", .atom(.symbol(service))), ("role", .atom(.symbol("servant"))),
            ("endpoint", .atom(.symbol(endpoint))), ("session", .atom(.symbol(session))),
        ]
        if let serverKeys { registration.append(("curveKey", .atom(.symbol(serverKeys.publicKey)))) }
        let sockets = RogueSockets(context: context, router: router, hub: hubSocket)
        let state = state
        let registrationBody = registration
        let thread = Thread {
            func hubFrames(_ command: String, _ body: [(String, QValue)]) -> [[UInt8]] {
                [Array("MSH1".utf8), Array(command.utf8), QIPC.encode(InfoDictionary.dictionary(body), messageType: .async)]
            }
            _ = try? sockets.hub.send(multipart: hubFrames("REGISTER", registrationBody))
            var poller = ZMQPoller()
            let routerIndex = poller.add(sockets.router)
            let hubIndex = poller.add(sockets.hub)
            var nextHeartbeat = Date().addingTimeInterval(0.3)
            while !state.stopping.load(ordering: .relaxed) {
                _ = try? poller.poll(timeoutMilliseconds: 50)
                if poller.returnedEvents(at: routerIndex).contains(.readable) {
                    while (try? sockets.router.receiveMultipartBytes(dontWait: true)) ?? nil != nil {
                        state.received.add(1, ordering: .relaxed)
                    }
                }
                if poller.returnedEvents(at: hubIndex).contains(.readable) {
                    while let frames = (try? sockets.hub.receiveMultipartBytes(dontWait: true)) ?? nil {
                        // A hub that does not know us (it restarted) gets the registration again.
                        if frames.count > 1, frames[1] == Array("UNKNOWN".utf8) {
                            _ = try? sockets.hub.send(multipart: hubFrames("REGISTER", registrationBody))
                        }
                    }
                }
                if Date() >= nextHeartbeat {
                    nextHeartbeat = Date().addingTimeInterval(0.3)
                    let stats: [(String, QValue)] = ["used", "heap", "peak", "rss"].map { ($0, .atom(.long(0))) }
                    _ = try? sockets.hub.send(multipart: hubFrames("HEARTBEAT", stats), dontWait: true)
                }
            }
            sockets.router.close()
            sockets.hub.close()
            sockets.context.terminate()
            state.finished.signal()
        }
        thread.name = "rogue-servant"
        thread.start()
    }

    /// Messages its ROUTER has received from anyone (a broker's HELLO, heartbeats, queries).
    var messagesReceived: Int { state.received.load(ordering: .relaxed) }

    /// Stops heartbeating and closes its sockets.
    func stop() {
        if !state.stopping.exchange(true, ordering: .relaxed) { state.finished.wait() }
    }
}

/// The rogue's sockets, handed to the one thread that uses them.
private final class RogueSockets: @unchecked Sendable {
    // @unchecked: created on the caller's thread, then used only by the rogue's thread.
    let context: ZMQContext
    let router: ZMQSocket
    let hub: ZMQSocket
    init(context: ZMQContext, router: ZMQSocket, hub: ZMQSocket) {
        self.context = context
        self.router = router
        self.hub = hub
    }
}

/// What the rogue's thread and its owner share.
private final class RogueState: Sendable {
    let received = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    let finished = DispatchSemaphore(value: 0)
}
