import Testing
import ZeroMQ

struct ZMQMonitorTests {
    @Test func aMonitorReportsListeningAcceptedAndDisconnected() throws {
        let context = try ZMQContext()
        defer { context.terminate() }
        let server = try ZMQSocket(context: context, type: .router)
        defer { server.close() }
        try server.startMonitor(endpoint: "inproc://monitor-test")
        let monitor = try ZMQMonitor(context: context, endpoint: "inproc://monitor-test")
        defer { monitor.close() }
        try monitor.socket.setReceiveTimeout(milliseconds: 5_000)
        try server.bind("tcp://127.0.0.1:0")
        let endpoint = try server.lastEndpoint

        let client = try ZMQSocket(context: context, type: .dealer)
        try client.connect(endpoint)
        var seen: ZMQMonitorEvents = []
        while !seen.contains(.accepted), let event = try monitor.next() {
            seen.insert(event.event)
            if event.event == .listening { #expect(event.endpoint == endpoint) }
        }
        #expect(seen.contains(.listening))
        #expect(seen.contains(.accepted))
        client.close()
        while !seen.contains(.disconnected), let event = try monitor.next() { seen.insert(event.event) }
        #expect(seen.contains(.disconnected))
    }
}
