import ArgumentParser
import Foundation
import Logging
import MServeHub
import MServeQuery
import MServeServant
import POSIXSockets
import ServiceLifecycle
import ZeroMQ

struct MServeServantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "servant",
        abstract: "Run a servant serving the API its plugins list (default: the demo API).",
        discussion: """
            Loads servant plugins (shared libraries, see docs/PLUGINS.md) from --plugins, else \
            MSERVE_SERVANT_PLUGINS, else Q_PLUGINS (each a colon-separated list of files); with \
            none configured it serves the demo API plugin next to the binary (proc1, proc2, \
            proc3, echo, sleep, fail, pid). Only the functions the plugins list run, and only \
            on literal arguments. A plugin that cannot be loaded stops the launch.

            Listens on loopback only (tcp://127.0.0.1:0, an OS-chosen free port) unless told \
            otherwise: --advertise HOST binds HOST's address, --bind ENDPOINT binds what it \
            names (tcp://*:PORT: every interface). Prints the endpoint brokers should connect \
            to on the first line of standard output, the same endpoint it registers with the \
            hub, then logs to standard error. Bound to every interface without --advertise, it \
            gives this host's first address that is not loopback.

            Only brokers' queries are run (MSV1, docs/PROTOCOL.md §2): a query sent straight \
            to the servant gets an error reply unless --direct is given. --allow limits the \
            functions any query may call, as the broker's --allow does.

            Stops cleanly on SIGTERM or SIGINT: it tells its brokers to send no more queries \
            (DRAIN), handing back the queries it had not started, which the brokers send to other \
            servants at once; gives the queries it is running up to 5 seconds (--drain) to finish \
            and be answered, then, once each broker has acknowledged the DRAIN (no query of its is \
            still on its way), says goodbye (BYE). With --hub, it leaves the hub only then.

            Environment (flags win): MSERVE_SERVANT_PLUGINS, Q_PLUGINS, MSERVE_HUB, MSERVE_HUB_DIR \
            (the hub directory with --hub auto), MSERVE_KEYS, MSERVE_LOG_LEVEL, \
            MSERVE_STOP_WITH_PARENT (its parent's process id: stop once that process is gone).
            """)

    @Option(
        name: .long,
        parsing: .unconditionalSingleValue,
        help: ArgumentHelp(
            "Servant plugin files, colon-separated (repeatable; env MSERVE_SERVANT_PLUGINS, else Q_PLUGINS). A plugin is refused if it or its directory belongs to another user than root or this one, or its group or others may write it.",
            valueName: "paths"))
    var plugins: [String] = []

    @Flag(
        name: .long,
        help: "Print the functions the plugins serve (name, arity, plugin, file), narrowed by --allow as the servant's READY is, and exit.")
    var listFunctions = false

    @Option(
        name: .long,
        parsing: .unconditional,
        help: ArgumentHelp(
            "Endpoint to bind (default \(ServantConfiguration().endpoint), loopback only; with --advertise, that host's address; tcp://*:PORT listens on every interface).",
            valueName: "endpoint"))
    var bind: String?

    // The numeric options read the word after them whatever it is (`parsing: .unconditional`),
    // so that `--threads -1` meets the range check in validate, not "Missing value".
    @Option(name: [.customShort("s"), .long], parsing: .unconditional, help: "Worker threads: queries run at once (like q's -s).")
    var threads: Int = 1

    @Option(name: .long, parsing: .unconditional, help: "Queries a broker may send before earlier ones are answered (default: the thread count); more are answered at once with an error. Direct queries (--direct) are held to it too, all clients together.")
    var capacity: Int?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The most queries a broker may send in one message (more are answered with an error), and answers sent back in one (1: one per message).", valueName: "n"))
    var batch: Int = ServantConfiguration().batchLimit

    @Option(name: .long, parsing: .unconditional, help: "Name brokers show for this servant in replies, logs and metrics (default host:port); give each servant of a broker its own.")
    var name: String?

    @Option(
        name: .long,
        parsing: .unconditional,
        help: ArgumentHelp(
            "Host name or address brokers reach this servant at: printed and registered with the hub; without --bind, its address is bound.",
            valueName: "host"))
    var advertise: String?

    @OptionGroup var allowOption: FunctionAllowOption

    @Flag(
        name: .long,
        help: "Also run queries sent straight to this servant without a broker (docs/PROTOCOL.md §3), which bypass the broker's --allow and deadline; without it they get an error reply.")
    var direct = false

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds between status lines in the log (queries answered and their rate, running or waiting here), logged while the servant has work; 0: none.", valueName: "seconds"))
    var statusEvery: String = "60"

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds a stopping servant (SIGTERM) waits for the queries it is running before it leaves without them; their brokers run them elsewhere.", valueName: "seconds"))
    var drain: String = "5"

    @OptionGroup var hubOptions: HubOptions

    @OptionGroup var securityOptions: SecurityOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be from 1 to 1024") }
        // Given on the command line, an empty list is a mistake, not a wish for the demo API
        // (which serves sleep and pid): an empty variable counts as unset, an empty flag does not.
        if let plugins = pluginsGiven, ServantPluginLoader.paths(fromList: plugins).isEmpty {
            throw ValidationError("--plugins '\(plugins)' names no plugin file; leave --plugins out to serve the demo API")
        }
        if let capacity, !(1...65_536).contains(capacity) {
            throw ValidationError("--capacity must be from 1 to 65536")
        }
        guard (1...65_536).contains(batch) else { throw ValidationError("--batch must be from 1 to 65536") }
        if let advertise, !Self.isHostName(advertise) {
            throw ValidationError(
                "--advertise '\(advertise)' is not a host: a name or an address brokers reach this servant at, "
                    + "such as 10.1.2.7 or db1.example.com (an IPv6 address in brackets, [fd00::7])")
        }
        // Before anything loads: `[::]` names every interface, which no broker can reach.
        if let advertise, advertise.hasPrefix("["), ZMQEndpoint("tcp://\(advertise):0")?.bindsEveryInterface != false {
            throw ValidationError(
                "--advertise \(advertise) names every interface, not a host brokers can reach: name one of this host's addresses")
        }
        _ = try secondsOrNone(statusEvery, flag: "--status-every")
        _ = try seconds(drain, flag: "--drain")
    }

    /// What to bind: --bind, else the address of --advertise (an IPv4 address, an IPv6 address
    /// in brackets, or a name looked up), else loopback only.
    func bindEndpoint() throws -> String {
        if let bind { return bind }
        guard let advertise else { return ServantConfiguration().endpoint }
        if IPv4Address.literal(advertise) != nil { return "tcp://\(advertise):0" }
        if advertise.hasPrefix("[") {
            guard ZMQEndpoint("tcp://\(advertise):0")?.bindsEveryInterface == false else {
                throw ValidationError(
                    "--advertise \(advertise) names every interface, not a host brokers can reach: name one of this host's addresses")
            }
            return "tcp://\(advertise):0"
        }
        switch IPv4Address.resolve(advertise) {
        case .success(let address):
            return "tcp://\(IPv4Address.text(address)):0"
        case .failure(let error):
            throw ValidationError(
                "--advertise \(advertise): cannot look up its IPv4 address to bind (\(error.message)); name what to bind with --bind")
        }
    }

    /// Whether `text` can be the host of `tcp://HOST:PORT`, printed and registered as it is: a
    /// name or IPv4 address (letters, digits, `.`, `-`, `_`), or an IPv6 address in brackets.
    /// Not empty, blank, nor holding `/`, `:` or spaces, which would make another endpoint
    /// than the one bound, or none at all.
    static func isHostName(_ text: String) -> Bool {
        let isName = { (part: Substring, extra: Set<Character>) in
            !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || extra.contains($0)) }
        }
        if text.hasPrefix("[") || text.hasSuffix("]") { return ZMQEndpoint.isWellFormedHost(text) }
        return isName(text[...], [".", "-", "_"])
    }

    /// Whether `endpoint` binds every interface: `tcp://*:PORT`, `tcp://0.0.0.0:PORT`, `tcp://[::]:PORT`.
    static func bindsEveryInterface(_ endpoint: String) -> Bool {
        guard let parsed = ZMQEndpoint(endpoint), parsed.scheme == "tcp" else { return false }
        return parsed.bindsEveryInterface
    }

    /// Every `--plugins` list as one colon-separated list, nil when none is given.
    private var pluginsGiven: String? { plugins.isEmpty ? nil : plugins.joined(separator: ":") }

    /// The plugin files and the flag or variable that gave them: --plugins, else
    /// MSERVE_SERVANT_PLUGINS, else Q_PLUGINS, else the demo API (source nil). A variable
    /// that names no file (empty, or only colons) counts as unset; an empty --plugins is
    /// refused by `validate()`.
    func pluginPaths() -> (paths: [String], source: String?) {
        let given: [(source: String, list: String?)] = [
            ("--plugins", pluginsGiven), ("MSERVE_SERVANT_PLUGINS", environment("MSERVE_SERVANT_PLUGINS")),
            ("Q_PLUGINS", environment("Q_PLUGINS")),
        ]
        for (source, list) in given {
            guard let list else { continue }
            let paths = ServantPluginLoader.paths(fromList: list)
            if !paths.isEmpty { return (paths, source) }
        }
        return (ServantPluginLoader.defaultPaths(), nil)
    }

    /// The loaded plugins. A plugin that cannot be loaded is a usage error, as the broker's
    /// are, naming the flag or variable that gave it.
    private func loadPlugins() throws -> [LoadedServantPlugin] {
        let (paths, source) = pluginPaths()
        if source == "Q_PLUGINS", let script = paths.first(where: { $0.hasSuffix(".q") || $0.hasSuffix(".k") }) {
            throw ValidationError(Self.qScriptInQPlugins(script))
        }
        do {
            return try ServantPluginLoader.load(paths: paths)
        } catch {
            // A broken demo plugin next to the binary is no fault of --plugins.
            throw ValidationError(source.map { "\($0): \(error)" } ?? "\(error)")
        }
    }

    /// Why a q script in Q_PLUGINS is refused: the original q mserve's servants load q scripts
    /// from it, a host may still set it for them, and an MServe servant would try to load the
    /// script as a shared library.
    static func qScriptInQPlugins(_ script: String) -> String {
        "Q_PLUGINS: \(script) is a q script (Q_PLUGINS lists q scripts for the original q mserve); an MServe servant loads shared libraries (docs/PLUGINS.md), and q code runs in a q servant given to the broker as kdb://HOST:PORT (docs/KDB.md); set MSERVE_SERVANT_PLUGINS (or --plugins) for this servant, or unset Q_PLUGINS"
    }

    /// Why a `--capacity` below `--threads` is warned of: a broker sends no more than the
    /// capacity at once (direct queries, all clients together, are held to it too), so only
    /// several brokers sharing the servant ever keep more threads busy.
    static func capacityBelowThreads(capacity: Int, threads: Int) -> String {
        "--capacity \(capacity) is below --threads \(threads): a broker sends this servant at most \(capacity) "
            + "quer\(capacity == 1 ? "y" : "ies") at a time, so unless several brokers (or, with --direct, direct clients) "
            + "share it, \(threads - capacity) of its threads never run one; give --threads \(capacity), or leave "
            + "--capacity out (it is the thread count by default)"
    }

    /// `--allow` as a list of functions the plugins serve: a name none serves is a usage error
    /// (`--allow prco1` would leave the servant serving nothing, and it would announce no
    /// functions, which brokers read as every function).
    private func allowlist(serving loaded: [LoadedServantPlugin]) throws -> FunctionAllowlist {
        guard let names = try allowOption.names() else { return .any }
        let served = Set(loaded.flatMap { $0.functions.map(\.name) })
        let unknown = names.filter { !served.contains($0) }
        guard unknown.isEmpty else {
            throw ValidationError(
                "--allow names \(unknown.count == 1 ? "a function" : "functions") this servant does not serve: "
                    + "\(unknown.joined(separator: ", ")); it serves: \(served.sorted().joined(separator: ", "))")
        }
        return FunctionAllowlist(names)
    }

    func run() async throws {
        if let bind { try checkBindEndpoint(bind, source: "--bind") }
        if let bind, hubOptions.mode != nil, ZMQEndpoint(bind)?.scheme != "tcp" {
            // The hub hands brokers a host and a port; a path is reachable from this host alone.
            throw ValidationError(
                "--bind \(bind) cannot be registered with the hub (--hub or MSERVE_HUB): the hub names servants "
                    + "by host and port; bind tcp://HOST:PORT, or give brokers this endpoint with --servant and leave the hub out")
        }
        let loaded = try loadPlugins()
        if listFunctions {
            let allowlist = try allowlist(serving: loaded)
            for plugin in loaded {
                for function in plugin.functions where allowlist.allows(function.name) {
                    print("\(function.name)\tarity \(function.arityText)\t\(plugin.name)\t\(plugin.path)")
                }
            }
            return
        }
        let logger = logging.bootstrap(label: "mserve.servant")
        raiseOpenFileLimit(logger: logger)
        for plugin in loaded {
            logger.info(
                "loaded servant plugin",
                metadata: [
                    "plugin": "\(plugin.name)", "path": "\(plugin.path)",
                    "functions": "\(plugin.functions.map(\.name).joined(separator: ","))",
                ])
        }
        var configuration = ServantConfiguration()
        configuration.endpoint = try bindEndpoint()
        configuration.advertisedHost = advertise ?? (Self.bindsEveryInterface(configuration.endpoint) ? IPv4Address.firstNonLoopback() : nil)
        if case .connect(let hub)? = hubOptions.mode,
            SpokeReachability.listensOnLoopbackOnly(configuration.endpoint),
            SpokeReachability.isOnAnotherHost(hub: hub)
        {
            // A host's own name often looks up to loopback (Debian maps it to 127.0.1.1).
            let why =
                bind.map { "--bind \($0)" } ?? advertise.map { "--advertise \($0) looks up to a loopback address" }
                ?? "neither --advertise nor --bind was given"
            logger.warning(
                "this servant listens on loopback only, but registers with a hub on another host: brokers on other hosts cannot reach it and list it as connecting (\(why)); name an address other hosts reach with --advertise, e.g. --advertise 10.1.2.7",
                metadata: ["endpoint": "\(configuration.endpoint)", "hub": "\(hub)"])
        }
        warnOfEphemeralPorts(
            [.bound(configuration.endpoint, "this servant's endpoint", source: "--bind"), hubOptions.fixedPort], logger: logger)
        if let capacity, capacity < threads {
            logger.warning("\(Self.capacityBelowThreads(capacity: capacity, threads: threads))")
        }
        configuration.allowlist = try allowlist(serving: loaded)
        configuration.acceptsDirectQueries = direct
        configuration.threads = threads
        configuration.capacity = capacity
        configuration.batchLimit = batch
        configuration.name = name
        configuration.service = hubOptions.service
        configuration.statusInterval = try secondsOrNone(statusEvery, flag: "--status-every")
        configuration.drainTimeout = try seconds(drain, flag: "--drain")
        let security = try securityOptions.security(defaultName: SpokeRole.servant, hub: hubOptions.mode)
        configuration.curve = security?.serverKeys(admitting: .broker)
        let servant = try Servant(configuration: configuration, functions: FunctionRegistry(plugins: loaded), logger: logger)
        var services: [any Service] = []
        if let security {
            services.append(security.refresher(hub: try ProcessSecurity.hubEndpoint(hubOptions.mode), logger: logger))
        }
        if let hub = hubOptions.mode {
            let (threads, service) = (self.threads, hubOptions.service)
            services.append(
                DeferredService {
                    // Registered under the very host it prints, not the address the hub sees
                    // the servant's connection come from.
                    let endpoint = try await servant.endpoint
                    var registration = SpokeRegistration.current(
                        boundAt: endpoint, threads: Int32(threads), service: service, role: SpokeRole.servant)
                    registration.curveKey = security?.keyPair.publicKey
                    return try hub.membership(registration, logger: logger, curve: security?.hubKeys)
                })
        }
        // Last, so that it stops first (a ServiceGroup stops its services in reverse order,
        // each after the one before has ended): the servant finishes the queries it is running
        // while it is still registered, and leaves the hub only then.
        services.append(servant)
        try await runAnnouncingEndpoint(
            services, unsecured: security == nil ? .servant(configuration.endpoint) : nil, logger: logger
        ) { try await servant.endpoint }
    }
}
