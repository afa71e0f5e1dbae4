// MServeCLI owns the `mserve` command: broker, servant, send, demo and version,
// with environment variables (MSERVE_*) as defaults that command-line flags override.

import ArgumentParser
import CCloseOnExec
import Foundation
import Logging
import MServeMonitoring
import MServeProtocol
import ServiceLifecycle
import Synchronization
import ZeroMQ

@main
struct MServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mserve",
        abstract: "MServe: a load balancer for q queries over ZeroMQ.",
        discussion: """
            Clients send (id; query) to a broker; the broker derives a routing string from the \
            query, picks a servant with a dispatch algorithm plugin, and returns (id; result; info). \
            Try `mserve demo` for the whole sequence on this machine.
            """,
        version: "mserve \(MServeVersion.current) (libzmq \(ZMQ.version.major).\(ZMQ.version.minor).\(ZMQ.version.patch))",
        subcommands: [
            DemoCommand.self, BrokerCommand.self, MServeServantCommand.self, SendCommand.self, MServeHubCommand.self,
            KeysCommand.self, VersionCommand.self,
        ]
    )

    /// Parses and runs the command line. A usage error from a subcommand's run (a bad option
    /// value found while building its configuration) points at that subcommand's help, not the
    /// top-level one; any other error is reported alone.
    static func main() async {
        // First of all, so that a SIGTERM or SIGINT that comes while a long-running command is
        // still starting stops it cleanly once it runs, as a later one does (`StopSignals`).
        StopSignals.install()
        // A log line or an endpoint line written to a pipe whose reader is gone fails with
        // EPIPE, not a signal that kills the process without a word (libzmq never raises it).
        signal(SIGPIPE, SIG_IGN)
        // Every subcommand logs through this handler, the libraries' own loggers (a client's,
        // a hub client's) too: log lines quote what peers send, and escaped, none of it can
        // start a line of its own. The level is the one the command set (`LoggingOptions`),
        // else MSERVE_LOG_LEVEL, else info.
        LoggingSystem.bootstrap { label in
            var handler = OneLineLogHandler(wrapping: StandardErrorLogHandler(label: label))
            handler.logLevel = LoggingOptions.processLevel.withLock { $0 }
            return handler
        }
        if let message = unknownHelpTopic(CommandLine.arguments.dropFirst()) {
            FileHandle.standardError.writeIgnoringFailure(Data("Error: \(message)\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        if let (message, path) = unknownSubcommand(CommandLine.arguments.dropFirst()) {
            FileHandle.standardError.writeIgnoringFailure(Data("Error: \(message)\nSee '\(path) --help' for more information.\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        if let message = blankValue(CommandLine.arguments.dropFirst()) {
            let path = (["mserve"] + subcommandPath(CommandLine.arguments.dropFirst())).joined(separator: " ")
            FileHandle.standardError.writeIgnoringFailure(Data("Error: \(message)\nSee '\(path) --help' for more information.\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if StopSignals.stopsCommand(type(of: command)) {
                try StopSignals.stopWithParent()
            } else {
                StopSignals.restoreDefault()
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // `--help`, `--version` and `mserve help …` end here too: they print as
            // ArgumentParser prints them, on standard output, with status 0.
            let exitCode = MServeCommand.exitCode(for: error)
            if exitCode == .success { exit(withError: error) }
            let message = MServeCommand.message(for: error)
            if !message.isEmpty {
                var text = "Error: \(message)\n"
                // The help answers a usage error; a runtime failure (a port in use, a hub that
                // does not answer) is not one, and the help would only bury its reason.
                if exitCode == .validationFailure {
                    let path = (["mserve"] + subcommandPath(CommandLine.arguments.dropFirst())).joined(separator: " ")
                    text += "See '\(path) --help' for more information.\n"
                }
                FileHandle.standardError.writeIgnoringFailure(Data(text.utf8))
            }
            Foundation.exit(exitCode.rawValue)
        }
    }

    /// For `mserve help WORDS…`, why the words name no command: the first that is no
    /// subcommand of the one before, with the subcommands it could have been (or that it has
    /// none: `mserve help broker bogus`). ArgumentParser
    /// would print the nearest help it found and exit 0, as if the word had been understood.
    /// `help` first names the help command itself (`mserve help help` prints its help), which
    /// has no subcommands.
    static func unknownHelpTopic(_ arguments: ArraySlice<String>) -> String? {
        guard arguments.first == "help" else { return nil }
        let words = arguments.dropFirst().filter { !$0.hasPrefix("-") }
        if words.first == "help" {
            guard let word = words.dropFirst().first else { return nil }
            return "mserve help has no subcommand '\(word)': it has no subcommands"
        }
        let walk = SubcommandWalk(words)
        guard walk.names.count < words.count else { return nil }
        let word = words[walk.names.count]
        let path = walk.path.joined(separator: " ")
        let subcommands = walk.command.configuration.subcommands
        if subcommands.isEmpty { return "\(path) has no subcommand '\(word)': it has no subcommands" }
        let names = subcommands.compactMap { $0.configuration.commandName }
        let owner = walk.names.isEmpty ? "an mserve subcommand" : "a subcommand of \(path)"
        return "'\(word)' is not \(owner) (subcommands: \(names.joined(separator: ", ")))"
    }

    /// For a command line whose word after a command with subcommands names none of them
    /// (`mserve brokr`, `mserve keys neww`, `mserve hub spoke --help`): the error, saying which
    /// subcommands there are and the closest one, and the command whose help to see. Left to
    /// the parser, such a word was an "unexpected argument", and with `--help` after it the
    /// parser printed the help of the command before it, with status 0.
    static func unknownSubcommand(_ arguments: ArraySlice<String>) -> (message: String, path: String)? {
        guard arguments.first != "help" else { return nil }  // unknownHelpTopic's
        let walk = SubcommandWalk(arguments)
        let subcommands = walk.command.configuration.subcommands
        guard let word = arguments.dropFirst(walk.names.count).first, !word.hasPrefix("-"), !subcommands.isEmpty else { return nil }
        let names = subcommands.compactMap { $0.configuration.commandName }
        let hasDefault = walk.command.configuration.defaultSubcommand != nil
        return (unknownSubcommandMessage(word, of: walk.path, names: names, hasDefault: hasDefault), walk.path.joined(separator: " "))
    }

    /// `'WORD' is not a subcommand of PATH; did you mean 'NAME'? (subcommands: …)`, the closest
    /// name offered when one is near (a prefix either way, or at most two letters apart).
    static func unknownSubcommandMessage(_ word: String, of path: [String], names: [String], hasDefault: Bool) -> String {
        let owner = path.count == 1 ? "an mserve subcommand" : path == ["mserve", "hub"] ? "a hub subcommand" : "a subcommand of \(path.joined(separator: " "))"
        var message = "'\(word)' is not \(owner)"
        if let close = names.first(where: { $0.hasPrefix(word) || word.hasPrefix($0) })
            ?? names.first(where: { editDistance($0, word) <= 2 })
        {
            message += "; did you mean '\(close)'?"
        }
        message += " (subcommands: \(names.joined(separator: ", "))"
        if hasDefault {
            message += path == ["mserve", "hub"] ? "; `mserve hub` alone serves the hub" : "; `\(path.joined(separator: " "))` alone runs its default"
        }
        return message + ")"
    }

    /// The number of single-letter insertions, deletions or substitutions between two words.
    static func editDistance(_ first: String, _ second: String) -> Int {
        let a = Array(first), b = Array(second)
        var previous = Array(0...b.count)
        for i in a.indices {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for j in b.indices {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (a[i] == b[j] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// For a command line with an empty or whitespace-only word: the option it is the value of
    /// (`--routing ''`, `--http=`) or the argument it is (`send ''`: the query argument), said as
    /// a usage error. Taken as it came, such a value meant the option's default for some options
    /// and an error for others; it is refused for all, so a script's unset shell variable is
    /// caught where it is given. (A variable set blank is unset instead: see `environment(_:)`.)
    /// Which word is which comes from the command's own description of its arguments
    /// (``CommandShape``): an option's value is skipped, a flag takes none, and the other words
    /// fill the positional arguments in order.
    static func blankValue(_ arguments: ArraySlice<String>) -> String? {
        let walk = SubcommandWalk(arguments)
        let shape = CommandShape(walk.command.configuration.defaultSubcommand ?? walk.command)
        var previous: String?
        var positionalOnly = false
        var isOptionValue = false
        var positionalIndex = 0
        for word in arguments.dropFirst(walk.names.count) {
            defer { previous = word }
            if isOptionValue {
                isOptionValue = false
                if !word.allSatisfy(\.isWhitespace) { continue }
            }
            if !positionalOnly, word.hasPrefix("--"), let equals = word.firstIndex(of: "=") {
                let option = String(word[..<equals])
                let value = word[word.index(after: equals)...]
                if value.allSatisfy(\.isWhitespace) {
                    return "\(option) was given \(value.isEmpty ? "an empty" : "a blank") value '\(value)'; "
                        + "give one, or leave \(option) out for its default"
                }
                continue
            }
            if word.allSatisfy(\.isWhitespace) {
                let emptiness = word.isEmpty ? "empty" : "blank"
                if !positionalOnly, let option = previous, isOptionName(option), !shape.flags.contains(option) {
                    return "\(option) was given \(word.isEmpty ? "an empty" : "a blank") value '\(word)'; "
                        + "give one, or leave \(option) out for its default"
                }
                guard let name = shape.positionalName(at: positionalIndex) else {
                    return "an argument is \(emptiness) ('\(word)'); give a value"
                }
                return "the \(name) argument is \(emptiness) ('\(word)'); give a value"
            }
            if !positionalOnly, word == "--" {
                positionalOnly = true
            } else if !positionalOnly, isOptionName(word) {
                isOptionValue = !shape.flags.contains(word)
            } else {
                positionalIndex += 1
            }
        }
        return nil
    }

    /// Whether `word` is an option's name (`--routing`, `-s`), not a value such as `-1`.
    static func isOptionName(_ word: String) -> Bool {
        let name = word.drop { $0 == "-" }
        return word.hasPrefix("-") && !word.contains("=") && name.first?.isLetter == true
    }

    /// The names of the subcommands `arguments` run, e.g. ["hub", "user", "add"]; a command
    /// followed by no subcommand word runs its default one, so `hub --keys DIR` is
    /// ["hub", "serve"].
    private static func subcommandPath(_ arguments: ArraySlice<String>) -> [String] {
        let walk = SubcommandWalk(arguments)
        guard let defaultName = walk.command.configuration.defaultSubcommand?.configuration.commandName else { return walk.names }
        return walk.names + [defaultName]
    }
}

/// The subcommands the first words of a command line name, from `mserve` down: the words
/// that matched, in order, and the command the last of them names (`mserve` itself when none
/// did). The one walk the pre-parses of ``MServeCommand`` share.
struct SubcommandWalk {
    /// The command the matched words name.
    private(set) var command: any ParsableCommand.Type = MServeCommand.self
    /// The matched words, e.g. ["hub", "user", "add"].
    private(set) var names: [String] = []

    /// Walks `words` from the first until one names no subcommand of the command before it.
    init(_ words: some Sequence<String>) {
        for word in words {
            guard let next = command.configuration.subcommands.first(where: { $0.configuration.commandName == word }) else { break }
            names.append(word)
            command = next
        }
    }

    /// `mserve` and the matched words.
    var path: [String] { ["mserve"] + names }
}

/// What a command takes, as ArgumentParser describes it (`_dumpHelp()`, the JSON of
/// `--experimental-dump-help`): its flags, which take no value, and its positional arguments in
/// order. The one description there is, so the pre-parse of ``MServeCommand/blankValue(_:)``
/// reads a command line as the parser will.
struct CommandShape {
    /// The names of the flags (`--verbose`, `-h`): every other option takes a value.
    var flags: Set<String> = []
    /// The positional arguments' names (`query`, `key-file`), in order; nil for a hidden one.
    var positionals: [(name: String?, repeating: Bool)] = []

    init(_ command: any ParsableCommand.Type) {
        guard let dump = try? JSONDecoder().decode(Dump.self, from: Data(command._dumpHelp().utf8)) else { return }
        for argument in dump.command.arguments ?? [] {
            switch argument.kind {
            case "flag":
                for name in argument.names ?? [] { flags.insert((name.kind == "long" ? "--" : "-") + name.name) }
            case "positional":
                positionals.append((argument.shouldDisplay ? argument.valueName : nil, argument.isRepeating))
            default:
                break
            }
        }
    }

    /// The name of the positional argument the `index`th positional word fills (a repeating
    /// last one takes every word after); nil past the last, or for a hidden one.
    func positionalName(at index: Int) -> String? {
        guard let last = positionals.last else { return nil }
        if index < positionals.count { return positionals[index].name }
        return last.repeating ? last.name : nil
    }

    private struct Dump: Decodable {
        var command: Command
        struct Command: Decodable { var arguments: [Argument]? }
        struct Argument: Decodable {
            var kind: String
            var shouldDisplay: Bool
            var isRepeating: Bool
            var names: [Name]?
            var valueName: String?
        }
        struct Name: Decodable {
            var kind: String
            var name: String
        }
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print MServe's and libzmq's versions.")

    func run() {
        let zmq = ZMQ.version
        print("mserve \(MServeVersion.current)")
        print("libzmq \(zmq.major).\(zmq.minor).\(zmq.patch) (curve: \(ZMQ.has("curve") ? "yes" : "no"))")
    }
}

/// SIGTERM and SIGINT, caught from the first line of `main`: each is a graceful shutdown of the
/// services the command runs (``onStop(_:)``), whenever it comes. A ServiceGroup's own
/// `gracefulShutdownSignals` watch only from the moment the group runs: a signal that came
/// earlier, while the command was still starting, met the default action and the process died
/// by it, with no log line. Blocking the signals until then does not help: the main thread
/// waits in libdispatch's `sigsuspend` with no signal blocked, and takes a pending one there.
/// Commands that are not long-running (``stopsCommand(_:)``) get the default action back once
/// parsed (Ctrl-C ends `mserve send`). A child process starts with the default action: exec
/// resets caught signals, and no signal is blocked.
enum StopSignals {
    private struct State {
        var signal: Int32?
        var handlers: [@Sendable () async -> Void] = []
    }

    private static let state = Mutex(State())

    /// The long-running commands: each runs its services in a ServiceGroup that a SIGTERM or
    /// SIGINT shuts down gracefully (``onStop(_:)``). The others die by them.
    private static let longRunningCommands: [any ParsableCommand.Type] = [
        BrokerCommand.self, HubServeCommand.self, HubRegisterCommand.self, MServeServantCommand.self,
    ]

    /// The commands that start processes of their own (`mserve demo`): a SIGTERM or SIGINT
    /// stops what they started (their ``onStop(_:)`` handler), then ends them by the signal's
    /// default action (``restoreDefault()``). Their children are in process groups of their
    /// own, which a terminal's Ctrl-C does not reach.
    private static let parentCommands: [any ParsableCommand.Type] = [DemoCommand.self]

    /// Whether `command` is one of the long-running commands that SIGTERM and SIGINT stop
    /// gracefully, or one that stops the processes it started first.
    static func stopsCommand(_ command: any ParsableCommand.Type) -> Bool {
        (longRunningCommands + parentCommands).contains { ObjectIdentifier($0) == ObjectIdentifier(command) }
    }

    /// Catches SIGTERM and SIGINT: the handler writes the signal's number to a pipe that a
    /// thread reads (a handler may do little else), which runs the ``onStop(_:)`` handlers.
    static func install() {
        // Closed on exec from the start: no process started later inherits it.
        var ends: [Int32] = [-1, -1]
        guard mserve_pipe_cloexec(&ends) == 0 else { return }
        stopSignalPipe = ends[1]
        let readEnd = ends[0]
        let reader = Thread {
            var byte: UInt8 = 0
            while true {
                let count = read(readEnd, &byte, 1)
                if count < 0, errno == EINTR { continue }
                guard count == 1 else { return }
                let signal = Int32(byte)
                let handlers = state.withLock { state in
                    if state.signal == nil { state.signal = signal }
                    return state.handlers
                }
                for handler in handlers { Task { await handler() } }
            }
        }
        reader.name = "mserve-signals"
        reader.start()
        for signal in [SIGTERM, SIGINT] { catchSignal(signal) }
    }

    /// Catches `signal` as SIGTERM and SIGINT are (``install()`` first): it runs the
    /// ``onStop(_:)`` handlers.
    private static func catchSignal(_ signal: Int32) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = noteStopSignal
        action.sa_flags = SA_RESTART
        sigemptyset(&action.sa_mask)
        sigaction(signal, &action, nil)
    }

    /// Catches SIGHUP too (the terminal closing), for a command that must stop what it started
    /// however its terminal goes (`mserve demo`).
    static func catchHangUp() {
        catchSignal(SIGHUP)
    }

    /// For a long-running command started with `MSERVE_STOP_WITH_PARENT=PID` (as `mserve demo`
    /// starts its servants and broker): stops it as a SIGTERM does once the process `PID` is no
    /// longer its parent (it ended, even by `kill -9`, and the process was given to another),
    /// checked every half second; at once when `PID` is not its parent to begin with. Nothing
    /// without the variable (or with one empty or blank). A value that is not a process id
    /// from 2 up is a usage error naming the variable: ignored, it would leave the process
    /// running once its parent is gone. 1 is refused too: pid 1, init, is the process an
    /// orphan is given to, and no process outlives it (its end ends the system, or the
    /// container), so no process would ever stop with it.
    static func stopWithParent(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let text = environment[stopWithParentVariable], !text.allSatisfy(\.isWhitespace) else { return }
        guard let parent = pid_t(text.trimmingCharacters(in: .whitespaces)), parent > 1 else {
            throw ValidationError(
                "\(stopWithParentVariable) must be the process id of this process's parent, from 2 to \(pid_t.max) (1 is "
                    + "init, which no process outlives), got '\(text)'")
        }
        let watcher = Thread {
            while getppid() == parent { usleep(500_000) }
            kill(getpid(), SIGTERM)
        }
        watcher.name = "mserve-parent-watch"
        watcher.start()
    }

    /// The variable naming the process a long-running command stops with.
    static let stopWithParentVariable = "MSERVE_STOP_WITH_PARENT"

    /// Runs `stop` when SIGTERM or SIGINT comes, at once if one came already.
    static func onStop(_ stop: @escaping @Sendable () async -> Void) {
        let came = state.withLock { state in
            state.handlers.append(stop)
            return state.signal != nil
        }
        if came { Task { await stop() } }
    }

    /// Gives SIGTERM and SIGINT their default action back (the process dies by them), and
    /// sends the process again one that came while they were caught: to the process, not the
    /// calling thread (`raise`), which may be one of libdispatch's, where signals are blocked.
    static func restoreDefault() {
        signal(SIGTERM, SIG_DFL)
        signal(SIGINT, SIG_DFL)
        signal(SIGHUP, SIG_DFL)
        if let came = state.withLock({ $0.signal }) { kill(getpid(), came) }
    }
}

/// The pipe end the signal handler writes to; set once, before the handler is installed.
nonisolated(unsafe) private var stopSignalPipe: Int32 = -1

/// The SIGTERM and SIGINT handler: only async-signal-safe work, one write.
private func noteStopSignal(_ signal: Int32) {
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(stopSignalPipe, &byte, 1)
}

/// Logging options shared by the long-running commands.
struct LoggingOptions: ParsableArguments {
    @Option(
        name: .long,
        parsing: .unconditional,
        help: ArgumentHelp(
            "Log level: trace, debug, info, notice, warning, error, critical (env MSERVE_LOG_LEVEL).",
            valueName: "level"))
    var logLevel: String?

    /// The level `--log-level` or MSERVE_LOG_LEVEL names (info when neither is set); a usage
    /// error, naming the levels, for any other word.
    func level() throws -> Logger.Level {
        let text = logLevel ?? environment("MSERVE_LOG_LEVEL") ?? "info"
        guard let level = Self.level(named: text) else {
            let source = logLevel == nil ? "MSERVE_LOG_LEVEL" : "--log-level"
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("\(source) '\(text)' is not a log level: \(levels)")
        }
        return level
    }

    func validate() throws {
        _ = try level()
    }

    /// Sets the level of the loggers made from now on (`MServeCommand.main` bootstraps the
    /// logging system once), and returns one labelled `label`.
    func bootstrap(label: String) -> Logger {
        let level = (try? self.level()) ?? .info
        Self.processLevel.withLock { $0 = level }
        return Logger(label: label)
    }

    /// The level of the loggers made from now on: MSERVE_LOG_LEVEL's (info when unset or not a
    /// level) until a command with `--log-level` sets its own.
    static let processLevel = Mutex<Logger.Level>(environment("MSERVE_LOG_LEVEL").flatMap(level(named:)) ?? .info)

    /// The level a word names, in any case (`Info`, `DEBUG`); nil for any other word.
    static func level(named text: String) -> Logger.Level? { Logger.Level(rawValue: text.lowercased()) }
}

/// A failure that is no usage error (status 1, no pointer at the help), told in one line.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Why a file operation failed, for people: Foundation's error prints as a dictionary dump,
/// its POSIX cause ("File exists", "Permission denied") says it in a few words.
func fileErrorReason(_ error: any Error) -> String {
    let error = error as NSError
    if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))) }
    if let underlying = (error.userInfo[NSUnderlyingErrorKey] as? any Error).map({ $0 as NSError }),
        underlying.domain == NSPOSIXErrorDomain
    {
        return String(cString: strerror(Int32(underlying.code)))
    }
    return error.localizedDescription
}

/// Reads an environment variable, treating empty or whitespace-only as unset: a script's
/// `MSERVE_X="$UNSET"` or `MSERVE_X=" "` leaves the default alone, whatever the variable.
func environment(_ name: String) -> String? {
    guard let value = ProcessInfo.processInfo.environment[name], !value.allSatisfy(\.isWhitespace) else { return nil }
    return value
}

/// The user's home directory: `HOME`, else the system's record of it.
var homeDirectory: String { environment("HOME") ?? NSHomeDirectory() }

extension FileHandle {
    /// Writes `data`, a failure ignored (a full disk, a pipe whose reader is gone): Foundation's
    /// `write(_:)` stops the process on one, which a broker printing its endpoint line to a
    /// full disk did.
    func writeIgnoringFailure(_ data: Data) { try? write(contentsOf: data) }
}

/// Writes a line to standard output and flushes it, so a parent process sees it at once.
func announce(_ line: String) {
    FileHandle.standardOutput.writeIgnoringFailure(Data((line + "\n").utf8))
}

/// Runs `services` until SIGTERM or SIGINT. Prints on standard output the endpoint `endpoint`
/// returns once the process has bound it, and once `http` (the `--http` side, when given) is
/// listening too: the line means that everything asked for is up. `http` starts only after the
/// endpoint is bound, so a process that cannot bind it never starts its HTTP side; a taken
/// `http` port is found before anything starts, so the process fails with that error alone,
/// without the start and stop lines of a run that never served. On a stop, `http` stops last,
/// once the other services have stopped. When either fails (a port taken, say), stops the
/// services and throws the error, with nothing printed.
func runAnnouncingEndpoint(
    _ services: [any Service], http: MonitoringServer? = nil, unsecured door: UnsecuredDoor? = nil, logger: Logger,
    endpoint: @escaping @Sendable () async throws -> String
) async throws {
    try http?.checkAvailable()
    var services = services
    if let http {
        // First, so that it stops last (a ServiceGroup stops its services in reverse order):
        // while the process drains, `/healthz` and `/readyz` answer 503 and a scrape sees the
        // queries the stop ended.
        services.insert(
            DeferredService {
                _ = try await endpoint()
                return http
            }, at: 0)
    }
    let group = ServiceGroup(services: services, logger: logger)
    StopSignals.onStop { await group.triggerGracefulShutdown() }
    async let running: Void = group.run()
    do {
        let bound = try await endpoint()
        if let http { _ = try await http.port }
        if let warning = door?.warning(bound: bound) { logger.warning("\(warning)") }
        announce(bound)
    } catch {
        await group.triggerGracefulShutdown()
        _ = try? await running
        throw error
    }
    try await running
}

/// Parses seconds (fractions allowed) into a Duration, with a usage error naming the flag.
func seconds(_ text: String, flag: String) throws -> Duration {
    guard let value = Double(text), value.isFinite, value >= 0.001, value <= 31_536_000 else {
        throw ValidationError("\(flag) expects a number of seconds from 0.001 to 31536000 (a year), got '\(text)'")
    }
    return .nanoseconds(Int64((value * 1e9).rounded()))
}

/// Parses seconds as ``seconds(_:flag:)`` does, but any zero (`0`, `0.0`, `00`) means none: nil.
/// The error for a value out of range names 0 too.
func secondsOrNone(_ text: String, flag: String) throws -> Duration? {
    if let value = Double(text), value == 0 { return nil }
    do {
        return try seconds(text, flag: flag)
    } catch {
        throw ValidationError(
            "\(flag) expects 0 (none) or a number of seconds from 0.001 to 31536000 (a year), got '\(text)'")
    }
}
