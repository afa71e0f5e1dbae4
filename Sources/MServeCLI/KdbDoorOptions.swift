import ArgumentParser
import MServeBroker

/// The broker's kdb+ IPC flags: the door for q clients, and logging in to q servants.
struct KdbDoorOptions: ParsableArguments {
    // `parsing: .unconditional`: `--kdb-port -1` meets the port's range check, not "Missing value".
    @Option(name: .customLong("kdb-port"), parsing: .unconditional, help: ArgumentHelp("Also listen for kdb+ IPC clients on [HOST:]PORT (HOST: an IPv4 address, * for all, or a name; default 127.0.0.1; env MSERVE_KDB_PORT).", valueName: "port"))
    var port: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("kdb+ -u style users file (user:password; a password of 40 or 64 hex digits is the SHA-1 or SHA-256 of the password, anything else the password itself), or 'hub': the users of the --hub, refreshed every second (env MSERVE_USERS). Required with --keys.", valueName: "file|hub"))
    var users: String?

    // `parsing: .unconditional`: a negative number is read as the value, and refused by its check.
    @Option(name: .customLong("kdb-max-message"), parsing: .unconditional, help: ArgumentHelp("Bytes a kdb+ client message may have; larger closes the connection (default \(Self.defaults.maxMessageSize)).", valueName: "bytes"))
    var maxMessage: Int?

    @Option(name: .customLong("kdb-reply-buffer"), parsing: .unconditional, help: ArgumentHelp("Reply bytes buffered for a kdb+ client that does not read before it is disconnected (default \(Self.defaults.maxBufferedReplyBytes)).", valueName: "bytes"))
    var replyBuffer: Int?

    @Option(name: .customLong("kdb-max-connections"), parsing: .unconditional, help: ArgumentHelp("kdb+ client connections open at once; one more is closed when it comes (default \(Self.defaults.maxConnections)). The last quarter is kept for addresses holding fewer than \(KdbConnectionLimits.fewConnections), the new one counted.", valueName: "count"))
    var maxConnections: Int?

    @Option(name: .customLong("kdb-max-per-address"), parsing: .unconditional, help: ArgumentHelp("kdb+ client connections one peer address may hold at once (default a quarter of --kdb-max-connections, at least 4; clients on the broker's host all come from 127.0.0.1).", valueName: "count"))
    var maxPerAddress: Int?

    @Option(name: .customLong("kdb-idle-timeout"), parsing: .unconditional, help: ArgumentHelp("Seconds a logged-in kdb+ client may send nothing (with no reply owed to it) before it is disconnected (default 0: never, as a q process never closes idle handles).", valueName: "seconds"))
    var idleTimeout: String?

    @Option(name: .customLong("servant-auth"), parsing: .unconditional, help: ArgumentHelp("user:password for the q servants (kdb://host:port) the broker logs in to; a user alone has no password, as kdb+ allows (env MSERVE_SERVANT_AUTH).", valueName: "user:password"))
    var servantAuth: String?

    @Flag(name: .customLong("servant-auth-hub"), help: ArgumentHelp("Send --servant-auth to the q servants the hub lists too, not only to those given with --servant. Without keys anyone who can register with the hub can list a q servant of their own there and receive the password: give it only for a hub no one else can reach."))
    var servantAuthToHubServants = false

    /// The credentials for q servants (flag or MSERVE_SERVANT_AUTH; empty: none).
    var servantCredentials: String { servantAuth ?? environment("MSERVE_SERVANT_AUTH") ?? "" }

    /// The door's limits when no flag sets them.
    private static let defaults = BrokerConfiguration.Kdb(port: 0)

    /// The door options given, by the flag or variable that gave them.
    private var doorSettingsGiven: [String] {
        var given: [String] = []
        if users != nil {
            given.append("--users")
        } else if environment("MSERVE_USERS") != nil {
            given.append("MSERVE_USERS")
        }
        if maxMessage != nil { given.append("--kdb-max-message") }
        if replyBuffer != nil { given.append("--kdb-reply-buffer") }
        if maxConnections != nil { given.append("--kdb-max-connections") }
        if maxPerAddress != nil { given.append("--kdb-max-per-address") }
        if idleTimeout != nil { given.append("--kdb-idle-timeout") }
        return given
    }

    /// Where the users come from (flag or MSERVE_USERS), nil when from nowhere.
    var usersSource: String? { users ?? environment("MSERVE_USERS") }

    /// The door's configuration, nil when no port was given (flag or MSERVE_KDB_PORT); a usage
    /// error when a door setting is given without a port, as it would do nothing.
    func configuration() throws -> BrokerConfiguration.Kdb? {
        guard let text = port ?? environment("MSERVE_KDB_PORT") else {
            if let setting = doorSettingsGiven.first {
                throw ValidationError("\(setting) needs --kdb-port (or MSERVE_KDB_PORT): without a port there is no kdb+ door")
            }
            return nil
        }
        var door: BrokerConfiguration.Kdb
        do {
            door = try BrokerConfiguration.Kdb(parsing: text)
        } catch {
            throw ValidationError("\(port == nil ? "MSERVE_KDB_PORT" : "--kdb-port"): \(error)")
        }
        let source = users ?? environment("MSERVE_USERS")
        if source == "hub" {
            door.userList = KdbUserList()
        } else if let path = source {
            door.usersFile = path
            do {
                _ = try KdbUsers(contentsOf: path)
            } catch {
                throw ValidationError("\(users == nil ? "MSERVE_USERS" : "--users"): \(error)")
            }
        }
        let maxMessage = maxMessage ?? Self.defaults.maxMessageSize
        guard maxMessage >= 9 else {
            throw ValidationError("--kdb-max-message must be at least 9 bytes (an IPC header and a byte), got \(maxMessage)")
        }
        let replyBuffer = replyBuffer ?? Self.defaults.maxBufferedReplyBytes
        guard replyBuffer >= 1 else { throw ValidationError("--kdb-reply-buffer must be positive, got \(replyBuffer)") }
        let maxConnections = maxConnections ?? Self.defaults.maxConnections
        guard maxConnections >= 1 else {
            throw ValidationError("--kdb-max-connections must be at least 1, got \(maxConnections)")
        }
        door.maxConnections = maxConnections
        if let maxPerAddress {
            guard maxPerAddress >= 1 else {
                throw ValidationError("--kdb-max-per-address must be at least 1, got \(maxPerAddress)")
            }
            door.maxConnectionsPerAddress = maxPerAddress
        }
        if let idleTimeout, let duration = try secondsOrNone(idleTimeout, flag: "--kdb-idle-timeout") {
            door.idleTimeout = UInt64(duration.components.seconds) * 1_000_000_000
                + UInt64(duration.components.attoseconds / 1_000_000_000)
        }
        door.maxMessageSize = maxMessage
        door.maxBufferedReplyBytes = replyBuffer
        return door
    }
}
