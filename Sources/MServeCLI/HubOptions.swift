import ArgumentParser
import Foundation
import Logging
import MServeBroker
import MServeHub
import ServiceLifecycle
import ZeroMQ

/// How a long-running process takes part in the hub: `--hub ENDPOINT`, `--hub auto`
/// (serve the hub if its port is free, else join it; where: `--hub-endpoint`, else
/// `MSERVE_HUB`, else the default endpoint) or `--hub none`.
struct HubOptions: ParsableArguments {
    @Option(
        name: .long,
        parsing: .unconditional,
        help: ArgumentHelp(
            "Hub to register with: an endpoint, 'auto' (serve the hub if its port is free, else join it; served from the hub directory MSERVE_HUB_DIR, default ~/.mserve/hub), or 'none' (env MSERVE_HUB; default none).",
            valueName: "endpoint|auto|none"))
    var hub: String?

    @Option(
        name: .long,
        parsing: .unconditional,
        help: ArgumentHelp(
            "With --hub auto: the endpoint the hub is served at, or joined at when another process serves it (default: MSERVE_HUB when it names an endpoint, else \(HubLink.defaultEndpoint)).",
            valueName: "endpoint"))
    var hubEndpoint: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The service this process belongs to.", valueName: "name"))
    var service: String = "default"

    /// Refuses, before anything is bound, a hub that is none of an endpoint, `auto` or `none`,
    /// and a service name that is empty or holds blanks.
    func validate() throws {
        try checkServiceName(service)
        let value = hub ?? HubEnvironment.setting ?? "none"
        guard value == "none" || value == "auto" || isHubEndpoint(value) else {
            throw ValidationError(
                "\(hub == nil ? "MSERVE_HUB" : "--hub") '\(value)' is not a hub: an endpoint such as "
                    + "\(HubLink.defaultEndpoint), 'auto' or 'none'")
        }
        if let hubEndpoint {
            guard value == "auto" else {
                throw ValidationError(
                    "--hub-endpoint goes with --hub auto (it says where the hub is served); "
                        + "to join a hub elsewhere, give its endpoint to --hub")
            }
            guard isHubEndpoint(hubEndpoint) else {
                throw ValidationError(
                    "--hub-endpoint '\(hubEndpoint)' is not a hub endpoint: one such as \(HubLink.defaultEndpoint)")
            }
        }
    }

    /// The hub setting: nil when the process stays out of the hub.
    var mode: HubMode? {
        let value = hub ?? HubEnvironment.setting ?? "none"
        switch value {
        case "none", "": return nil
        case "auto":
            var configuration = HubConfiguration(endpoint: hubEndpoint ?? HubEnvironment.endpoint, directory: HubEnvironment.directory)
            configuration.directorySettings = "MSERVE_HUB_DIR"
            return .auto(configuration)
        default: return .connect(HubAutoMode.connectableEndpoint(value))
        }
    }
}

extension HubOptions {
    /// The port of the hub endpoint, for ``warnOfEphemeralPorts(_:logger:ephemeral:)``: the
    /// hub this process joins, when it is on this host, or the one it serves in auto mode.
    var fixedPort: FixedPort? {
        guard let mode else { return nil }
        let source: String
        switch mode {
        case .connect: source = hub == nil ? "MSERVE_HUB" : "--hub"
        case .auto:
            source =
                hubEndpoint != nil ? "--hub-endpoint"
                : HubEnvironment.endpoint == HubEnvironment.setting ? "MSERVE_HUB" : "the default hub endpoint"
        }
        return mode.fixedPort(source: source)
    }
}

/// The hub settings of the environment, read here and only here: the libraries take values.
enum HubEnvironment {
    /// `MSERVE_HUB` as set: an endpoint, `auto` or `none`; nil when unset or empty.
    static var setting: String? { environment("MSERVE_HUB") }

    /// The hub endpoint `MSERVE_HUB` names; ``HubLink/defaultEndpoint`` when it is unset or
    /// names no endpoint (`auto`, `none`: how a process takes part, not where the hub is).
    static var endpoint: String {
        guard let setting, setting != "auto", setting != "none" else { return HubLink.defaultEndpoint }
        return setting
    }

    /// ``endpoint``, once `check` (given the value and the variable's name) has accepted it
    /// when `MSERVE_HUB` names it: a malformed value is refused as the flag it stands for is.
    static func checkedEndpoint(_ check: (_ value: String, _ source: String) throws -> Void) throws -> String {
        let endpoint = self.endpoint
        if endpoint == setting { try check(endpoint, "MSERVE_HUB") }
        return endpoint
    }

    /// The hub directory: `MSERVE_HUB_DIR`, else `~/.mserve/hub`.
    static var directory: String { environment("MSERVE_HUB_DIR") ?? HubConfiguration.directory(home: homeDirectory) }
}

/// Whether `value` is an endpoint of a hub to connect to: tcp://HOST:PORT and the like
/// (``ServantEndpoint/isValid(_:)``), not a q servant's kdb://HOST:PORT. A host `*` is taken as
/// this host's loopback (``HubAutoMode/connectableEndpoint(_:)``): `MSERVE_HUB` is shared by
/// the hub, which binds it, and the processes that connect to it.
func isHubEndpoint(_ value: String) -> Bool {
    ServantEndpoint.isValid(HubAutoMode.connectableEndpoint(value)) && !value.lowercased().hasPrefix("kdb://")
}

/// Refuses, as a usage error naming `source` (the flag or variable), a `value` that is no
/// endpoint to connect to; `kind` says what it should have been ("a hub endpoint"). A hub
/// endpoint may name the host `*` (``isHubEndpoint(_:)``); any other must name a host.
func checkConnectEndpoint(_ value: String, source: String, kind: String, hub: Bool = false) throws {
    let valid = hub ? isHubEndpoint(value) : ServantEndpoint.isValid(value) && !value.lowercased().hasPrefix("kdb://")
    guard valid else {
        throw ValidationError(
            "\(source) '\(value)' is not \(kind): tcp://HOST:PORT (HOST an address or a name\(hub ? "" : ", not * nor [::]"); "
                + "a port from 1 to 65535) or ipc://PATH")
    }
}

/// Refuses an empty `--service` name, or one with blanks or control characters: the hub
/// would register and resolve it, but no command line could name it plainly.
func checkServiceName(_ name: String) throws {
    guard !name.isEmpty, !name.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F })
    else {
        throw ValidationError("--service '\(name)' is not a service name: a name without blanks, such as default or trades-eu")
    }
}

/// Refuses, as a usage error naming `source` (the flag or variable), a `value` that is no
/// endpoint to bind: `tcp://HOST:PORT` (PORT from 0 to 65535, or `*`; HOST `*` for every
/// interface, an IPv6 address in brackets) or `ipc://PATH`. Not `inproc://`: no other process
/// could reach it.
func checkBindEndpoint(_ value: String, source: String) throws {
    let valid: Bool
    if let parsed = ZMQEndpoint(value) {
        switch parsed.scheme {
        case "tcp":
            valid =
                !(parsed.host ?? "").isEmpty && parsed.hostIsWellFormed
                && (parsed.portText == "*" || parsed.port(in: 0...65_535) != nil)
        case "ipc":
            valid = !parsed.address.isEmpty
        default:
            valid = false
        }
    } else {
        valid = false
    }
    guard valid else {
        throw ValidationError(
            "\(source) '\(value)' is not an endpoint to bind: tcp://HOST:PORT (HOST an address, [::1] for IPv6, a name "
                + "or * for every interface; PORT from 0 to 65535, 0 for any free one) or ipc://PATH")
    }
}

/// Where a process's hub is.
enum HubMode: Sendable {
    /// Connect to the hub at this endpoint.
    case connect(String)
    /// Serve the hub when its port is free, else connect to it (the quickstart's default).
    case auto(HubConfiguration)

    /// The endpoint to ask the hub things at.
    var endpoint: String {
        switch self {
        case .connect(let endpoint): endpoint
        case .auto(let configuration): HubAutoMode.connectableEndpoint(configuration.endpoint)
        }
    }

    /// The service that keeps this process registered (and, in auto mode, may serve the hub).
    /// `curve` holds the hub's key and this process's when security is on (connect mode only).
    func membership(_ registration: SpokeRegistration, logger: Logger, curve: ZMQCurveClientKeys? = nil) throws -> any Service {
        switch self {
        case .connect(let endpoint): try SpokeAgent(hub: endpoint, registration: registration, curve: curve, logger: logger)
        case .auto(let configuration):
            // The hub this process serves has no keys: bound where other hosts reach it, said
            // as `mserve hub --bind` says it.
            try HubAutoMode(configuration: configuration, registration: registration, logger: logger) { bound in
                if let warning = UnsecuredDoor.autoModeHub(configuration.endpoint).warning(bound: bound) {
                    logger.warning("\(warning)")
                }
            }
        }
    }
}

/// A service made only once something else is ready (e.g. registration needs the bound port).
struct DeferredService: Service {
    let make: @Sendable () async throws -> any Service

    func run() async throws {
        let service: any Service
        do {
            service = try await make()
        } catch is CancellationError {
            return
        }
        try await service.run()
    }
}

/// The port of `tcp://host:port`.
func port(of endpoint: String) -> Int32 {
    ZMQEndpoint(endpoint)?.portText.flatMap { Int32($0) } ?? 0
}

