import ArgumentParser
import Foundation
import Logging
import MServeBroker
import MServeHub
import MServeMonitoring
import MServePlugin
import MServeQuery
import POSIXSockets
import ServiceLifecycle
import Synchronization
import ZeroMQ

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run a broker: clients in, servants out.",
        discussion: """
            Prints the client endpoint on the first line of standard output once bound (and, \
            with --http, once the HTTP side listens too), then logs to standard error. Stops cleanly on SIGTERM or SIGINT: queued queries get an \
            error reply, running ones are given two seconds to finish, and the connections stay \
            open a quarter of a second after the last reply, for clients to read it.

            Environment (flags win): MSERVE_BROKER (client endpoint), MSERVE_SERVANTS \
            (comma-separated servant endpoints), MSERVE_ALGO, MSERVE_PLUGINS (colon-separated \
            plugin files), MSERVE_ROUTING, MSERVE_HUB, MSERVE_HUB_DIR (the hub directory with \
            --hub auto), MSERVE_KEYS, MSERVE_LOG_LEVEL, MSERVE_KDB_PORT, MSERVE_HTTP, \
            MSERVE_MAX_MESSAGE, MSERVE_QUEUE_BYTES, MSERVE_CLIENT_REPLY_BUFFER, MSERVE_CLIENT_REPLY_BUFFER_TOTAL, MSERVE_USERS (a users file, or hub), MSERVE_SERVANT_AUTH, \
            MSERVE_STOP_WITH_PARENT (its parent's process id: stop once that process is gone).

            With --kdb-port, q sessions and kdb+ client libraries (pykx, qpython, kola) connect \
            over kdb+ IPC too; with --users hub, their users and passwords are those of the hub \
            (`mserve hub user add`), refreshed every second: a user removed from the hub is \
            refused, and its open connections closed, within about a second. With --keys, \
            --kdb-port needs --users. Passwords travel to the door in clear, as to a q process \
            without TLS: keep the door on loopback or behind a TLS tunnel (docs/SECURITY.md). A \
            --servant kdb://host:port is a q process serving queries (logged in to with \
            --servant-auth); see docs/KDB.md.

            With --hub, the broker registers with the hub and follows the servants of its
            --service: servants that join are used within a second, servants that leave are \
            dropped, without a restart.
            """)

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Endpoint clients connect to (env MSERVE_BROKER, default \(BrokerConfiguration.Clients().endpoint); port 0: any free port).", valueName: "endpoint"))
    var clients: String?

    @Option(name: .customLong("servant"), parsing: .unconditionalSingleValue, help: ArgumentHelp("A servant endpoint, tcp://host:port, or kdb://host:port for a q servant (repeatable; env MSERVE_SERVANTS, comma-separated).", valueName: "endpoint"))
    var servants: [String] = []

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Dispatch algorithm, NAME or NAME:CONFIG (env MSERVE_ALGO, default match).", valueName: "name"))
    var algorithm: String?

    @Option(name: .long, parsing: .unconditionalSingleValue, help: ArgumentHelp("Extra plugin files, colon-separated (repeatable; env MSERVE_PLUGINS). A plugin, here or next to mserve, is refused if it or its directory belongs to another user than root or this one, or its group or others may write it.", valueName: "paths"))
    var plugins: [String] = []

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Routing spec: arg:N, function, joins such as function,arg:1, or plugin:NAME[:config], the text after the name going to the plugin (env MSERVE_ROUTING, default arg:1).", valueName: "spec"))
    var routing: String?

    @OptionGroup var allowOption: FunctionAllowOption

    // The numeric options read the word after them whatever it is (`parsing: .unconditional`),
    // so that `--queue-capacity -1` meets the range check below, not "Missing value".
    @Option(name: .long, parsing: .unconditional, help: "Queries that may wait for a free servant before new ones are refused (0: a query no servant can take at once is refused).")
    var queueCapacity: Int = BrokerConfiguration.Dispatch().queueCapacity

    @Option(name: .customLong("queue-bytes"), parsing: .unconditional, help: ArgumentHelp("Bytes of queries that may wait for a free servant together (env MSERVE_QUEUE_BYTES, default \(BrokerConfiguration.Dispatch().queueBytes)): a query that would take them past it is refused as queue full, unless none waits.", valueName: "bytes"))
    var queueBytes: Int?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Queued queries, from the front, offered to the algorithm when a servant is free, so one the algorithm makes wait does not hold up the rest (1: strict FIFO). A query whose function no ready servant serves takes no place.", valueName: "n"))
    var lookAhead: Int = BrokerConfiguration.Dispatch().lookAhead

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds a query may take before it is answered with an error; a client's deadline option may shorten it, never lengthen it.", valueName: "seconds"))
    var deadline: String = "60"

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds a query waits while no servant is ready, or none serving its function, before it is answered with an error saying so.", valueName: "seconds"))
    var waitForServant: String = "5"

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds between heartbeats to each servant, at most 20 (a servant forgets a broker it hears nothing from for a minute).", valueName: "seconds"))
    var heartbeat: String = "0.4"

    /// The longest `--heartbeat`: a third of the minute a servant keeps a silent broker's
    /// session (``ServantLink/brokerSessionTimeout``).
    static let longestHeartbeat: Duration = .seconds(20)

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds of silence after which a servant is taken out of dispatch.", valueName: "seconds"))
    var liveness: String = "1.6"

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds between status lines in the log (queries answered and their rate, queued, in flight, servants ready), logged while the broker has work; 0: none.", valueName: "seconds"))
    var statusEvery: String = "60"

    @Option(name: .long, parsing: .unconditional, help: "Times a query whose servant died is sent to another servant.")
    var redispatch: Int = 1

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The most queries sent to a servant in one message: queries dispatched to one servant in the same turn travel together (1: one per message).", valueName: "n"))
    var servantBatch: Int = BrokerConfiguration.Servants().batchLimit

    @Option(name: .customLong("max-message"), parsing: .unconditional, help: ArgumentHelp("Bytes a ZeroMQ client query or servant reply may have (env MSERVE_MAX_MESSAGE, default \(BrokerConfiguration.Clients().maxMessageSize)): a client sending more is disconnected; servants answer a larger result with an error.", valueName: "bytes"))
    var maxMessage: Int64?

    @Option(name: .customLong("client-reply-buffer"), parsing: .unconditional, help: ArgumentHelp("Reply bytes kept for a ZeroMQ client that does not read (env MSERVE_CLIENT_REPLY_BUFFER, default \(BrokerConfiguration.Clients().maxBufferedReplyBytes)): further replies to it are dropped, counted and logged.", valueName: "bytes"))
    var clientReplyBuffer: Int?

    @Option(name: .customLong("client-reply-buffer-total"), parsing: .unconditional, help: ArgumentHelp("Reply bytes kept for all the ZeroMQ clients together (env MSERVE_CLIENT_REPLY_BUFFER_TOTAL, default \(BrokerConfiguration.Clients().maxBufferedReplyBytesTotal)): beyond it, a reply to a client that already has one waiting is dropped, counted and logged.", valueName: "bytes"))
    var clientReplyBufferTotal: Int?

    @OptionGroup var kdbOptions: KdbDoorOptions

    @Flag(name: .long, help: "List the dispatch algorithms found, then exit.")
    var listAlgorithms = false

    @OptionGroup var hubOptions: HubOptions

    @OptionGroup var securityOptions: SecurityOptions

    @OptionGroup var httpOptions: HTTPOptions

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let registry = try pluginRegistry()
        if listAlgorithms {
            printAlgorithms(registry)
            return
        }
        var configuration = try configurationFromFlags()
        try refuseUnknownPlugins(configuration, registry: registry)

        let httpAddress = try httpOptions.address(securityOn: keyDirectory(securityOptions.keys) != nil)
        let security = try securityOptions.security(defaultName: SpokeRole.broker, hub: hubOptions.mode)
        configuration.curve = security?.serverKeys(admitting: .client)
        configuration.servantKeys = security?.allowedKeys.keys(permitting: .servant)
        let logger = logging.bootstrap(label: "mserve.broker")
        raiseOpenFileLimit(logger: logger)
        let usersRefresher = try configuration.kdb?.userList.map {
            try HubUsersRefresher.make(list: $0, hub: hubOptions.mode, security: security, logger: logger)
        }
        // An algorithm whose plugin also makes routing strings: its hook is called only when
        // --routing names it, which the plugin's name alone may lead a user to expect.
        let algorithmName = String(configuration.dispatch.algorithm.prefix { $0 != ":" })
        if configuration.dispatch.routing.pluginName == nil,
            registry.plugins.contains(where: { $0.name == algorithmName && $0.hasRoutingHook })
        {
            logger.notice(
                "dispatch algorithm \(algorithmName) has a routing hook, which the broker calls only when --routing plugin:\(algorithmName) (or MSERVE_ROUTING) names it; routing strings are \(configuration.dispatch.routing) meanwhile",
                metadata: ["algorithm": "\(algorithmName)", "routing": "\(configuration.dispatch.routing)"])
        }
        if configuration.servants.endpoints.isEmpty && hubOptions.mode == nil {
            logger.warning("no servants: queries wait until some are given (--servant, MSERVE_SERVANTS, or --hub to follow a service)")
        }
        // A servant is heard from once a heartbeat at best: silence as long as one is no sign of death.
        if configuration.servants.livenessTimeout <= configuration.servants.heartbeatInterval {
            logger.warning(
                "--liveness is not longer than --heartbeat: a live servant is taken out of dispatch between two heartbeats; make --liveness a few heartbeats long (by default it is four: --heartbeat 0.4, --liveness 1.6)",
                metadata: [
                    "heartbeat": "\(configuration.servants.heartbeatInterval)",
                    "liveness": "\(configuration.servants.livenessTimeout)",
                ])
        }
        if configuration.clients.maxBufferedReplyBytesTotal < configuration.clients.maxBufferedReplyBytes {
            logger.warning(
                "--client-reply-buffer-total is below --client-reply-buffer: the total then bounds each client too",
                metadata: [
                    "client-reply-buffer": "\(configuration.clients.maxBufferedReplyBytes)",
                    "client-reply-buffer-total": "\(configuration.clients.maxBufferedReplyBytesTotal)",
                ])
        }
        warnOfEphemeralPorts(
            [
                .bound(configuration.clients.endpoint, "the client endpoint", source: clients == nil ? "MSERVE_BROKER" : "--clients"),
                configuration.kdb.flatMap { .bound(host: $0.host, port: $0.port, "the kdb+ door", source: kdbOptions.port == nil ? "MSERVE_KDB_PORT" : "--kdb-port") },
                httpAddress.flatMap { .bound(host: $0.host, port: $0.port, "the HTTP side", source: $0.source) },
                hubOptions.fixedPort,
            ], logger: logger)
        let broker = try Broker(configuration: configuration, logger: logger, plugins: registry)
        var services: [any Service] = [broker]
        var http: MonitoringServer?
        // In auto mode this process may serve the hub: its HTTP side then shows the hub too.
        let autoHub = Mutex<HubAutoMode?>(nil)
        // With --http, the HTTP side publishes what the broker's loop counts at each scrape.
        if let httpAddress {
            let brokerMonitor = BrokerMonitor(broker: broker, service: hubOptions.service)
            let process: any MonitoredProcess =
                if case .auto? = hubOptions.mode {
                    BrokerWithHubMonitor(
                        broker: brokerMonitor,
                        hub: HubMonitor(registry: brokerMonitor.registry) { autoHub.withLock { $0 }?.servingHub })
                } else {
                    brokerMonitor
                }
            http = MonitoringServer(address: httpAddress, process: process, logger: logger)
        }
        if let usersRefresher { services.append(usersRefresher) }
        if case .connect(let hub)? = hubOptions.mode,
            SpokeReachability.listensOnLoopbackOnly(configuration.clients.endpoint),
            SpokeReachability.isOnAnotherHost(hub: hub)
        {
            logger.warning(
                "this broker takes clients on loopback only, but registers with a hub on another host: clients on other hosts that find it through the hub (mserve send --service) cannot connect; bind --clients on an address they reach, e.g. tcp://*:5570",
                metadata: ["clients": "\(configuration.clients.endpoint)", "hub": "\(hub)"])
        }
        services += try hubServices(
            of: broker, configuration: configuration, security: security, logger: logger,
            onAutoMode: { member in autoHub.withLock { $0 = member } })
        try await runAnnouncingEndpoint(
            services, http: http, unsecured: security == nil ? .clients(configuration.clients.endpoint) : nil, logger: logger
        ) { try await broker.clientEndpoint }
    }

    /// The ZeroMQ message limit from --max-message or MSERVE_MAX_MESSAGE, at least an IPC header
    /// and a byte.
    private func maxMessageSize() throws -> Int64 {
        let source = maxMessage == nil && environment("MSERVE_MAX_MESSAGE") != nil ? "MSERVE_MAX_MESSAGE" : "--max-message"
        let text = maxMessage.map(String.init) ?? environment("MSERVE_MAX_MESSAGE")
        guard let text else { return BrokerConfiguration.Clients().maxMessageSize }
        guard let bytes = Int64(text), bytes >= 9 else {
            throw ValidationError("\(source) must be a number of bytes, at least 9 (an IPC header and a byte), got \(text)")
        }
        return bytes
    }

    /// A number of reply bytes kept for ZeroMQ clients, from `option` (the value of `flag`) or
    /// the variable `variable`, else `fallback`: positive.
    private func positiveByteCount(_ option: Int?, flag: String, variable: String, fallback: Int) throws -> Int {
        let source = option == nil && environment(variable) != nil ? variable : flag
        let text = option.map(String.init) ?? environment(variable)
        guard let text else { return fallback }
        guard let bytes = Int(text), bytes >= 1 else {
            throw ValidationError("\(source) must be a positive number of bytes, got \(text)")
        }
        return bytes
    }

    /// The dispatch plugins: the shipped ones and those of --plugins (or MSERVE_PLUGINS).
    private func pluginRegistry() throws -> DispatchPluginRegistry {
        let list = plugins.isEmpty ? environment("MSERVE_PLUGINS") : plugins.joined(separator: ":")
        let extra = list?.split(separator: ":").map(String.init) ?? []
        do {
            return try DispatchPluginRegistry(
                directories: DispatchPluginRegistry.defaultDirectories(), extraPaths: extra)
        } catch {
            // A broken plugin next to the binary is no fault of --plugins.
            throw ValidationError(extra.isEmpty ? "\(error)" : "\(plugins.isEmpty ? "MSERVE_PLUGINS" : "--plugins"): \(error)")
        }
    }

    /// Where the algorithm came from, for messages: the flag, else MSERVE_ALGO (else the
    /// default, which the flag would change).
    private var algorithmSource: String {
        algorithm == nil && environment("MSERVE_ALGO") != nil ? "MSERVE_ALGO" : "--algorithm"
    }

    /// Where the routing spec came from, for messages: the flag, else MSERVE_ROUTING.
    private var routingSource: String {
        routing == nil && environment("MSERVE_ROUTING") != nil ? "MSERVE_ROUTING" : "--routing"
    }

    /// --list-algorithms: each plugin's name, description and file.
    private func printAlgorithms(_ registry: DispatchPluginRegistry) {
        // The names in one column as wide as the longest: a name is what --algorithm takes, whole.
        let width = max(14, registry.plugins.map(\.name.count).max() ?? 0)
        for plugin in registry.plugins {
            let hook = plugin.hasRoutingHook ? " [routing hook]" : ""
            let name = plugin.name + String(repeating: " ", count: width - plugin.name.count)
            print("\(name) \(plugin.description)\(hook)")
            print("\(String(repeating: " ", count: width + 1))\(plugin.path)")
        }
    }

    /// The configuration the flags and environment give, each value checked (a usage error
    /// names the flag).
    private func configurationFromFlags() throws -> BrokerConfiguration {
        var configuration = BrokerConfiguration()
        if let given = clients ?? environment("MSERVE_BROKER") {
            try checkBindEndpoint(given, source: clients == nil ? "MSERVE_BROKER" : "--clients")
            configuration.clients.endpoint = given
        }
        configuration.servants.endpoints =
            servants.isEmpty
            ? (environment("MSERVE_SERVANTS")?.split(separator: ",").map(String.init) ?? []) : servants
        let servantSource = servants.isEmpty ? "MSERVE_SERVANTS" : "--servant"
        for endpoint in configuration.servants.endpoints where !ServantEndpoint.isValid(endpoint) {
            throw ValidationError("\(servantSource) '\(endpoint)' is not a servant endpoint: \(ServantEndpoint.forms)")
        }
        // A given endpoint carries no key to pin, so a secured broker could only refuse it.
        if !configuration.servants.endpoints.isEmpty, keyDirectory(securityOptions.keys) != nil {
            let keysSource = keyDirectorySource(securityOptions.keys)
            // A q servant has no key to register either: say so rather than point to the hub.
            let qServants = configuration.servants.endpoints.contains { $0.lowercased().hasPrefix("kdb://") }
            throw ValidationError(
                "\(servantSource) cannot be used with \(keysSource): a secured broker takes its servants, "
                    + "with their keys, from the hub"
                    + (qServants ? "; and it takes no q servants (kdb://) at all: a kdb+ connection cannot prove a CURVE key" : ""))
        }
        configuration.clients.maxMessageSize = try maxMessageSize()
        configuration.clients.maxBufferedReplyBytes = try positiveByteCount(
            clientReplyBuffer, flag: "--client-reply-buffer", variable: "MSERVE_CLIENT_REPLY_BUFFER",
            fallback: BrokerConfiguration.Clients().maxBufferedReplyBytes)
        configuration.clients.maxBufferedReplyBytesTotal = try positiveByteCount(
            clientReplyBufferTotal, flag: "--client-reply-buffer-total", variable: "MSERVE_CLIENT_REPLY_BUFFER_TOTAL",
            fallback: BrokerConfiguration.Clients().maxBufferedReplyBytesTotal)
        // A servant forgets a broker it hears nothing from for a minute, and refuses its queries.
        guard let heartbeatInterval = try? seconds(heartbeat, flag: "--heartbeat"), heartbeatInterval <= Self.longestHeartbeat
        else {
            throw ValidationError(
                "--heartbeat expects a number of seconds from 0.001 to \(Self.longestHeartbeat.components.seconds), got '\(heartbeat)': a servant forgets the session of a broker it hears nothing from for a minute (docs/PROTOCOL.md)")
        }
        configuration.servants.heartbeatInterval = heartbeatInterval
        configuration.servants.livenessTimeout = try seconds(liveness, flag: "--liveness")
        guard redispatch >= 0 else { throw ValidationError("--redispatch must not be negative") }
        configuration.servants.redispatchLimit = redispatch
        configuration.statusInterval = try secondsOrNone(statusEvery, flag: "--status-every")
        guard (1...65_536).contains(servantBatch) else { throw ValidationError("--servant-batch must be from 1 to 65536") }
        configuration.servants.batchLimit = servantBatch
        configuration.dispatch.algorithm = algorithm ?? environment("MSERVE_ALGO") ?? BrokerConfiguration.Dispatch.defaultAlgorithm
        if let spec = routing ?? environment("MSERVE_ROUTING") {
            do {
                configuration.dispatch.routing = try RoutingSpec(parsing: spec)
            } catch {
                throw ValidationError("\(routingSource): \(error)")
            }
        }
        if let names = try allowOption.names() { configuration.dispatch.allowedFunctions = names }
        guard queueCapacity >= 0 else { throw ValidationError("--queue-capacity must not be negative") }
        configuration.dispatch.queueCapacity = queueCapacity
        configuration.dispatch.queueBytes = try positiveByteCount(
            queueBytes, flag: "--queue-bytes", variable: "MSERVE_QUEUE_BYTES", fallback: BrokerConfiguration.Dispatch().queueBytes)
        guard lookAhead >= 1 else { throw ValidationError("--look-ahead must be at least 1") }
        configuration.dispatch.lookAhead = lookAhead
        configuration.dispatch.queryDeadline = try seconds(deadline, flag: "--deadline")
        configuration.dispatch.servantWait = try seconds(waitForServant, flag: "--wait-for-servant")
        configuration.kdb = try kdbOptions.configuration()
        // A secured broker admits only listed keys; a door that anyone may use would undo that.
        if let door = configuration.kdb, keyDirectory(securityOptions.keys) != nil, kdbOptions.usersSource == nil {
            let keysSource = keyDirectorySource(securityOptions.keys)
            throw ValidationError(
                "the kdb+ door (--kdb-port \(door.port)) would let any kdb+ client in without a password, while "
                    + "\(keysSource) admits only listed keys: give --users FILE (a kdb+ -u style file) or --users hub "
                    + "so that kdb+ clients log in, or leave out --kdb-port")
        }
        configuration.servants.kdbCredentials = kdbOptions.servantCredentials
        configuration.servants.kdbCredentialsForAddedServants = kdbOptions.servantAuthToHubServants
        return configuration
    }

    /// Refuses an unknown algorithm or routing plugin before anything is bound, naming the
    /// flag or variable that gave it.
    private func refuseUnknownPlugins(_ configuration: BrokerConfiguration, registry: DispatchPluginRegistry) throws {
        try registry.checkAlgorithm(configuration.dispatch.algorithm, source: algorithmSource, takesExtraFiles: true)
        if let name = configuration.dispatch.routing.pluginName {
            let pluginName = String(name.prefix { $0 != ":" })
            guard registry.plugins.contains(where: { $0.name == pluginName && $0.hasRoutingHook }) else {
                throw ValidationError("\(routingSource) plugin:\(name): no loaded plugin named \(pluginName) has a routing hook")
            }
            do {
                _ = try registry.makeAlgorithm(name)
            } catch {
                throw ValidationError("\(routingSource) plugin:\(name): \(error)")
            }
        }
    }

    /// With --hub, what runs beside the broker: its registration, and the watcher that follows
    /// its service's servants. None without.
    /// The services that register the broker with the hub and follow its service's servants;
    /// `onAutoMode` is given the auto-mode member once made (`--hub auto`).
    private func hubServices(
        of broker: Broker, configuration: BrokerConfiguration, security: ProcessSecurity?, logger: Logger,
        onAutoMode: @escaping @Sendable (HubAutoMode) -> Void
    ) throws -> [any Service] {
        guard let hub = hubOptions.mode else { return [] }
        var services: [any Service] = []
        let service = hubOptions.service
        services.append(
            DeferredService {
                let endpoint = try await broker.clientEndpoint
                // Registered under the address it listens on, as a servant is: the address the
                // hub sees the connection come from may be another of this host's addresses,
                // one the broker does not listen on (a hub reached at a LAN address, clients
                // taken on loopback). Bound to every interface, it lets the hub name it, by the
                // address on the hub's route to it; but a hub on this host would see loopback,
                // which clients on other hosts cannot reach: then it is registered under this
                // host's first address that is not loopback, as a servant bound so is.
                var registration = SpokeRegistration.current(boundAt: endpoint, service: service, role: SpokeRole.broker)
                if MServeServantCommand.bindsEveryInterface(endpoint), !SpokeReachability.isOnAnotherHost(hub: hub.endpoint) {
                    registration.advertisedHost = IPv4Address.firstNonLoopback()
                }
                registration.curveKey = security?.keyPair.publicKey
                let member = try hub.membership(registration, logger: logger, curve: security?.hubKeys)
                if let auto = member as? HubAutoMode { onAutoMode(auto) }
                return member
            })
        // Follow the service's servants: joins are used within a second, leaves dropped.
        if let security {
            services += try BrokerSecurity.services(
                broker: broker, service: service, hub: try ProcessSecurity.hubEndpoint(hub), security: security,
                heartbeatInterval: configuration.servants.heartbeatInterval, logger: logger)
        } else {
            services.append(
                try HubWatcher(
                    service: service, hub: hub.endpoint, logger: logger,
                    onJoin: { broker.addServant(endpoint: $0.endpoint) },
                    onLeave: { broker.servantLeft(endpoint: $0.endpoint) }))
        }
        return services
    }
}
