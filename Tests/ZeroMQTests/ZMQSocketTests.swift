import Foundation
import MServeTestSupport
import Testing
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

@Suite struct ZMQSocketTests {
    @Test func routerDealerMultipartRoundTripWithRoutingId() throws {
        try withSocketPair(.router, .dealer, prepare: { try $0.setRoutingId(Array("worker-1".utf8)) }) { router, dealer in
            #expect(try dealer.routingId == Array("worker-1".utf8))

            try dealer.send(multipart: [[1, 2, 3], [], Array("query".utf8)])
            let received = try #require(try router.receiveMultipartBytes())
            #expect(received == [Array("worker-1".utf8), [1, 2, 3], [], Array("query".utf8)])

            try router.send(multipart: [Array("worker-1".utf8), Array("reply".utf8), [9]])
            let reply = try #require(try dealer.receiveMultipart())
            #expect(reply.map(\.bytes) == [Array("reply".utf8), [9]])
            #expect(reply[0].more)
            #expect(!reply[1].more)
        }
    }

    @Test func routerConnectingWithConnectRoutingIdCanAddressThePeerAtOnce() throws {
        let prepareBroker = { (broker: ZMQSocket) throws in
            try broker.setRoutingId(Array("broker".utf8))
            try broker.setRouterMandatory(true)
            try broker.setConnectRoutingId(Array("servant-A".utf8))
        }
        try withSocketPair(.router, .router, prepare: prepareBroker) { servant, broker in

            // inproc connects synchronously once bound, so the peer name is known at once.
            #expect(try broker.send(multipart: [Array("servant-A".utf8), Array("hello".utf8)]))
            let atServant = try #require(try servant.receiveMultipartBytes())
            #expect(atServant == [Array("broker".utf8), Array("hello".utf8)])

            try servant.send(multipart: [Array("broker".utf8), Array("back".utf8)])
            let atBroker = try #require(try broker.receiveMultipartBytes())
            #expect(atBroker == [Array("servant-A".utf8), Array("back".utf8)])
        }
    }

    @Test func routerMandatoryReportsUnknownPeer() throws {
        try withContext { context in
            let router = try ZMQSocket(context: context, type: .router)
            defer { router.close() }
            try router.setRouterMandatory(true)
            try router.bind(uniqueInprocEndpoint())
            let error = #expect(throws: ZMQError.self) {
                try router.send(multipart: [Array("nobody".utf8), [1]])
            }
            #expect(error?.code == .hostUnreachable)
        }
    }

    @Test func bindToOSChosenPortReportsItInLastEndpoint() throws {
        try withContext { context in
            let socket = try ZMQSocket(context: context, type: .rep)
            defer { socket.close() }
            try socket.bind("tcp://127.0.0.1:0")
            let endpoint = try socket.lastEndpoint
            #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
            let chosen = try #require(port(of: endpoint))
            #expect(chosen > 0)
            try socket.unbind(endpoint)
        }
    }

    @Test func aTCPPortOutOfRangeIsRefusedNotWrapped() throws {
        try withContext { context in
            let socket = try ZMQSocket(context: context, type: .router)
            defer { socket.close() }
            for endpoint in ["tcp://127.0.0.1:70000", "tcp://127.0.0.1:-1", "tcp://127.0.0.1:http", "tcp://127.0.0.1:"] {
                let bind = #expect(throws: ZMQError.self) { try socket.bind(endpoint) }
                #expect(bind?.code == .invalidArgument, "\(endpoint)")
                #expect(bind?.reason.contains("is not a number from 0 to 65535") == true, "\(String(describing: bind))")
                #expect(throws: ZMQError.self) { try socket.connect(endpoint) }
            }
            try socket.bind("tcp://127.0.0.1:*")
            #expect(try socket.lastEndpoint.hasPrefix("tcp://127.0.0.1:"))
        }
    }

    /// An IPv6 address in brackets binds and connects (libzmq needs ZMQ_IPV6 for it), and
    /// the sockets still take IPv4 endpoints afterwards.
    @Test func anIPv6EndpointBindsAndConnects() throws {
        try withContext { context in
            let router = try ZMQSocket(context: context, type: .router)
            defer { router.close() }
            let dealer = try ZMQSocket(context: context, type: .dealer)
            defer { dealer.close() }
            try router.setReceiveTimeout(milliseconds: 10_000)
            try router.bind("tcp://[::1]:0")
            let endpoint = try router.lastEndpoint
            #expect(endpoint.hasPrefix("tcp://[::1]:"), "\(endpoint)")
            try dealer.connect(endpoint)
            try dealer.send(Array("over IPv6".utf8))
            let received = try #require(try router.receiveMultipartBytes())
            #expect(received.last == Array("over IPv6".utf8))
            try router.bind("tcp://127.0.0.1:0")
            #expect(try router.lastEndpoint.hasPrefix("tcp://127.0.0.1:"))
        }
    }

    @Test func publishSubscribeFiltersByPrefix() throws {
        let prepareSubscriber = { (subscriber: ZMQSocket) throws in
            try subscriber.subscribe(Array("quotes".utf8))
            try subscriber.setReceiveTimeout(milliseconds: 20)
        }
        try withSocketPair(.pub, .sub, prepare: prepareSubscriber) { publisher, subscriber in

            // The subscription travels asynchronously: publish until it has arrived.
            var first: [UInt8]?
            for _ in 0..<500 where first == nil {
                try publisher.send(Array("trades IBM".utf8))
                try publisher.send(Array("quotes IBM".utf8))
                first = try subscriber.receive()?.bytes
            }
            #expect(first == Array("quotes IBM".utf8))
            try subscriber.unsubscribe(Array("quotes".utf8))
        }
    }

    @Test func pairOverInproc() throws {
        try withSocketPair(.pair, .pair) { left, right in
            try left.send(Array("ping".utf8))
            #expect(try right.receive()?.string == "ping")
            try right.send(Array("pong".utf8)[1...])
            #expect(try left.receive()?.bytes == Array("ong".utf8))
            #expect(try left.receive(dontWait: true) == nil)
        }
    }

    @Test func streamSocketExchangesRawTCPBytes() async throws {
        try await withContext { context in
            let stream = try ZMQSocket(context: context, type: .stream)
            defer { stream.close() }
            try stream.bind("tcp://127.0.0.1:0")
            let serverPort = try #require(port(of: try stream.lastEndpoint))

            let client = try RawTCPConnection(port: serverPort)

            // A STREAM socket announces a new connection with an empty frame.
            let hello = try #require(try await stream.receiveFrames(within: .seconds(30)))
            #expect(hello.count == 2 && hello[1].isEmpty)
            let peer = hello[0]

            let request = Array("raw bytes".utf8)
            #expect(client.send("raw bytes"))
            var received: [UInt8] = []
            while received.count < request.count {
                let frames = try #require(try await stream.receiveFrames(within: .seconds(30)))
                #expect(frames[0] == peer)
                received += frames[1]
            }
            #expect(received == request)

            try stream.send(multipart: [peer, Array("answer".utf8)])
            #expect(await client.receive(count: 6, timeout: .seconds(10)) == Array("answer".utf8))
        }
    }

    @Test func peerAddressMetadataOnTCPMessage() throws {
        try withContext { context in
            let server = try ZMQSocket(context: context, type: .pull)
            let client = try ZMQSocket(context: context, type: .push)
            defer { server.close(); client.close() }
            try server.bind("tcp://127.0.0.1:0")
            try client.connect(try server.lastEndpoint)
            try client.send(Array("x".utf8))
            let message = try #require(try server.receive())
            #expect(message.metadata("Peer-Address") == "127.0.0.1")
            #expect(message.metadata("Socket-Type") == "PUSH")
            #expect(message.metadata("No-Such-Property") == nil)
        }
    }

    @Test func maxMessageSizeDropsOversizeMessages() async throws {
        try await withContext { context in
            let receiver = try ZMQSocket(context: context, type: .pull)
            let sender = try ZMQSocket(context: context, type: .push)
            defer { receiver.close(); sender.close() }
            try receiver.setMaxMessageSize(100)
            try receiver.bind("tcp://127.0.0.1:0")
            try sender.setReconnectInterval(milliseconds: 10, max: 0)
            try sender.connect(try receiver.lastEndpoint)

            try sender.send([UInt8](repeating: 7, count: 1000))
            #expect(try await receiver.receiveFrames(within: .milliseconds(300)) == nil)

            // The connection is dropped and remade; a small message then gets through.
            var small: [[UInt8]]?
            for _ in 0..<500 where small == nil {
                try sender.send([1, 2, 3], dontWait: true)
                small = try await receiver.receiveFrames(within: .milliseconds(20))
            }
            #expect(small == [[1, 2, 3]])
        }
    }

    @Test func closeIsIdempotentAndLaterCallsFail() throws {
        try withContext { context in
            let socket = try ZMQSocket(context: context, type: .dealer)
            socket.close()
            socket.close()
            #expect(socket.isClosed)
            let error = #expect(throws: ZMQError.self) { try socket.bind(uniqueInprocEndpoint()) }
            #expect(error?.code == .notSocket)
        }
    }

    @Test func socketKeepsItsContextAlive() throws {
        var context: ZMQContext? = try ZMQContext()
        let socket = try ZMQSocket(context: context!, type: .pair)
        weak let weakContext = context
        context = nil
        #expect(weakContext != nil)
        socket.close()
        socket.context.terminate()
    }

    @Test func optionSettersAcceptValidValues() throws {
        try withContext { context in
            let socket = try ZMQSocket(context: context, type: .router)
            defer { socket.close() }
            try socket.setRouterHandover(true)
            try socket.setProbeRouter(true)
            try socket.setSendHighWaterMark(5000)
            try socket.setReceiveHighWaterMark(5000)
            try socket.setLinger(milliseconds: 0)
            try socket.setHeartbeat(interval: 1000, timeout: 3000, ttl: 3000)
            try socket.setImmediate(true)
            try socket.setSendTimeout(milliseconds: 100)
            try socket.setTCPKeepalive(true)
            try socket.setZAPDomain("mserve")
            try socket.setIPv6(true)
            #expect(try socket.hasMoreFrames == false)
            #expect(try socket.fileDescriptor >= 0)
            #expect(!(try socket.events.contains(.readable)))
        }
    }

    @Test func sendReturnsFalseWhenItWouldBlock() throws {
        try withContext { context in
            // A DEALER with no peer cannot queue a message.
            let dealer = try ZMQSocket(context: context, type: .dealer)
            defer { dealer.close() }
            #expect(try dealer.send([1], dontWait: true) == false)
            #expect(try dealer.send(multipart: [[1], [2]], dontWait: true) == false)
            #expect(try dealer.send(ZMQMessage(bytes: [1]), dontWait: true) == false)
        }
    }

    @Test func proxyForwardsBetweenRouterAndDealerUntilContextTerminates() throws {
        let context = try ZMQContext()
        let frontendEndpoint = uniqueInprocEndpoint("front")
        let backendEndpoint = uniqueInprocEndpoint("back")
        let proxyStopped = DispatchSemaphore(value: 0)
        let bound = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { proxyStopped.signal() }
            guard let frontend = try? ZMQSocket(context: context, type: .router),
                  let backend = try? ZMQSocket(context: context, type: .dealer),
                  (try? frontend.bind(frontendEndpoint)) != nil,
                  (try? backend.bind(backendEndpoint)) != nil
            else { bound.signal(); return }
            bound.signal()
            try? ZMQ.proxy(frontend: frontend, backend: backend)
            frontend.close()
            backend.close()
        }
        thread.start()
        bound.wait()

        let client = try ZMQSocket(context: context, type: .req)
        let worker = try ZMQSocket(context: context, type: .rep)
        try client.connect(frontendEndpoint)
        try worker.connect(backendEndpoint)
        try client.send(Array("ping".utf8))
        #expect(try worker.receive()?.string == "ping")
        try worker.send(Array("pong".utf8))
        #expect(try client.receive()?.string == "pong")
        client.close()
        worker.close()

        context.terminate()
        proxyStopped.wait()
        #expect(context.isTerminated)
    }

    @Test func shutdownMakesBlockingReceiveFailWithContextTerminated() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .pull)
        context.shutdown()
        let error = #expect(throws: ZMQError.self) { try socket.receive() }
        #expect(error?.code == .contextTerminated)
        socket.close()
        context.terminate()
        context.terminate()
        let late = #expect(throws: ZMQError.self) { try ZMQSocket(context: context, type: .pair) }
        #expect(late?.code == .contextTerminated)
    }

    /// A peer that connects and never completes its handshake is closed after the handshake
    /// interval (libzmq's default would hold it 30 s).
    @Test func aPeerThatNeverGreetsIsClosedAfterTheHandshakeInterval() async throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let router = try ZMQSocket(context: context, type: .router)
        defer { router.close() }
        try router.setPeerTimeouts(handshakeMilliseconds: 300)
        #expect(try router.handshakeIntervalMilliseconds == 300)
        try router.bind("tcp://127.0.0.1:0")
        let port = try #require(port(of: try router.lastEndpoint))
        let client = try RawTCPConnection(port: port)
        // The router's greeting is read and dropped until the connection ends.
        #expect(await client.waitForClose(timeout: .seconds(5)), "the connection was still open after 5 s")
    }

    /// A socket that accepts connections from others closes dead ones with TCP keep-alives and
    /// a retransmission limit, not ZMTP heartbeats (with which libzmq 4.3.4 aborts the process
    /// when one falls due on a connection reset while its input was held back).
    @Test func peerTimeoutsCloseDeadConnectionsWithoutZMTPHeartbeats() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let router = try ZMQSocket(context: context, type: .router)
        defer { router.close() }
        try router.setPeerTimeouts()
        #expect(try router.heartbeatIntervalMilliseconds == 0)
        let settings = try router.deadPeerSettings
        #expect(settings.keepalive == 1)
        #expect(settings.idle == 2 && settings.interval == 2 && settings.probes == 4)
        #expect(settings.maximumRetransmit == 10_000)
        try router.setDeadPeerTimeout(probeMilliseconds: 1_000, silenceMilliseconds: 5_000)
        let shorter = try router.deadPeerSettings
        #expect(shorter.idle == 1 && shorter.interval == 1 && shorter.probes == 4 && shorter.maximumRetransmit == 5_000)
    }

    /// A connect attempt's timeout is set as given (it bounds TCP's SYN retries to an
    /// unreachable host).
    @Test func theConnectTimeoutIsSet() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let socket = try ZMQSocket(context: context, type: .dealer)
        defer { socket.close() }
        #expect(try socket.connectTimeoutMilliseconds == 0)
        try socket.setConnectTimeout(milliseconds: 2_000)
        #expect(try socket.connectTimeoutMilliseconds == 2_000)
    }
}
