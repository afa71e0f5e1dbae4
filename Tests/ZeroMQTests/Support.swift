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

/// Runs an async body with a fresh context, terminating it afterwards; sockets made in the body
/// must be closed (or released) by then.
func withContext<Result>(
    isolation: isolated (any Actor)? = #isolation, _ body: (ZMQContext) async throws -> Result
) async throws -> Result {
    let context = try ZMQContext()
    defer { context.terminate() }
    return try await body(context)
}

/// Runs `body` with two sockets of a fresh context on a unique inproc endpoint: one of type
/// `bound`, bound to it, and one of type `connecting`, connected to it once `prepare` has set
/// its options. Both are closed, and the context terminated, afterwards.
func withSocketPair<Result>(
    _ bound: ZMQSocketType, _ connecting: ZMQSocketType, label: String = #function,
    prepare: (ZMQSocket) throws -> Void = { _ in },
    _ body: (_ bound: ZMQSocket, _ connecting: ZMQSocket) throws -> Result
) throws -> Result {
    try withContext { context in
        let endpoint = uniqueInprocEndpoint(label)
        let first = try ZMQSocket(context: context, type: bound)
        let second = try ZMQSocket(context: context, type: connecting)
        defer { first.close(); second.close() }
        try first.bind(endpoint)
        try prepare(second)
        try second.connect(endpoint)
        return try body(first, second)
    }
}

/// Reads monitor events until one of `kind` arrives or the receive timeout yields nothing.
func awaitEvent(_ kind: ZMQMonitorEvents, on monitor: ZMQMonitor) throws -> ZMQMonitorEvent? {
    while let event = try monitor.next() {
        if event.event == kind { return event }
    }
    return nil
}
