public import Foundation
import MServeProtocol
import POSIXSockets
import ZeroMQ
public import QData

/// The hub protocol: every message is three frames, `[MSH1, COMMAND, body]`, where the body is
/// an IPC-encoded symbol-keyed q dictionary (see docs/HUB.md).
public enum HubLink {
    /// Frame 1 of every hub message: the protocol's name and version.
    public static let protocolMarker: [UInt8] = Array("MSH1".utf8)
    /// The hub endpoint when none is given (the command line's `MSERVE_HUB` and flags name
    /// others).
    public static let defaultEndpoint = "tcp://127.0.0.1:5560"
}

/// The commands of the hub protocol (frame 2, ASCII).
public enum HubCommand: String, Sendable, CaseIterable {
    /// Spoke → hub: here I am (pid, port, threads, host, … see ``SpokeRegistration``).
    case register = "REGISTER"
    /// Hub → spoke: registered; body `id` (long), `incarnation` (long), `endpoint` (symbol).
    case registered = "REGISTERED"
    /// Spoke → hub: still alive, with memory stats (`used`, `heap`, `peak`, `rss`).
    /// Hub → spoke: the answer, body `incarnation` (long) and `id` (long).
    case heartbeat = "HEARTBEAT"
    /// Hub → spoke: the hub does not know the sender; it should register again.
    case unknown = "UNKNOWN"
    /// Spoke → hub: leaving cleanly, no crash report; or, with `reason` (string), the spoke is
    /// down for that reason and goes to `down` at once.
    case deregister = "DEREGISTER"
    /// Hub → spoke: the answer to DEREGISTER.
    case deregistered = "DEREGISTERED"
    /// Any peer → hub: the live servants of `service`.
    case resolve = "RESOLVE"
    /// Hub → peer: the answer to RESOLVE (see ``ServiceEndpoint``'s q form).
    case resolved = "RESOLVED"
    /// Any peer → hub: follow `service`; repeated every heartbeat interval to stay subscribed.
    case watch = "WATCH"
    /// Hub → watcher: every live servant of the service (the answer to each WATCH).
    case snapshot = "SNAPSHOT"
    /// Hub → watcher: a servant of the watched service joined.
    case join = "JOIN"
    /// Hub → watcher: a servant of the watched service left (deregistered or went down).
    case leave = "LEAVE"
    /// Any peer → hub: one of the tables `spoke`, `memst`, `down`.
    case table = "TABLE"
    /// Hub → peer: the request could not be served; body `message` (string).
    case error = "ERROR"
    /// Admin → hub: admit the CURVE public key `key` (symbol, Z85) under `name` (symbol).
    case allow = "ALLOW"
    /// Admin → hub: stop admitting the key named `name` (symbol).
    case revoke = "REVOKE"
    /// Any peer → hub: the admitted keys. Hub → peer: `name` and `key` symbols, in name order.
    case keys = "KEYS"
    /// Admin → hub: add the kdb+ user `name` (symbol) whose password is kept as `hash` (symbol:
    /// a PBKDF2 hash's text form, or a hex SHA-1 or SHA-256 digest that the hub wraps in one;
    /// `digest` is read when `hash` is absent).
    case addUser = "ADDUSER"
    /// Admin → hub: remove the kdb+ user `name` (symbol).
    case removeUser = "REMOVEUSER"
    /// Any peer → hub: the kdb+ users. Hub → peer: `name` and `hash` symbols, in name order.
    case users = "USERS"

    /// The command's frame bytes.
    public var frame: [UInt8] { Array(rawValue.utf8) }

    /// Reads a command frame; nil for anything else.
    public init?(frame: [UInt8]) {
        guard frame.count <= 16, let text = String(validating: frame, as: UTF8.self) else { return nil }
        self.init(rawValue: text)
    }
}

/// One hub message: a command and its symbol-keyed body.
public struct HubMessage: Sendable {
    /// The text of the ERROR the hub answers a message with when the connection's key is no
    /// longer allowed (revoked): the spoke that sent it says what that means for it.
    public static let keyNoLongerAllowed = "this connection's key is no longer allowed"

    /// The command.
    public var command: HubCommand
    /// The body's entries, in order.
    public var body: [(String, QValue)]

    /// Creates a message.
    public init(_ command: HubCommand, _ body: [(String, QValue)] = []) {
        self.command = command
        self.body = body
    }

    /// The three frames `[MSH1, COMMAND, body]`.
    public var frames: [[UInt8]] {
        [HubLink.protocolMarker, command.frame, QIPC.encode(InfoDictionary.dictionary(body), messageType: .async)]
    }

    /// The largest body a hub message may have, compressed on the wire or once decompressed
    /// (the hub's socket refuses larger frames; its answers, tables among them, may be large).
    public static let largestBody = 16 << 20

    /// The largest body the hub reads in a request, compressed on the wire or once
    /// decompressed: the longest REGISTER, of every text field at its longest, is under
    /// 16 KiB. A larger one is answered with ERROR before it is copied or decoded, so that no
    /// peer holds the hub's loop up with a body of millions of entries.
    public static let largestRequest = 64 << 10

    /// Reads `[MSH1, COMMAND, body]`; an empty body frame is an empty body, as an empty
    /// dictionary is. A body of more than `largestBody` bytes, or a compressed one that would
    /// decompress past it, is refused before anything is allocated for it.
    public init(frames: [[UInt8]], largestBody: Int = Self.largestBody) throws(HubError) {
        guard frames.count == 3 else {
            throw HubError(.malformed, "expected the frames [MSH1, COMMAND, body], got \(frames.count) frames")
        }
        // A peer of another protocol, or of another version of this one, is told so: its
        // frame count may well be right. The peer's bytes are shown printable: the hub logs
        // the message too.
        guard frames[0] == HubLink.protocolMarker else {
            throw HubError(
                .malformed,
                "expected protocol \(String(decoding: HubLink.protocolMarker, as: UTF8.self)), got '\(LogText.printable(frames[0], limit: 16))'")
        }
        guard let command = HubCommand(frame: frames[1]) else {
            throw HubError(.malformed, "unknown hub command '\(LogText.printable(frames[1], limit: 16))'")
        }
        try Self.checkBodySize(frames[2].count, of: command, largestBody: largestBody)
        // An empty body: an empty frame, or an empty dictionary.
        if frames[2].isEmpty {
            self.init(command, [])
            return
        }
        let value: QValue
        do {
            value = try QIPC.decode(frames[2], maximumSize: largestBody).value
        } catch {
            throw HubError(.malformed, "the body of \(command.rawValue) is not a q message: \(error)")
        }
        // Empty keys: `` (`symbol$())!() ``, as the hub sends it, or q's own `()!()`.
        switch value {
        case .dictionary(.vector(.symbol([]), _), _, _), .dictionary(.list([], _), _, _):
            self.init(command, [])
            return
        default:
            break
        }
        guard let entries = InfoDictionary.symbolKeyedEntries(value) else {
            throw HubError(.malformed, "the body of \(command.rawValue) is not a symbol-keyed dictionary")
        }
        self.init(command, entries)
    }

    /// Throws when a body of `size` bytes is past `largestBody`: the hub's loop checks a
    /// request's frame with it before copying the frame.
    static func checkBodySize(_ size: Int, of command: HubCommand, largestBody: Int) throws(HubError) {
        guard size > largestBody else { return }
        throw HubError(
            .malformed, "the body of \(command.rawValue) has \(size) bytes, over the limit of \(largestBody)")
    }

    /// The body's value for `key`.
    public subscript(key: String) -> QValue? {
        body.first(where: { $0.0 == key })?.1
    }

    /// A symbol (or string) entry.
    public func text(_ key: String) -> String? { self[key]?.textValue }
    /// An integer entry of any q integer type.
    public func integer(_ key: String) -> Int64? { self[key]?.integerValue }
}

extension QValue {
    /// A symbol atom or char vector as text; nil for other shapes.
    public var textValue: String? {
        switch self {
        case .atom(.symbol(let text)): return text
        case .vector(.char(let bytes), _): return String(decoding: bytes, as: UTF8.self)
        case .atom(.char(let byte)): return String(decoding: [byte], as: UTF8.self)
        default: return nil
        }
    }

    /// An integer atom of any q integer or temporal type; nil for other shapes.
    public var integerValue: Int64? {
        switch self {
        case .atom(.long(let value)), .atom(.timestamp(let value)), .atom(.timespan(let value)): return value
        case .atom(.int(let value)), .atom(.date(let value)), .atom(.month(let value)): return Int64(value)
        case .atom(.short(let value)): return Int64(value)
        case .atom(.byte(let value)): return Int64(value)
        default: return nil
        }
    }

    /// A q string (char vector) from text.
    public static func string(_ text: String) -> QValue { .vector(.char(Array(text.utf8))) }
}

/// What a process tells the hub about itself (the seed's spoke record).
public struct SpokeRegistration: Sendable, Hashable {
    /// Process id.
    public var pid: Int64
    /// The port the process serves on (0 when it serves none).
    public var port: Int32
    /// Worker threads (queries at once; q's `-s`).
    public var threads: Int32
    /// The address the process believes it has (the hub prefers the address it sees).
    public var address: String
    /// Host name.
    public var host: String
    /// User name.
    public var user: String
    /// The command line (q's `X`).
    public var commandLine: String
    /// Start time as a q timestamp (q's `P`).
    public var startTime: Int64
    /// MServe version (q's `K`).
    public var version: String
    /// Build date as a q date, days since 2000.01.01 (q's `k`).
    public var buildDate: Int32
    /// Working directory.
    public var directory: String
    /// The service the process belongs to, e.g. `dev`.
    public var service: String
    /// `servant`, `broker`, `client` or `hub`.
    public var role: String
    /// The endpoint the process bound, e.g. `tcp://0.0.0.0:40123` (empty when none).
    public var endpoint: String
    /// A host name or address others should use instead of the address the hub sees.
    public var advertisedHost: String?
    /// A unique id of this process's session with hubs, kept across re-registrations.
    public var session: String
    /// The CURVE public key (Z85) the process serves with when security is on; nil otherwise.
    /// Brokers connect to a servant pinned to this key, and only when it is an allowed key.
    public var curveKey: String?

    /// Creates a registration from explicit values.
    public init(
        pid: Int64, port: Int32, threads: Int32, address: String, host: String, user: String,
        commandLine: String, startTime: Int64, version: String, buildDate: Int32, directory: String,
        service: String, role: String, endpoint: String, advertisedHost: String? = nil,
        session: String = UUID().uuidString, curveKey: String? = nil
    ) {
        self.pid = pid
        self.port = port
        self.threads = threads
        self.address = address
        self.host = host
        self.user = user
        self.commandLine = commandLine
        self.startTime = startTime
        self.version = version
        self.buildDate = buildDate
        self.directory = directory
        self.service = service
        self.role = role
        self.endpoint = endpoint
        self.advertisedHost = advertisedHost
        self.session = session
        self.curveKey = curveKey
    }

    /// This process's registration: pid, host, user, command line, start time, version,
    /// build date (the executable's modification date) and directory filled in.
    public static func current(
        port: Int32, threads: Int32 = 1, service: String, role: String, endpoint: String,
        advertisedHost: String? = nil
    ) -> SpokeRegistration {
        let info = ProcessInfo.processInfo
        return SpokeRegistration(
            pid: Int64(getpid()), port: port, threads: threads, address: ProcessStart.localAddress,
            host: info.hostName, user: ProcessStart.userName, commandLine: commandLineShown(CommandLine.arguments),
            startTime: ProcessStart.qTimestamp, version: MServeVersion.current,
            buildDate: ProcessStart.buildDate, directory: FileManager.default.currentDirectoryPath,
            service: service, role: role, endpoint: endpoint, advertisedHost: advertisedHost)
    }

    /// Options whose value is a secret: kept out of the command line a spoke registers.
    public static let secretOptions: Set<String> = ["--servant-auth", "--password"]

    /// `arguments` joined as the command line the hub shows (its `X` column), with the value of
    /// every ``secretOptions`` option (`--servant-auth alice:secret`, `--servant-auth=…`)
    /// replaced by `***` (a `user:` before it kept): the hub shows its tables to every peer
    /// that reaches it, and keeps them on disk, so a password given on the command line must
    /// not travel there.
    public static func commandLineShown(_ arguments: [String]) -> String {
        var shown: [String] = []
        var hideNext = false
        for argument in arguments {
            if hideNext {
                shown.append(hidden(argument))
                hideNext = false
            } else if secretOptions.contains(argument) {
                shown.append(argument)
                hideNext = true
            } else if let equals = argument.firstIndex(of: "="), secretOptions.contains(String(argument[..<equals])) {
                shown.append(String(argument[...equals]) + hidden(String(argument[argument.index(after: equals)...])))
            } else {
                shown.append(argument)
            }
        }
        return shown.joined(separator: " ")
    }

    /// A secret value as shown: `user:***` for `user:password`, else `***`.
    private static func hidden(_ value: String) -> String {
        guard let colon = value.firstIndex(of: ":") else { return "***" }
        return String(value[...colon]) + "***"
    }

    /// The REGISTER body.
    public var entries: [(String, QValue)] {
        [
            ("pid", .atom(.long(pid))), ("port", .atom(.int(port))), ("threads", .atom(.int(threads))),
            ("IP", .atom(.symbol(address))), ("host", .atom(.symbol(host))), ("user", .atom(.symbol(user))),
            ("X", .string(commandLine)), ("P", .atom(.timestamp(startTime))), ("K", .atom(.symbol(version))),
            ("k", .atom(.date(buildDate))), ("dir", .string(directory)), ("service", .atom(.symbol(service))),
            ("role", .atom(.symbol(role))), ("endpoint", .atom(.symbol(endpoint))),
            ("advertise", .atom(.symbol(advertisedHost ?? ""))), ("session", .atom(.symbol(session))),
        ] + (curveKey.map { [("curveKey", .atom(.symbol($0)))] } ?? [])
    }

    /// The REGISTER fields read as integers (any q integer or temporal atom).
    static let integerFields = ["pid", "port", "threads", "P", "k"]
    /// The REGISTER fields read as text (a symbol, a string or a char).
    static let textFields = ["IP", "host", "user", "X", "K", "dir", "service", "role", "endpoint", "advertise", "session", "curveKey"]

    /// Reads a REGISTER body. A missing `session`, `pid` or `role`, or a field of the wrong
    /// type, is an error naming the field; other missing entries get neutral values.
    public init(message: HubMessage) throws(HubError) {
        for field in Self.integerFields {
            if let value = message[field], value.integerValue == nil {
                throw HubError(.malformed, "REGISTER with a \(field) of q type \(value.type): expected an integer (a long)")
            }
        }
        for field in Self.textFields {
            if let value = message[field], value.textValue == nil {
                throw HubError(.malformed, "REGISTER with a \(field) of q type \(value.type): expected a symbol or a string")
            }
        }
        guard let session = message.text("session"), !session.isEmpty else {
            throw HubError(.malformed, "REGISTER without a session")
        }
        guard message["pid"] != nil else { throw HubError(.malformed, "REGISTER without a pid") }
        guard message["role"] != nil else {
            throw HubError(.malformed, "REGISTER without a role (one of \(SpokeRole.all.joined(separator: ", ")))")
        }
        let advertised = message.text("advertise") ?? ""
        self.init(
            pid: message.integer("pid") ?? 0, port: Int32(clamping: message.integer("port") ?? 0),
            threads: Int32(clamping: message.integer("threads") ?? 1), address: message.text("IP") ?? "",
            host: message.text("host") ?? "", user: message.text("user") ?? "", commandLine: message.text("X") ?? "",
            startTime: message.integer("P") ?? 0, version: message.text("K") ?? "",
            buildDate: Int32(clamping: message.integer("k") ?? 0), directory: message.text("dir") ?? "",
            service: message.text("service") ?? "", role: message.text("role") ?? "",
            endpoint: message.text("endpoint") ?? "", advertisedHost: advertised.isEmpty ? nil : advertised,
            session: session)
        if let key = message.text("curveKey"), !key.isEmpty { curveKey = key }
    }
}

extension SpokeRegistration {
    /// The longest text field the hub takes, in UTF-8 bytes: the command line (`X`), the
    /// directory and a DEREGISTER's reason.
    public static let longestText = 4_096
    /// The longest name-like field (host, user, service, role, endpoint, …), in UTF-8 bytes.
    public static let longestName = 255
    /// How far in the future a start time may lie (clocks of two hosts differ a little).
    public static let startTimeSkew: Duration = .seconds(60)
    /// The largest pid the hub takes (Linux's pid_max is at most 2^22).
    public static let largestPID: Int64 = Int64(Int32.max)

    /// Refuses a registration no real process would send: a role outside ``SpokeRole/all``,
    /// a pid ≤ 0, a port outside 0…65535, a negative thread count, a start time more than
    /// ``startTimeSkew`` after `nowTimestamp` (a q timestamp), or a text field that is too
    /// long (``longestName``, ``longestText``) or holds control or bidirectional formatting
    /// characters, or an advertised host that is not a host name or IP address.
    public func validate(nowTimestamp: Int64) throws(HubError) {
        guard SpokeRole.all.contains(role) else {
            throw HubError(
                .malformed,
                "REGISTER with role '\(String(role.prefix(32)))': the role must be one of \(SpokeRole.all.joined(separator: ", "))")
        }
        guard pid > 0, pid <= Self.largestPID else {
            throw HubError(.malformed, "REGISTER with pid \(pid): a pid is a positive process id")
        }
        guard (0...65_535).contains(port) else {
            throw HubError(.malformed, "REGISTER with port \(port): a port is 0…65535")
        }
        guard threads >= 0 else {
            throw HubError(.malformed, "REGISTER with \(threads) threads")
        }
        if role == SpokeRole.servant {
            // Brokers are given tcp://IP:port (kdb://IP:port): without its port a servant could
            // be registered, and never used.
            guard port > 0 else {
                throw HubError(
                    .malformed,
                    "REGISTER with no port for a servant: a servant registers the port it bound (1…65535), which brokers are given as tcp://IP:port")
            }
            if let named = ZMQEndpoint(endpoint)?.port(in: 0...65_535), named != Int(port) {
                throw HubError(
                    .malformed,
                    "REGISTER with a servant endpoint \(String(endpoint.prefix(64))) naming another port than its port \(port): brokers are given the port")
            }
        }
        guard startTime <= nowTimestamp &+ Int64(Self.startTimeSkew.nanoseconds) else {
            throw HubError(.malformed, "REGISTER with a start time (P) in the future")
        }
        let names: [(String, String)] = [
            ("IP", address), ("host", host), ("user", user), ("K", version), ("service", service),
            ("endpoint", endpoint), ("advertise", advertisedHost ?? ""), ("session", session), ("curveKey", curveKey ?? ""),
        ]
        for (field, text) in names {
            if let problem = Self.textProblem(text, field: field, longest: Self.longestName) {
                throw HubError(.malformed, "REGISTER with \(problem)")
            }
        }
        if let advertisedHost, !advertisedHost.isEmpty,
            !advertisedHost.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || ".-_:%".unicodeScalars.contains($0)) })
        {
            throw HubError(.malformed, "REGISTER with an advertise that is no host name or IP address")
        }
        for (field, text) in [("X", commandLine), ("dir", directory)] {
            if let problem = Self.textProblem(text, field: field, longest: Self.longestText) {
                throw HubError(.malformed, "REGISTER with \(problem)")
            }
        }
    }

    /// What is wrong with the text of `field`: longer than `longest` UTF-8 bytes, or holding a
    /// control character or a bidirectional formatting one (it is shown in tables and logs,
    /// where a right-to-left override, U+202E, would show it reversed); nil when nothing is.
    /// Other format characters pass: zero-width joiners belong to Persian, Indic and emoji
    /// text.
    public static func textProblem(_ text: String, field: String, longest: Int) -> String? {
        if text.utf8.count > longest { return "a \(field) of \(text.utf8.count) bytes (at most \(longest))" }
        if text.unicodeScalars.contains(where: {
            switch $0.properties.generalCategory {
            case .control, .lineSeparator, .paragraphSeparator: true
            default: $0.properties.isBidiControl
            }
        }) {
            return "a \(field) holding control or bidirectional formatting characters"
        }
        return nil
    }
}

/// The roles a spoke can have.
public enum SpokeRole {
    /// Serves queries.
    public static let servant = "servant"
    /// Balances queries over servants.
    public static let broker = "broker"
    /// Sends queries.
    public static let client = "client"
    /// Serves the hub.
    public static let hub = "hub"
    /// Every role the hub takes in a REGISTER.
    public static let all = [servant, broker, client, hub]
}

/// A live servant of a service, as the hub resolves it.
public struct ServiceEndpoint: Sendable, Hashable {
    /// The endpoint to connect to, `tcp://host:port`.
    public var endpoint: String
    /// Its display name, `host:port`.
    public var name: String
    /// Its spoke id in the hub.
    public var spokeID: Int64
    /// Its worker threads.
    public var threads: Int32
    /// The CURVE public key it serves with (security on); nil when it registered none.
    public var curveKey: String?

    /// Creates an endpoint record.
    public init(endpoint: String, name: String, spokeID: Int64, threads: Int32, curveKey: String? = nil) {
        self.endpoint = endpoint
        self.name = name
        self.spokeID = spokeID
        self.threads = threads
        self.curveKey = curveKey
    }

    /// The body entries of a JOIN or LEAVE.
    func entries(service: String) -> [(String, QValue)] {
        [
            ("service", .atom(.symbol(service))), ("endpoint", .atom(.symbol(endpoint))),
            ("name", .atom(.symbol(name))), ("id", .atom(.long(spokeID))), ("threads", .atom(.int(threads))),
            ("curveKey", .atom(.symbol(curveKey ?? ""))),
        ]
    }

    /// Reads a JOIN or LEAVE body.
    init?(message: HubMessage) {
        guard let endpoint = message.text("endpoint") else { return nil }
        let key = message.text("curveKey") ?? ""
        self.init(
            endpoint: endpoint, name: message.text("name") ?? endpoint, spokeID: message.integer("id") ?? 0,
            threads: Int32(clamping: message.integer("threads") ?? 1), curveKey: key.isEmpty ? nil : key)
    }

    /// The body entries of a RESOLVED or SNAPSHOT: `service`, then the vectors `endpoint`,
    /// `name`, `id`, `threads`.
    static func listEntries(service: String, incarnation: UInt64, _ endpoints: [ServiceEndpoint]) -> [(String, QValue)] {
        [
            ("service", .atom(.symbol(service))),
            ("incarnation", .atom(.long(Int64(bitPattern: incarnation)))),
            ("endpoint", .vector(.symbol(endpoints.map(\.endpoint)))),
            ("name", .vector(.symbol(endpoints.map(\.name)))),
            ("id", .vector(.long(endpoints.map(\.spokeID)))),
            ("threads", .vector(.int(endpoints.map(\.threads)))),
            ("curveKey", .vector(.symbol(endpoints.map { $0.curveKey ?? "" }))),
        ]
    }

    /// Reads a RESOLVED or SNAPSHOT body.
    static func list(from message: HubMessage) throws(HubError) -> [ServiceEndpoint] {
        guard case .vector(.symbol(let endpoints), _)? = message["endpoint"] else {
            if case .vector(_, _)? = message["endpoint"] { return [] }  // an empty list of any type
            if case .list(let items, _)? = message["endpoint"], items.isEmpty { return [] }
            throw HubError(.malformed, "\(message.command.rawValue) without an endpoint list")
        }
        var names = endpoints
        if case .vector(.symbol(let given), _)? = message["name"], given.count == endpoints.count { names = given }
        var ids = [Int64](repeating: 0, count: endpoints.count)
        if case .vector(.long(let given), _)? = message["id"], given.count == endpoints.count { ids = given }
        var threads = [Int32](repeating: 1, count: endpoints.count)
        if case .vector(.int(let given), _)? = message["threads"], given.count == endpoints.count { threads = given }
        var keys = [String](repeating: "", count: endpoints.count)
        if case .vector(.symbol(let given), _)? = message["curveKey"], given.count == endpoints.count { keys = given }
        return endpoints.indices.map {
            ServiceEndpoint(
                endpoint: endpoints[$0], name: names[$0], spokeID: ids[$0], threads: threads[$0],
                curveKey: keys[$0].isEmpty ? nil : keys[$0])
        }
    }
}

/// Facts about this process fixed at start.
enum ProcessStart {
    /// When this process first asked (close to its start), as a q timestamp.
    static let qTimestamp: Int64 = {
        // /proc/self/stat field 22 is the start time in clock ticks since boot.
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let closing = stat.lastIndex(of: ")")
        {
            let fields = stat[stat.index(after: closing)...].split(separator: " ")
            let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
            if fields.count > 19, let ticks = Double(fields[19]), ticksPerSecond > 0,
                let uptimeText = try? String(contentsOfFile: "/proc/uptime", encoding: .utf8),
                let uptime = Double(uptimeText.split(separator: " ").first ?? "")
            {
                let ageNanoseconds = Int64((uptime - ticks / ticksPerSecond) * 1e9)
                return QueryClock.qTimestampNow() - max(0, ageNanoseconds)
            }
        }
        return QueryClock.qTimestampNow()
    }()

    /// The executable's modification date as a q date (days since 2000.01.01).
    static let buildDate: Int32 = {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
        return Int32((modified.timeIntervalSince1970 - Double(QueryClock.qEpochOffsetSeconds)) / 86_400)
    }()

    /// The name of the user this process runs as, from the system's user database (not from
    /// `USER` or `LOGNAME`, which the caller's environment sets to anything), else the uid.
    static let userName: String = {
        let name = NSUserName()
        return name.isEmpty ? String(geteuid()) : name
    }()

    /// This host's first non-loopback IPv4 address, or 127.0.0.1.
    static let localAddress: String = IPv4Address.firstNonLoopback() ?? "127.0.0.1"
}
