import ArgumentParser
import Foundation
import MServeClient
import MServeHub
import QData
import ZeroMQ

struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send a query to a broker and print its result and info dictionary.",
        discussion: """
            Example: mserve send 'proc1 `IBM'

            The broker answers two queries itself: '.mserve.status[]' (its counters) and \
            '.mserve.servants[]' (its servants: state, queries in flight, served).

            With the query `-`, queries are read from standard input, one a line (empty lines \
            skipped), sent together (up to 64 waiting at once) and printed in input order, each \
            after a `q)QUERY` line (with --quiet, the results alone, one block each). A failed \
            query is reported on standard error and the others go on; the exit status is then 1.

            Exits 1 with the error on standard error when the query fails, when no broker \
            accepts the connection within --connect-timeout, or when no reply comes within the \
            deadline. Environment: MSERVE_BROKER (the broker's client endpoint).
            """)

    @Option(name: .long, help: ArgumentHelp("The broker's client endpoint (default tcp://127.0.0.1:5570).", valueName: "endpoint"))
    var broker: String?

    @Option(name: .long, help: ArgumentHelp("Find the broker of this service through the hub (see --hub).", valueName: "name"))
    var service: String?

    @Option(name: .long, help: ArgumentHelp("The hub to ask for --service (env MSERVE_HUB, default tcp://127.0.0.1:5560).", valueName: "endpoint"))
    var hub: String?

    // `parsing: .unconditional`: `--deadline -1` is read as a value, and refused by its check.
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds to wait for the reply.", valueName: "seconds"))
    var deadline: String = "30"

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds to wait for a connection to the broker.", valueName: "seconds"))
    var connectTimeout: String = "5"

    @Flag(name: .long, help: "Print only the result, not the info dictionary.")
    var quiet = false

    /// Not ``SecurityOptions``: a client keeps no allowed list, and needs `hub.pub` only to ask
    /// the hub for a --service.
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Key directory: speak CURVE with NAME.key and pin the broker to broker.pub (see --broker-key); with --service, pin it to the key it registered, and ask the hub pinned to hub.pub, which only --service needs (env MSERVE_KEYS).",
            valueName: "path"))
    var keys: String?

    @Option(name: .long, help: ArgumentHelp("This client's key in the key directory (default: client).", valueName: "name"))
    var keyName: String?

    @Option(
        name: .long,
        help: ArgumentHelp("With --keys: the broker's key name in the key directory (default broker; with --service, the key it registered).", valueName: "name"))
    var brokerKey: String?

    @Argument(help: "The q query, e.g. proc1 `IBM (several arguments are joined with spaces); - reads queries from standard input, one a line.")
    var query: [String]

    /// Refuses bad timings before the hub is asked for a broker (with --service), and flags
    /// that would do nothing with the others given.
    func validate() throws {
        if service == nil, hub != nil {
            throw ValidationError(
                "--hub is only asked for the broker of a --service: give --service NAME with it, "
                    + "or --broker ENDPOINT alone to reach a broker directly")
        }
        if service != nil, broker != nil {
            throw ValidationError(
                "--broker and --service both say which broker to use: give --broker ENDPOINT to reach "
                    + "a broker directly, or --service NAME (with --hub) to find one through the hub")
        }
        if keyDirectory(keys) == nil {
            for (flag, value) in [("--key-name", keyName), ("--broker-key", brokerKey)] where value != nil {
                throw ValidationError(
                    "\(flag) names a key in the key directory: give --keys DIR (or MSERVE_KEYS) with it, "
                        + "or leave it out to send without security")
            }
        }
        _ = try seconds(deadline, flag: "--deadline")
        _ = try seconds(connectTimeout, flag: "--connect-timeout")
    }

    func run() async throws {
        let directory = keyDirectory(keys)
        let keyPair: ZMQCurveKeyPair?
        do {
            keyPair = try directory?.keyPair(keyName ?? SpokeRole.client)
        } catch {
            throw ValidationError("--keys: \(error)")
        }
        let endpoint: String
        var brokerPublicKey: String? = nil
        if let service {
            let hubEndpoint = HubAutoMode.connectableEndpoint(hub ?? HubLink.environmentEndpoint)
            var hubClient = HubClient(endpoint: hubEndpoint)
            if let directory, let keyPair {
                do {
                    hubClient.curve = ZMQCurveClientKeys(serverPublicKey: try directory.publicKey("hub"), keyPair: keyPair)
                } catch {
                    throw ValidationError("--keys: \(error) (--service asks the hub, pinned to hub.pub)")
                }
            }
            let brokers: [ServiceEndpoint]
            do {
                brokers = try await hubClient.resolve(service, role: SpokeRole.broker)
            } catch {
                FileHandle.standardError.write(Data("mserve send: cannot ask the hub at \(hubEndpoint): \(error)\n".utf8))
                throw ExitCode(1)
            }
            guard let first = brokers.first else {
                FileHandle.standardError.write(Data("mserve send: the hub knows no broker for service \(service)\n".utf8))
                throw ExitCode(1)
            }
            endpoint = first.endpoint
            if brokerKey == nil { brokerPublicKey = first.curveKey }
        } else {
            endpoint = broker ?? environment("MSERVE_BROKER") ?? "tcp://127.0.0.1:5570"
        }
        var configuration = ClientConfiguration()
        configuration.deadline = try seconds(deadline, flag: "--deadline")
        configuration.connectTimeout = try seconds(connectTimeout, flag: "--connect-timeout")
        if let directory, let keyPair {
            do {
                let serverKey = try brokerPublicKey ?? directory.publicKey(brokerKey ?? SpokeRole.broker)
                configuration.curve = ZMQCurveClientKeys(serverPublicKey: serverKey, keyPair: keyPair)
            } catch {
                throw ValidationError("--keys: \(error)")
            }
        }
        let client = try QueryClient(endpoint: endpoint, configuration: configuration)
        defer { client.close() }
        if query == ["-"] {
            try await sendLines(client: client)
            return
        }
        do {
            let reply = try await client.send(query.joined(separator: " "))
            print(reply.result)
            if !quiet {
                print("")
                print(reply.info)
            }
        } catch let error as ClientError {
            var text = "mserve send: \(error)"
            if let info = error.info, case .dictionary = info { text += "\n\(info)" }
            FileHandle.standardError.write(Data((text + "\n").utf8))
            throw ExitCode(1)
        }
    }

    /// Queries in flight at once when they come from standard input.
    static let linesInFlight = 64

    /// Sends every non-empty line of standard input, up to ``linesInFlight`` at once, and
    /// prints the answers in input order; throws exit status 1 when any failed.
    private func sendLines(client: QueryClient) async throws {
        var failures = 0
        try await withThrowingTaskGroup(of: (Int, String, Result<QueryReply, any Error>).self) { tasks in
            var next = 0
            var running = 0
            var waiting: [Int: (String, Result<QueryReply, any Error>)] = [:]
            var printed = 0
            func printReady() {
                while let (text, result) = waiting.removeValue(forKey: printed) {
                    printed += 1
                    switch result {
                    case .success(let reply):
                        if !quiet { print("q)\(text)") }
                        print(reply.result)
                        if !quiet {
                            print("")
                            print(reply.info)
                        }
                        print("")
                    case .failure(let error):
                        failures += 1
                        FileHandle.standardError.write(Data("mserve send: \(text): \(error)\n".utf8))
                    }
                }
            }
            while let line = readLine() {
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                if running >= Self.linesInFlight, let (index, text, result) = try await tasks.next() {
                    running -= 1
                    waiting[index] = (text, result)
                    printReady()
                }
                let index = next
                next += 1
                running += 1
                tasks.addTask {
                    do { return (index, text, .success(try await client.send(text))) } catch { return (index, text, .failure(error)) }
                }
            }
            while let (index, text, result) = try await tasks.next() {
                waiting[index] = (text, result)
                printReady()
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
