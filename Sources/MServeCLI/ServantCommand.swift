import ArgumentParser
import Foundation
import Logging
import MServeHub
import MServeServant
import ServiceLifecycle

struct ServantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "servant",
        abstract: "Run a servant serving the demo API (proc1, proc2, proc3, echo, sleep, fail, pid).",
        discussion: """
            Binds an OS-chosen free port unless --bind names one, prints the endpoint brokers
            should connect to on the first line of standard output, then logs to standard
            error. Only registered functions run, and only on literal arguments.
            Stops cleanly on SIGTERM or SIGINT, finishing the queries it is running.
            """)

    @Option(name: .long, help: ArgumentHelp("Endpoint to bind.", valueName: "endpoint"))
    var bind: String = "tcp://*:0"

    @Option(name: [.customShort("s"), .long], help: "Worker threads: queries run at once (like q's -s).")
    var threads: Int = 1

    @Option(name: .long, help: "Name brokers show for this servant (default host:port).")
    var name: String?

    @Option(name: .long, help: ArgumentHelp("Host name or address other hosts reach this servant at.", valueName: "host"))
    var advertise: String?

    @OptionGroup var hubOptions: HubOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be from 1 to 1024") }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "mserve.servant")
        var configuration = ServantConfiguration()
        configuration.endpoint = bind
        configuration.threads = threads
        configuration.name = name
        configuration.advertisedHost = advertise
        configuration.service = hubOptions.service
        let servant = try Servant(configuration: configuration, functions: DemoFunctions.registry(), logger: logger)
        var services: [any Service] = [servant]
        if let hub = hubOptions.mode {
            let (threads, service, advertise) = (self.threads, hubOptions.service, self.advertise)
            services.append(
                DeferredService {
                    let endpoint = try await servant.endpoint
                    let registration = SpokeRegistration.current(
                        port: port(of: endpoint), threads: Int32(threads), service: service, role: SpokeRole.servant,
                        endpoint: endpoint, advertisedHost: advertise)
                    return try hub.membership(registration, logger: logger)
                })
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        async let running: Void = group.run()
        do {
            announce(try await servant.endpoint)
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running
            throw error
        }
        try await running
    }
}
