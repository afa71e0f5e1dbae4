import ArgumentParser
import Foundation
import Logging
import MServeHub
import MServeMonitoring
import ServiceLifecycle
import ZeroMQ

/// `mserve hub`: run the hub, print its tables, resolve a service.
struct MServeHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hub",
        abstract: "Run the hub (port discovery, liveness, crash reports) or ask it something.",
        discussion: """
            The hub keeps the tables spoke (live processes), memst (memory stats) and down (crash \
            reports) in SQLite in its directory. `mserve hub` serves it; `mserve hub spokes`, \
            `memst` and `down` print the tables; `mserve hub resolve SERVICE` lists a service's \
            live servants. `allow`, `revoke` and `keys` edit the admitted CURVE keys; `user add`, \
            `user remove` and `users` the kdb+ users of brokers started with --users hub; a hub \
            without --keys takes those edits only with the admin token it writes to its directory \
            (read from --dir, MSERVE_HUB_DIR), a hub with keys only from hub.key. \
            `mserve hub register kdb://HOST:PORT` registers a q servant. MSERVE_HUB names the \
            hub endpoint, MSERVE_HUB_DIR its directory, MSERVE_KEYS the key directory (flags win).

            Options of `mserve hub` (serving: --bind, --dir, --liveness, --keys, --http, --http-allow-remote, --log-level): \
            see `mserve hub serve --help`. By default it binds \(HubLink.defaultEndpoint) (--bind, env \
            MSERVE_HUB), keeps its tables in ~/.mserve/hub (--dir, env MSERVE_HUB_DIR) and moves a \
            spoke to down after \(HubServeCommand.defaultLiveness) seconds of silence (--liveness).
            """,
        subcommands: [
            HubServeCommand.self, HubTableCommand.Spokes.self, HubTableCommand.Memst.self,
            HubTableCommand.Down.self, HubResolveCommand.self, HubAllowCommand.self, HubRevokeCommand.self,
            HubKeysCommand.self, HubUserCommand.self, HubUsersCommand.self, HubRegisterCommand.self,
        ],
        defaultSubcommand: HubServeCommand.self)
}

/// Options naming the hub to ask, and the key to ask a secured hub with.
struct HubClientOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Hub endpoint (env MSERVE_HUB, default \(HubLink.defaultEndpoint)).", valueName: "endpoint"))
    var hub: String?

    // `parsing: .unconditional`: `--timeout -1` is read as a value, and refused by its check.
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds to wait for the hub's answer.", valueName: "seconds"))
    var timeout: String = "3"

    @Option(
        name: .long,
        parsing: .unconditional,
        help: ArgumentHelp(
            "Key directory, when the hub runs with security: speak CURVE with NAME.key, pinning the hub to hub.pub (env MSERVE_KEYS).",
            valueName: "path"))
    var keys: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The key in the key directory to ask with (default: client; for editing keys and users: hub).", valueName: "name"))
    var keyName: String?

    /// A client of the hub; with a key directory, a CURVE client speaking with the key
    /// `--key-name` (else `defaultKeyName`) and pinned to `hub.pub`. Any allowed key may
    /// read; only `hub.key` may edit keys and users.
    func client(defaultKeyName: String = "client") throws -> HubClient {
        let checkHub = { try checkConnectEndpoint($0, source: $1, kind: "a hub endpoint", hub: true) }
        if let hub { try checkHub(hub, "--hub") }
        var client = HubClient(
            endpoint: HubAutoMode.connectableEndpoint(try hub ?? HubEnvironment.checkedEndpoint(checkHub)),
            timeout: try seconds(timeout, flag: "--timeout"))
        if let directory = keyDirectory(keys) {
            do {
                client.curve = ZMQCurveClientKeys(
                    serverPublicKey: try directory.publicKey("hub"), keyPair: try directory.keyPair(keyName ?? defaultKeyName))
            } catch {
                throw ValidationError("\(keyDirectorySource(keys)): \(error)")
            }
        }
        return client
    }
}

struct HubServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the hub (the default of `mserve hub`).",
        discussion: """
            Binds the hub endpoint, reloads the spoke table from the hub directory, and moves \
            every spoke not heard from within the liveness time to down; a pause of the hub \
            itself (stopped, swapping) counts against no spoke. Prints the bound endpoint on the \
            first line of standard output (with --http, once the HTTP side listens too). Stops cleanly on SIGTERM or SIGINT.

            Environment (flags win): MSERVE_HUB (the endpoint to bind), MSERVE_HUB_DIR, \
            MSERVE_KEYS, MSERVE_HTTP, MSERVE_LOG_LEVEL, \
            MSERVE_STOP_WITH_PARENT (its parent's process id: stop once that process is gone).
            """)

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Endpoint to bind (env MSERVE_HUB, default \(HubLink.defaultEndpoint)).", valueName: "endpoint"))
    var bind: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Hub directory (env MSERVE_HUB_DIR, default ~/.mserve/hub).", valueName: "path"))
    var dir: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds of silence before a spoke moves to down (at least 2: spokes heartbeat every second).", valueName: "seconds"))
    var liveness: String = Self.defaultLiveness

    /// The `--liveness` a hub runs with when given none, in seconds.
    static let defaultLiveness = "3"

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Key directory: serve with CURVE using hub.key, admitting only allowed keys (env MSERVE_KEYS).", valueName: "path"))
    var keys: String?

    @OptionGroup var logging: LoggingOptions

    @OptionGroup var httpOptions: HTTPOptions

    /// Words after `mserve hub` that the parser does not know: a mistyped subcommand, or an
    /// option `serve` does not take (`--endpoint` for `--bind`) with its value. Refused in
    /// `validate`: an unknown option by its name, else the first word with the subcommands,
    /// where the parser would only call them unexpected. (Left to the parser, the option's
    /// value would be taken for the mistyped subcommand and named instead of the option.)
    @Argument(parsing: .allUnrecognized, help: .hidden) var unknownSubcommand: [String] = []

    /// The shortest `--liveness`: spokes heartbeat the hub every second (``SpokeAgent``'s
    /// default), so a shorter one would move a spoke to down for a single late heartbeat.
    static let shortestLiveness: Duration = .seconds(2)

    func validate() throws {
        // An option's name, alone or before `=VALUE`.
        if let name = unknownSubcommand.lazy.map({ String($0.prefix { $0 != "=" }) }).first(where: MServeCommand.isOptionName) {
            throw ValidationError("Unknown option '\(name)' for mserve hub serve")
        }
        if let word = unknownSubcommand.first {
            let names = MServeHubCommand.configuration.subcommands.compactMap { $0.configuration.commandName }
            throw ValidationError(MServeCommand.unknownSubcommandMessage(word, of: ["mserve", "hub"], names: names, hasDefault: true))
        }
        guard try seconds(liveness, flag: "--liveness") >= Self.shortestLiveness else {
            throw ValidationError(
                "--liveness must be at least 2 seconds, got '\(liveness)': spokes heartbeat the hub every "
                    + "second, and a shorter liveness moves them to down for one late heartbeat")
        }
    }

    func run() async throws {
        if let bind { try checkBindEndpoint(bind, source: "--bind") }
        let endpoint = try bind ?? HubEnvironment.checkedEndpoint(checkBindEndpoint)
        let logger = logging.bootstrap(label: "mserve.hub")
        raiseOpenFileLimit(logger: logger)
        var configuration = HubConfiguration(endpoint: endpoint, directory: dir ?? HubEnvironment.directory)
        configuration.livenessTimeout = try seconds(liveness, flag: "--liveness")
        configuration.heartbeatInterval = min(.seconds(1), configuration.livenessTimeout / 3)
        if let directory = keyDirectory(keys) {
            do {
                configuration.curve = try directory.keyPair("hub")
            } catch {
                throw ValidationError("\(keyDirectorySource(keys)): \(error)")
            }
        }
        let httpAddress = try httpOptions.address(securityOn: configuration.curve != nil)
        warnOfEphemeralPorts(
            [
                .bound(endpoint, "the hub endpoint", source: bind == nil ? "MSERVE_HUB" : "--bind"),
                httpAddress.flatMap { .bound(host: $0.host, port: $0.port, "the HTTP side", source: $0.source) },
            ], logger: logger)
        let hub = try Hub(configuration: configuration, logger: logger)
        let http = httpAddress.map { MonitoringServer(address: $0, process: HubMonitor(hub: hub), logger: logger) }
        // The hub lists itself, as the seed's HUB does. Its spoke comes last, so that it stops
        // first (a ServiceGroup stops its services in reverse order): it leaves while the hub
        // still answers, and a clean stop leaves no crash report in `down`.
        let ownSpoke = DeferredService { [configuration] in
            let endpoint = try await hub.endpoint
            return try SpokeAgent(
                hub: HubAutoMode.connectableEndpoint(endpoint),
                registration: .current(port: port(of: endpoint), service: "hub", role: SpokeRole.hub, endpoint: endpoint),
                heartbeatInterval: configuration.heartbeatInterval, livenessTimeout: configuration.livenessTimeout,
                curve: configuration.curve.map { ZMQCurveClientKeys(serverPublicKey: $0.publicKey, keyPair: $0) },
                logger: logger)
        }
        do {
            try await runAnnouncingEndpoint(
                [hub, ownSpoke], http: http, unsecured: configuration.curve == nil ? .hub(endpoint) : nil, logger: logger
            ) { try await hub.endpoint }
        } catch let error as HubError where error.code == .directoryRefused {
            // A setting to change, as a refused key directory is: status 64.
            throw ValidationError(error.message)
        }
    }
}

/// `mserve hub spokes` / `memst` / `down`.
enum HubTableCommand {
    static func print(_ name: String, columns: [String]?, all: Bool, options: HubClientOptions) async throws {
        let table = try await options.client().table(name)
        announce(TableText.render(table, columns: all ? nil : columns))
    }

    struct Spokes: AsyncParsableCommand {
        /// The columns printed without --all.
        static let columns = ["id", "pid", "port", "X", "up", "dir", "service", "role", "endpoint"]
        static let configuration = CommandConfiguration(
            commandName: "spokes",
            abstract: "Print the spoke table (select \(columns.joined(separator: ",")) from spoke; --all for every column).")
        @Flag(name: .long, help: "Print every column.") var all = false
        @OptionGroup var options: HubClientOptions
        func run() async throws {
            try await HubTableCommand.print("spoke", columns: Self.columns, all: all, options: options)
        }
    }

    struct Memst: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "memst", abstract: "Print the memory stats the spokes report: spoke, time, used, heap, peak, rss.")
        // No --all: the table is printed whole, as the few columns it has fit.
        @OptionGroup var options: HubClientOptions
        func run() async throws {
            try await HubTableCommand.print("memst", columns: nil, all: true, options: options)
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "down", abstract: "Print the crash reports (spokes that stopped answering).")
        @Flag(name: .long, help: "Print every column.") var all = false
        @OptionGroup var options: HubClientOptions
        func run() async throws {
            try await HubTableCommand.print(
                "down", columns: ["spoke", "pid", "port", "X", "up", "dir", "service", "used", "rss", "crash", "reason"],
                all: all, options: options)
        }
    }
}

struct HubResolveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve", abstract: "List the endpoints of a service's live servants.",
        discussion: """
            One servant a line: endpoint, name and threads, tab-separated. A service with no live \
            servant prints nothing on standard output and says so on standard error.
            """)

    @Argument(help: "The service name, e.g. dev.") var service: String
    @OptionGroup var options: HubClientOptions

    func run() async throws {
        let endpoints = try await options.client().resolve(service)
        if endpoints.isEmpty {
            FileHandle.standardError.writeIgnoringFailure(Data("mserve hub resolve: no live servant in service \(service)\n".utf8))
        }
        for endpoint in endpoints {
            announce("\(endpoint.endpoint)\t\(endpoint.name)\t\(endpoint.threads)")
        }
    }
}
