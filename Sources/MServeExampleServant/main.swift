// MServeExampleServant: the smallest useful servant written with MServeServant. It serves one
// function, `vwap`, over a small in-memory trade table, and prints its endpoint on the first
// line of standard output, as `mserve servant` does.
//
//     swift run mserve-example-servant                       # prints tcp://127.0.0.1:PORT
//     swift run mserve broker --servant tcp://127.0.0.1:PORT
//     swift run mserve-example-client 'vwap `IBM'

import Foundation
import Logging
import MServeServant
import QData
import ServiceLifecycle
import UnixSignals

/// The trades `vwap` averages over: price and size per symbol.
let trades: [String: [(price: Double, size: Int64)]] = [
    "IBM": [(91.88, 4_900), (92.10, 1_200), (91.95, 2_500)],
    "MSFT": [(410.50, 300), (411.00, 700)],
]

var functions = FunctionRegistry()
// `vwap `IBM`: the volume-weighted average price of a symbol's trades. Only registered
// functions run, and only on literal arguments: a client can send nothing else.
functions.register("vwap", arity: 1...1) { arguments in
    guard case .atom(.symbol(let symbol)) = arguments[0] else { throw ServantError("vwap: type: expected a symbol") }
    guard let fills = trades[symbol] else { throw ServantError("vwap: no trades for \(symbol)") }
    let volume = fills.reduce(0) { $0 + $1.size }
    let notional = fills.reduce(0.0) { $0 + $1.price * Double($1.size) }
    return .atom(.float(notional / Double(volume)))
}

let arguments = CommandLine.arguments.dropFirst()
let usage = "usage: mserve-example-servant [BIND-ENDPOINT]   (default tcp://127.0.0.1:0: a port the OS chooses)\n"
if arguments.first == "-h" || arguments.first == "--help" {
    print(usage, terminator: "")
    exit(0)
}
// One endpoint at most, and no options: `--bogus` is a mistake, not an endpoint to bind.
if arguments.count > 1 || arguments.first?.hasPrefix("-") == true {
    let problem = arguments.count > 1 ? "one endpoint at most" : "unknown option \(arguments.first!)"
    try? FileHandle.standardError.write(contentsOf: Data("mserve-example-servant: \(problem)\n\(usage)".utf8))
    exit(64)
}

let logger = Logger(label: "example.servant")
var configuration = ServantConfiguration()
configuration.endpoint = arguments.first ?? "tcp://127.0.0.1:0"
do {
    let servant = try Servant(configuration: configuration, functions: functions, logger: logger)
    let services = ServiceGroup(services: [servant], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await services.run() }
        // The OS chose the port: say where brokers connect.
        try? FileHandle.standardOutput.write(contentsOf: Data("\(try await servant.endpoint)\n".utf8))
        try await tasks.next()
    }
} catch {
    // A port in use, an endpoint that cannot be bound: say so, rather than crash.
    try? FileHandle.standardError.write(contentsOf: Data("mserve-example-servant: \(error)\n".utf8))
    exit(1)
}
