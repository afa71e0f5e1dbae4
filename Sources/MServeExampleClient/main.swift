// MServeExampleClient: the smallest client written with MServeClient. It sends one query to a
// broker and prints the result and the info dictionary that comes back with it.
//
//     swift run mserve-example-client 'vwap `IBM' [tcp://127.0.0.1:5570]

import Foundation
import MServeClient

let arguments = CommandLine.arguments.dropFirst()
let usage = "usage: mserve-example-client QUERY [BROKER-ENDPOINT]   (default broker tcp://127.0.0.1:5570)\n"
if arguments.first == "-h" || arguments.first == "--help" {
    print(usage, terminator: "")
    exit(0)
}
guard let query = arguments.first, arguments.count <= 2 else {
    try? FileHandle.standardError.write(contentsOf: Data(usage.utf8))
    exit(64)
}
let broker = arguments.dropFirst().first ?? "tcp://127.0.0.1:5570"

var configuration = ClientConfiguration()
configuration.deadline = .seconds(10)
configuration.connectTimeout = .seconds(5)  // fail fast if no broker is there
do {
    let client = try QueryClient(endpoint: broker, configuration: configuration)
    defer { client.close() }
    let reply = try await client.send(query)
    print(reply.result)
    for (key, value) in reply.infoEntries { print("\(key): \(value)") }
} catch {
    try? FileHandle.standardError.write(contentsOf: Data("\(query): \(error)\n".utf8))
    exit(1)
}
