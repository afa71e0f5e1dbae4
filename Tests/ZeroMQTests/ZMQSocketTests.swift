import Testing
import ZeroMQ

struct ZMQSocketTests {
    @Test func routerAndDealerExchangeMultipartMessagesByRoutingId() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let router = try ZMQSocket(context: context, type: .router)
        defer { router.close() }
        try router.bind("tcp://127.0.0.1:0")
        let endpoint = try router.lastEndpoint
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        #expect(Int(endpoint.split(separator: ":").last ?? "") ?? 0 > 0)

        let dealer = try ZMQSocket(context: context, type: .dealer)
        defer { dealer.close() }
        try dealer.setRoutingId(Array("client-1".utf8))
        try dealer.setReceiveTimeout(milliseconds: 5_000)
        try router.setReceiveTimeout(milliseconds: 5_000)
        try dealer.connect(endpoint)
        try dealer.send(multipart: [Array("a".utf8), Array("bc".utf8)])

        let frames = try #require(try router.receiveMultipartBytes())
        #expect(frames == [Array("client-1".utf8), Array("a".utf8), Array("bc".utf8)])
        try router.send(multipart: [Array("client-1".utf8), Array("reply".utf8)])
        #expect(try dealer.receiveMultipartBytes() == [Array("reply".utf8)])
    }

    @Test func aConnectingRouterAddressesItsPeerByTheNameItChose() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let server = try ZMQSocket(context: context, type: .router)
        defer { server.close() }
        try server.setReceiveTimeout(milliseconds: 5_000)
        try server.bind("tcp://127.0.0.1:0")
        let client = try ZMQSocket(context: context, type: .router)
        defer { client.close() }
        try client.setRoutingId(Array("broker".utf8))
        try client.setReceiveTimeout(milliseconds: 5_000)
        try client.setRouterMandatory(true)
        try client.setConnectRoutingId(Array("servant-1".utf8))
        try client.connect(try server.lastEndpoint)

        try client.send(multipart: [Array("servant-1".utf8), Array("HELLO".utf8)])
        let received = try #require(try server.receiveMultipartBytes())
        #expect(received == [Array("broker".utf8), Array("HELLO".utf8)])
        try server.send(multipart: [Array("broker".utf8), Array("READY".utf8)])
        #expect(try client.receiveMultipartBytes() == [Array("servant-1".utf8), Array("READY".utf8)])
    }

    @Test func routerMandatoryReportsAnUnknownPeer() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let router = try ZMQSocket(context: context, type: .router)
        defer { router.close() }
        try router.setRouterMandatory(true)
        #expect {
            try router.send(multipart: [Array("nobody".utf8), [1]])
        } throws: { error in
            (error as? ZMQError)?.code == .hostUnreachable
        }
    }

    @Test func errorsNameTheCallAndCarryErrno() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let socket = try ZMQSocket(context: context, type: .dealer)
        defer { socket.close() }
        do {
            try socket.bind("nonsense://x")
            Issue.record("bind succeeded")
        } catch let error as ZMQError {
            #expect(error.call == "zmq_bind(nonsense://x)")
            #expect(error.code == .protocolNotSupported)
            #expect(error.description.contains("errno"))
        }
        #expect(try socket.receive(dontWait: true) == nil)
    }

    @Test func pubSubDeliversOnlySubscribedPrefixes() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let publisher = try ZMQSocket(context: context, type: .pub)
        defer { publisher.close() }
        try publisher.bind("inproc://pubsub-test")
        let subscriber = try ZMQSocket(context: context, type: .sub)
        defer { subscriber.close() }
        try subscriber.setReceiveTimeout(milliseconds: 2_000)
        try subscriber.subscribe(Array("keep".utf8))
        try subscriber.connect("inproc://pubsub-test")
        try publisher.send(Array("drop-1".utf8))
        try publisher.send(Array("keep-2".utf8))
        #expect(try subscriber.receive()?.bytes == Array("keep-2".utf8))
    }

    @Test func pairSocketsTalkOverInproc() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let left = try ZMQSocket(context: context, type: .pair)
        defer { left.close() }
        try left.bind("inproc://pair-test")
        let right = try ZMQSocket(context: context, type: .pair)
        defer { right.close() }
        try right.connect("inproc://pair-test")
        try right.setReceiveTimeout(milliseconds: 2_000)
        try left.send([1, 2, 3], more: true)
        try left.send([4])
        let first = try #require(try right.receive())
        #expect(first.bytes == [1, 2, 3])
        #expect(first.more)
        #expect(try right.hasMoreFrames)
        #expect(try right.receive()?.bytes == [4])
    }

    @Test func aStreamSocketSeesRawTCPBytes() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let server = try ZMQSocket(context: context, type: .stream)
        defer { server.close() }
        try server.setReceiveTimeout(milliseconds: 5_000)
        try server.bind("tcp://127.0.0.1:0")
        let client = try ZMQSocket(context: context, type: .stream)
        defer { client.close() }
        try client.setReceiveTimeout(milliseconds: 5_000)
        try client.connect(try server.lastEndpoint)
        // A STREAM client gets a connect notification (routing id, empty frame) first.
        let hello = try #require(try client.receiveMultipartBytes())
        let peer = hello[0]
        try client.send(multipart: [peer, Array("raw bytes".utf8)])
        var payload: [UInt8] = []
        while payload.isEmpty {
            let frames = try #require(try server.receiveMultipartBytes())
            payload = frames[1]
        }
        #expect(payload == Array("raw bytes".utf8))
    }

    @Test func oversizeMessagesAreDroppedWithTheConnection() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let server = try ZMQSocket(context: context, type: .router)
        defer { server.close() }
        try server.setMaxMessageSize(1_000)
        try server.setReceiveTimeout(milliseconds: 500)
        try server.bind("tcp://127.0.0.1:0")
        let client = try ZMQSocket(context: context, type: .dealer)
        defer { client.close() }
        try client.connect(try server.lastEndpoint)
        try client.send([UInt8](repeating: 7, count: 5_000))
        #expect(try server.receive() == nil)
    }

    @Test func aReceivedFrameIsForwardedAndCarriesItsPeerAddress() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let server = try ZMQSocket(context: context, type: .router)
        defer { server.close() }
        try server.setReceiveTimeout(milliseconds: 5_000)
        try server.bind("tcp://127.0.0.1:0")
        let client = try ZMQSocket(context: context, type: .dealer)
        defer { client.close() }
        try client.setReceiveTimeout(milliseconds: 5_000)
        try client.connect(try server.lastEndpoint)
        try client.send(Array("ping".utf8))
        let frames = try #require(try server.receiveMultipart())
        #expect(frames[1].metadata("Peer-Address") == "127.0.0.1")
        // Echo the very frames back without copying them.
        try server.send(frames[0], more: true)
        try server.send(frames[1])
        #expect(try client.receive()?.bytes == Array("ping".utf8))
    }
}
