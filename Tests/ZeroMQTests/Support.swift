import Foundation
import ZeroMQ

/// A unique inproc endpoint, so tests can run in parallel.
func uniqueInprocEndpoint(_ label: String = #function) -> String {
    let name = label.filter { $0.isLetter || $0.isNumber }
    return "inproc://\(name)-\(UUID().uuidString)"
}

/// The port of a `tcp://host:port` endpoint.
func port(of endpoint: String) -> Int? {
    endpoint.split(separator: ":").last.flatMap { Int($0) }
}

/// Runs a body with a fresh context, terminating it afterwards; sockets made in the body must
/// be closed (or released) by then.
func withContext<Result>(_ body: (ZMQContext) throws -> Result) throws -> Result {
    let context = try ZMQContext()
    defer { context.terminate() }
    return try body(context)
}

/// Reads monitor events until one of `kind` arrives or the receive timeout yields nothing.
func awaitEvent(_ kind: ZMQMonitorEvents, on monitor: ZMQMonitor) throws -> ZMQMonitorEvent? {
    while let event = try monitor.next() {
        if event.event == kind { return event }
    }
    return nil
}
