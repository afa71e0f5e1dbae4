import ArgumentParser
import Foundation
import MServeClient
import QData

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Bring up a broker and servants on this machine and send the quickstart queries.",
        discussion: """
            Starts SERVANTS servant processes on OS-chosen ports and a broker on a free port,
            sends `proc1 `IBM` (the mserve sequence: client → broker → dispatcher → servant →
            broker → client), prints the result table and the info dictionary, shows the
            match algorithm keeping `IBM on its servant, then stops everything.
            """)

    @Option(name: .long, help: "Servant processes to start.")
    var servants: Int = 2

    @Option(name: .long, help: "Dispatch algorithm for the broker.")
    var algorithm: String = "match"

    @Flag(name: .long, help: "Show the broker's and servants' logs.")
    var verbose = false

    @Argument(help: "Queries to send (default: proc1 `IBM, then a few more).")
    var queries: [String] = []

    func validate() throws {
        guard (1...16).contains(servants) else { throw ValidationError("--servants must be from 1 to 16") }
    }

    func run() async throws {
        var children: [ChildProcess] = []
        defer { for child in children.reversed() { child.stop() } }
        var servantEndpoints: [String] = []
        for index in 1...servants {
            let child = try ChildProcess(
                role: "servant \(index)", arguments: ["servant", "--bind", "tcp://127.0.0.1:0"], quietLogs: !verbose)
            children.append(child)
            servantEndpoints.append(try await child.endpoint())
            print("servant \(index) up at \(servantEndpoints.last!)")
        }
        let broker = try ChildProcess(
            role: "broker",
            arguments: ["broker", "--clients", "tcp://127.0.0.1:0", "--algorithm", algorithm]
                + servantEndpoints.flatMap { ["--servant", $0] },
            quietLogs: !verbose)
        children.append(broker)
        let endpoint = try await broker.endpoint()
        print("broker up at \(endpoint) (algorithm \(algorithm))\n")

        let client = try QueryClient(endpoint: endpoint)
        defer { client.close() }
        let list = queries.isEmpty ? ["proc1 `IBM", "proc1 `MSFT", "proc1 `IBM", "proc3 `AAPL"] : queries
        for (index, query) in list.enumerated() {
            print("q)send \(query)")
            do {
                let reply = try await client.send(query)
                if index == 0 || !queries.isEmpty {
                    print(reply.result)
                    print("")
                    print(reply.info)
                } else {
                    let routing = reply.routing ?? "?"
                    print("routing `\(routing) ran on \(reply.servant ?? "?")")
                    if query.hasPrefix("proc3") { print(reply.info) }
                }
            } catch {
                print("error: \(error)")
            }
            print("")
        }
    }
}
