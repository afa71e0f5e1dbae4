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

    @Test func eventNamesDescribeTheSet() {
        #expect(ZMQMonitorEvents.accepted.description == "[accepted]")
        #expect(ZMQMonitorEvents([.connected, .disconnected]).description == "[connected, disconnected]")
        #expect(ZMQMonitorEvents.all.contains(.handshakeFailedAuth))
    }
}
