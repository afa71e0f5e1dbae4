import Testing
import ZeroMQ

@Suite struct ZMQMonitorTests {
    @Test func reportsListeningAcceptedConnectedAndDisconnected() throws {
        try withContext { context in
            let server = try ZMQSocket(context: context, type: .router)
            let client = try ZMQSocket(context: context, type: .dealer)
            let serverMonitorEndpoint = uniqueInprocEndpoint("serverMonitor")
            let clientMonitorEndpoint = uniqueInprocEndpoint("clientMonitor")
            try server.startMonitor(endpoint: serverMonitorEndpoint)
            try client.startMonitor(endpoint: clientMonitorEndpoint, events: [.connected, .disconnected])
            let serverMonitor = try ZMQMonitor(context: context, endpoint: serverMonitorEndpoint)
            let clientMonitor = try ZMQMonitor(context: context, endpoint: clientMonitorEndpoint)
            defer { server.close(); client.close(); serverMonitor.close(); clientMonitor.close() }
            try serverMonitor.socket.setReceiveTimeout(milliseconds: 5000)
            try clientMonitor.socket.setReceiveTimeout(milliseconds: 5000)

            try server.bind("tcp://127.0.0.1:0")
            let endpoint = try server.lastEndpoint
            let listening = try #require(try awaitEvent(.listening, on: serverMonitor))
            #expect(listening.endpoint == endpoint)

            try client.connect(endpoint)
            let connected = try #require(try awaitEvent(.connected, on: clientMonitor))
            #expect(connected.endpoint == endpoint)
            #expect(connected.value >= 0)
            #expect(try awaitEvent(.accepted, on: serverMonitor) != nil)

            client.close()
            #expect(try awaitEvent(.disconnected, on: serverMonitor) != nil)

            try server.stopMonitor()
            #expect(try awaitEvent(.monitorStopped, on: serverMonitor) != nil)
        }
    }

    /// A socket closed while its monitor runs lets its connections go, whether the monitor's
    /// PAIR is closed before it or after, and so do the sockets of its context closed after it
    /// (with libzmq 4.3.4 neither did until the context terminated, unless the monitor was
    /// stopped first).
    @Test(arguments: [true, false])
    func aSocketClosedWhileMonitoredLetsItsConnectionsGo(monitorClosedFirst: Bool) throws {
        let peers = try ZMQContext()
        defer { peers.terminate() }
        try withContext { context in
            /// A ROUTER bound in `context` and a DEALER of `peers` connected to it, with a monitor
            /// of the DEALER's connection events.
            func connectedPair() throws -> (bound: ZMQSocket, peer: ZMQSocket, peerEvents: ZMQMonitor) {
                let bound = try ZMQSocket(context: context, type: .router)
                try bound.bind("tcp://127.0.0.1:0")
                let peer = try ZMQSocket(context: peers, type: .dealer)
                let peerEventsEndpoint = uniqueInprocEndpoint("peerEvents")
                try peer.startMonitor(endpoint: peerEventsEndpoint, events: [.connected, .disconnected])
                let peerEvents = try ZMQMonitor(context: peers, endpoint: peerEventsEndpoint)
                try peerEvents.socket.setReceiveTimeout(milliseconds: 10_000)
                try peer.connect(try bound.lastEndpoint)
                _ = try #require(try awaitEvent(.connected, on: peerEvents))
                return (bound, peer, peerEvents)
            }
            let monitored = try connectedPair()
            let plain = try connectedPair()
            defer {
                for pair in [monitored, plain] {
                    pair.bound.close()
                    pair.peer.close()
                    pair.peerEvents.close()
                }
            }
            let monitorEndpoint = uniqueInprocEndpoint("monitored")
            try monitored.bound.startMonitor(endpoint: monitorEndpoint)
            let monitor = try ZMQMonitor(context: context, endpoint: monitorEndpoint)
            if monitorClosedFirst {
                monitor.close()
                monitored.bound.close()
            } else {
                monitored.bound.close()
                monitor.close()
            }
            #expect(try awaitEvent(.disconnected, on: monitored.peerEvents) != nil, "the monitored socket's peer")
            plain.bound.close()
            #expect(try awaitEvent(.disconnected, on: plain.peerEvents) != nil, "the peer of a socket closed after it")
        }
    }

    @Test func eventNamesDescribeTheSet() {
        #expect(ZMQMonitorEvents.accepted.description == "[accepted]")
        #expect(ZMQMonitorEvents([.connected, .disconnected]).description == "[connected, disconnected]")
        #expect(ZMQMonitorEvents.all.contains(.handshakeFailedAuth))
    }
}
