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

    @Test func closingRunsTheLastOpenedFirstAndOnlyOnce() throws {
        let scope = try ZMQContextScope()
        var order: [String] = []
        let first = try scope.socket(.dealer)
        scope.onClose { order.append("admission, \(first.isClosed ? "after" : "before") the first socket") }
        let monitorEndpoint = "inproc://scope-monitor-\(UInt64.random(in: 0...UInt64.max))"
        let second = try scope.socket(.dealer)
        try second.startMonitor(endpoint: monitorEndpoint, events: [.connected])
        let monitor = try scope.monitor(endpoint: monitorEndpoint)
        scope.onClose { order.append("last, \(monitor.socket.isClosed ? "after" : "before") the monitor") }
        scope.close()
        scope.close()
        #expect(order == ["last, before the monitor", "admission, before the first socket"])
        #expect(first.isClosed && second.isClosed && monitor.socket.isClosed)
        #expect(scope.context.isTerminated)
    }
}
