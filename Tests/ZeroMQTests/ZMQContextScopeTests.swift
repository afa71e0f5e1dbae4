import Testing
import ZeroMQ

@Suite struct ZMQContextScopeTests {
    struct SetupFailed: Error {}

    @Test func aFailedSetupClosesWhatItOpenedAndTerminatesTheContext() throws {
        let scope = try ZMQContextScope()
        var socket: ZMQSocket?
        var stopped = false
        #expect(throws: SetupFailed.self) {
            try scope.setUp {
                socket = try scope.socket(.router)
                scope.onClose { stopped = true }
                throw SetupFailed()
            }
        }
        #expect(socket?.isClosed == true, "closed")
        #expect(stopped)
        // It returned at all: terminating a context with a socket open would have blocked.
        #expect(scope.context.isTerminated)
    }

    @Test func closingRunsTheLastOpenedFirstMonitorsLastAndOnlyOnce() throws {
        let scope = try ZMQContextScope()
        var order: [String] = []
        var monitor: ZMQMonitor?
        let first = try scope.socket(.dealer)
        var second: ZMQSocket!
        scope.onClose {
            order.append("admission, \(first.isClosed ? "after" : "before") the first socket")
            order.append(
                "the monitor \(monitor?.socket.isClosed == false ? "still open" : "closed") with the socket it watches \(second.isClosed ? "closed" : "open")")
        }
        let monitorEndpoint = "inproc://scope-monitor-\(UInt64.random(in: 0...UInt64.max))"
        second = try scope.socket(.dealer)
        try second.startMonitor(endpoint: monitorEndpoint, events: [.connected])
        monitor = try scope.monitor(endpoint: monitorEndpoint)
        scope.onClose { [second] in order.append("last, \(second!.isClosed ? "after" : "before") the second socket") }
        scope.close()
        scope.close()
        // The monitor, opened after the admission's action, is closed after it, and after the
        // socket it watches: that socket's last events find it open.
        #expect(
            order == [
                "last, before the second socket", "admission, before the first socket",
                "the monitor still open with the socket it watches closed",
            ])
        #expect(first.isClosed && second.isClosed && monitor?.socket.isClosed == true)
        #expect(scope.context.isTerminated)
    }
}
