import ArgumentParser
import Foundation
import MServeBroker
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
            query's block holds its error as q prints one ('text) and the others go on; the exit \
            status is then 1, and standard error names the input lines that failed.

            Exits 1 with the error on standard error when the query fails, when no broker \
            accepts the connection within --connect-timeout, when no reply comes within the \
            deadline, or when the answers cannot be written to standard output (a full disk, a \
            closed pipe).

            Environment (flags win): MSERVE_BROKER (the broker's client endpoint), MSERVE_HUB \
            (the hub asked for --service), MSERVE_KEYS.
            """)

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The broker's client endpoint (env MSERVE_BROKER, default \(BrokerConfiguration.Clients.defaultEndpoint)).", valueName: "endpoint"))
    var broker: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Find the broker of this service through the hub (see --hub).", valueName: "name"))
    var service: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The hub to ask for --service (env MSERVE_HUB, default \(HubLink.defaultEndpoint)).", valueName: "endpoint"))
    var hub: String?

    // `parsing: .unconditional`: `--deadline -1` is read as a value, and refused by its check.
    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "The query's deadline in seconds, 0.001 to 31536000 (a year), sent to the broker as its deadline option (capped by the broker's --deadline); without it, the broker's deadline applies and the reply is waited for 30 s.",
            valueName: "seconds"))
    var deadline: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds to wait for a connection to the broker.", valueName: "seconds"))
    var connectTimeout: String = "5"

    @Flag(name: .long, help: "Print only the result, not the info dictionary (a failed query: only its error line).")
    var quiet = false

    /// Not ``SecurityOptions``: a client keeps no allowed list, and needs `hub.pub` only to ask
    /// the hub for a --service.
    @Option(
        name: .long,
        parsing: .unconditional,
        help: ArgumentHelp(
            "Key directory: speak CURVE with NAME.key and pin the broker to broker.pub (see --broker-key); with --service, pin it to the key it registered, and ask the hub pinned to hub.pub, which only --service needs (env MSERVE_KEYS).",
            valueName: "path"))
    var keys: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("This client's key in the key directory (default: client).", valueName: "name"))
    var keyName: String?

    @Option(
        name: .long,
        parsing: .unconditional,
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
        if let service { try checkServiceName(service) }
        if keyDirectory(keys) == nil {
            for (flag, value) in [("--key-name", keyName), ("--broker-key", brokerKey)] where value != nil {
                throw ValidationError(
                    "\(flag) names a key in the key directory: give --keys DIR (or MSERVE_KEYS) with it, "
                        + "or leave it out to send without security")
            }
        }
        if query.count > 1, query.contains("-") {
            throw ValidationError(
                "- reads the queries from standard input and takes no other query argument; "
                    + "quote a query that starts with a minus sign ('-1+2')")
        }
        if let deadline { _ = try seconds(deadline, flag: "--deadline") }
        _ = try seconds(connectTimeout, flag: "--connect-timeout")
        // A broker's client endpoint: a usage error when it cannot be one, not a failed send.
        if service == nil {
            let (source, given) = broker.map { ("--broker", $0) } ?? ("MSERVE_BROKER", environment("MSERVE_BROKER"))
            if let given { try checkConnectEndpoint(given, source: source, kind: "a broker's client endpoint") }
        }
        // The hub --service asks, likewise.
        if service != nil {
            let checkHub = { try checkConnectEndpoint($0, source: $1, kind: "a hub endpoint", hub: true) }
            if let hub { try checkHub(hub, "--hub") } else { _ = try HubEnvironment.checkedEndpoint(checkHub) }
        }
        if service != nil, hub == nil, HubEnvironment.setting == "none" {
            throw ValidationError(
                "--service asks the hub for a broker, but MSERVE_HUB=none says there is none: give --hub ENDPOINT, "
                    + "or --broker ENDPOINT to reach a broker directly")
        }
    }

    func run() async throws {
        let directory = keyDirectory(keys)
        let keyPair: ZMQCurveKeyPair?
        do {
            keyPair = try directory?.keyPair(keyName ?? SpokeRole.client)
        } catch {
            throw ValidationError("\(keyDirectorySource(keys)): \(error)")
        }
        let endpoint: String
        var brokerPublicKey: String? = nil
        if let service {
            let hubEndpoint = HubAutoMode.connectableEndpoint(hub ?? HubEnvironment.endpoint)
            var hubClient = HubClient(endpoint: hubEndpoint)
            if let directory, let keyPair {
                do {
                    hubClient.curve = ZMQCurveClientKeys(serverPublicKey: try directory.publicKey("hub"), keyPair: keyPair)
                } catch {
                    throw ValidationError("\(keyDirectorySource(keys)): \(error) (--service asks the hub, pinned to hub.pub)")
                }
            }
            let brokers: [ServiceEndpoint]
            do {
                brokers = try await hubClient.resolve(service, role: SpokeRole.broker)
            } catch {
                FileHandle.standardError.writeIgnoringFailure(
                    Data("mserve send: cannot ask the hub at \(hubEndpoint): \(QValue.consoleText("\(error)"))\n".utf8))
                throw ExitCode(1)
            }
            guard let first = brokers.first else {
                FileHandle.standardError.writeIgnoringFailure(Data("mserve send: the hub knows no broker for service \(service)\n".utf8))
                throw ExitCode(1)
            }
            endpoint = first.endpoint
            if brokerKey == nil { brokerPublicKey = first.curveKey }
        } else {
            endpoint = broker ?? environment("MSERVE_BROKER") ?? BrokerConfiguration.Clients.defaultEndpoint
        }
        var configuration = ClientConfiguration()
        // With --deadline the client waits for the broker's answer that long and a grace
        // (QueryClient.send(query:deadline:)), which its error then names; without it, 30 s.
        let queryDeadline = try deadline.map { try seconds($0, flag: "--deadline") }
        configuration.deadline = queryDeadline.map { $0 + QueryClient.deadlineGrace } ?? .seconds(30)
        configuration.connectTimeout = try seconds(connectTimeout, flag: "--connect-timeout")
        if let directory, let keyPair {
            do {
                let serverKey = try brokerPublicKey ?? directory.publicKey(brokerKey ?? SpokeRole.broker)
                configuration.curve = ZMQCurveClientKeys(serverPublicKey: serverKey, keyPair: keyPair)
            } catch {
                throw ValidationError("\(keyDirectorySource(keys)): \(error)")
            }
        }
        let client = try QueryClient(endpoint: endpoint, configuration: configuration)
        defer { client.close() }
        if query == ["-"] {
            try await sendLines(client: client, deadline: queryDeadline)
            return
        }
        do {
            let reply = try await client.send(query.joined(separator: " "), deadline: queryDeadline)
            print(reply.result)
            if !quiet {
                print("")
                print(reply.info)
            }
            try Self.checkAnswersWritten()
        } catch let error as ClientError {
            // The error's text may be a servant's or the broker's: escaped, as the values are.
            var text = "mserve send: \(QValue.consoleText("\(error)"))"
            if !quiet, let info = error.info, case .dictionary = info { text += "\n\(info)" }
            FileHandle.standardError.writeIgnoringFailure(Data((text + "\n").utf8))
            throw ExitCode(1)
        }
    }

    /// Queries in flight at once when they come from standard input.
    static let linesInFlight = 64

    /// Throws exit status 1, saying why on standard error, when the answers printed did not
    /// all reach standard output (a full disk, a pipe whose reader is gone): they would be
    /// lost without a sign, the command exiting 0.
    static func checkAnswersWritten() throws {
        errno = 0
        // Every stream (Swift 6 does not let `stdout` be named): standard error is unbuffered.
        guard fflush(nil) != 0 else { return }
        let reason = errno == 0 ? "a write failed" : String(cString: strerror(errno))
        FileHandle.standardError.writeIgnoringFailure(
            Data("mserve send: cannot write the answers to standard output: \(reason)\n".utf8))
        throw ExitCode(1)
    }

    /// Sends every non-empty line of standard input, up to ``linesInFlight`` at once, and
    /// prints the answers in input order; throws exit status 1 when any failed.
    ///
    /// Only this task touches the printing state (``LineAnswers``): a child task sends one
    /// query and returns its answer, nothing more. A child builds its result only after its
    /// `await`: Swift 6.3's optimizer loses the part of a returned tuple written before a
    /// suspension (swiftlang/swift#91911), so `return (index, text, try await …)` hands the
    /// group garbage in a release build.
    private func sendLines(client: QueryClient, deadline: Duration?) async throws {
        let quiet = quiet
        let failures = try await withThrowingTaskGroup(of: LineAnswer.self, returning: [Int].self) { tasks in
            var answers = LineAnswers(quiet: quiet)
            var sent = 0
            var lineNumber = 0
            while let line = readLine() {
                lineNumber += 1
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                if sent - answers.received >= Self.linesInFlight, let answer = try await tasks.next() {
                    answers.add(answer)
                }
                let index = sent
                let inputLine = lineNumber
                sent += 1
                tasks.addTask {
                    let result: Result<QueryReply, any Error>
                    do {
                        result = .success(try await client.send(text, deadline: deadline))
                    } catch {
                        result = .failure(error)
                    }
                    return LineAnswer(index: index, line: inputLine, query: text, result: result)
                }
            }
            while let answer = try await tasks.next() {
                answers.add(answer)
            }
            return answers.failedLines
        }
        // Flushed first: the results come before the failures when both streams go to one file.
        try Self.checkAnswersWritten()
        guard failures.isEmpty else {
            let lines = failures.prefix(20).map(String.init).joined(separator: ", ") + (failures.count > 20 ? ", …" : "")
            FileHandle.standardError.writeIgnoringFailure(
                Data("mserve send: \(failures.count) \(failures.count == 1 ? "query" : "queries") failed, on input line\(failures.count == 1 ? "" : "s") \(lines)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// One answer of `mserve send -`: the query `index` (counting non-empty lines from 0), on
/// input line `line` (counting every line from 1), and its reply or error.
struct LineAnswer: Sendable {
    var index: Int
    var line: Int
    var query: String
    var result: Result<QueryReply, any Error>
}

/// Prints the answers of `mserve send -` in input order as they come in, in any order: each
/// waits here until those of the lines before it are printed. Every query has its block on
/// standard output, a failed one with its error as q prints one (`'text`), so that the output
/// keeps its place; the caller names the failed lines on standard error at the end. A value
/// owned by one task; nothing else reads or writes it.
struct LineAnswers {
    /// Results only (`--quiet`): no `q)QUERY` line, no info dictionary.
    let quiet: Bool
    /// Answers received, printed or waiting.
    private(set) var received = 0
    /// The input lines of the failed queries so far, in input order.
    private(set) var failedLines: [Int] = []
    private var printed = 0
    private var waiting: [Int: LineAnswer] = [:]

    init(quiet: Bool) { self.quiet = quiet }

    /// Takes an answer and prints every answer now next in input order.
    mutating func add(_ answer: LineAnswer) {
        received += 1
        waiting[answer.index] = answer
        while let next = waiting.removeValue(forKey: printed) {
            printed += 1
            if !quiet { print("q)\(Self.shown(next.query))") }
            switch next.result {
            case .success(let reply):
                print(reply.result)
                if !quiet {
                    print("")
                    print(reply.info)
                }
            case .failure(let error):
                failedLines.append(next.line)
                print(Self.errorLine(error))
                if !quiet, let error = error as? ClientError, let info = error.info, case .dictionary = info {
                    print("")
                    print(info)
                }
            }
            print("")
        }
    }

    /// A failed query's error as q shows a signal, `'text`: a broker's or servant's error is
    /// already in that form (``ClientError``'s description), the client's own is given it. Its
    /// control characters are escaped (``QValue/consoleText(_:)``), as a reply's values are.
    static func errorLine(_ error: any Error) -> String {
        let text = QValue.consoleText("\(error)")
        return text.hasPrefix("'") ? text : "'\(text)"
    }

    /// The most characters of a query its `q)` line shows.
    static let longestShownQuery = 4_096

    /// A query as its `q)` line shows it: whole up to ``longestShownQuery`` characters, else
    /// its beginning and how long it is (a 64 MiB query refused for its size is not printed back).
    static func shown(_ query: String) -> String {
        guard query.count > longestShownQuery else { return query }
        return "\(query.prefix(longestShownQuery))… (\(query.utf8.count) bytes)"
    }
}
