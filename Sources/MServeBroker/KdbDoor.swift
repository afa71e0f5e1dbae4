import Logging
import MServePasswords
import MServeProtocol
import POSIXSockets
import QData
import ZeroMQ

/// How a reply goes back to the client that sent the query.
enum ReplyRoute {
    /// A ZeroMQ client: the ROUTER envelope to send the reply under.
    case zmq(envelope: [[UInt8]])
    /// A kdb+ IPC client: its connection and the form its reply takes.
    case kdb(connection: UInt64, form: KdbReplyForm)
}

/// A query the door read, ready for the broker's dispatch path.
struct KdbDoorQuery {
    /// Where the reply goes.
    var route: ReplyRoute
    /// The async IPC message `(id; query)` (or the bytes as they came, if they are malformed).
    var message: [UInt8]
    /// The size of the message as it came on the wire (header included, compressed if it was),
    /// for the client byte count: `message` may have been written again.
    var receivedBytes: Int

    /// Whether the client waits for its answer as the response to a sync message.
    var isSync: Bool {
        if case .kdb(_, let form) = route { return form != .async }
        return false
    }
}

/// The kdb+ IPC door: a TCP listener that speaks the kdb+ handshake and message framing, so
/// q sessions, pykx, qpython and kola reach the broker unchanged.
///
/// It polls raw descriptors in the broker's poll set (`ZMQPoller.add(fileDescriptor:)`)
/// rather than a ZeroMQ STREAM socket: with its own sockets the door sees each connection's
/// exact output backlog (a STREAM socket hides it behind libzmq's pipes and high-water
/// marks), closes one connection at once, knows the peer address for the compression rule,
/// and needs no extra thread — the broker's loop stays the only owner of all state. (Only
/// passwords checked against the hub's slow hashes go to ``KdbLoginChecker``'s thread, and
/// come back through its wake signal in the same poll set.)
final class KdbDoor {
    private struct Connection {
        var stream: KdbStream
        var peer: String
        /// The peer's address without its port: what the per-address limit counts.
        var address: String
        var loopback: Bool
        var acceptedAt: UInt64
        /// The capability byte agreed in the handshake; nil until the handshake is done.
        var capability: UInt8?
        /// The user logged in, with the stored password it logged in against (nil when the
        /// door has no users); the connection is closed when the user's entry changes.
        var login: (user: String, stored: StoredPassword)?
        /// A handshake whose password is being checked against a slow hash.
        var checking: PendingLogin?
        /// When the client last sent a message or was last sent a reply.
        var lastActivity: UInt64
        /// Queries handed on for which no reply was sent yet: a connection that awaits one is
        /// not idle.
        var awaitingReplies = 0
        /// A sync message was handed on and its response is not sent yet. Nothing more is read
        /// from the connection meanwhile: a kdb+ response carries no id, so a client matches
        /// responses to its sync messages by their order, and q handles one message at a
        /// time. What came after it waits, in the stream and then in the socket.
        var syncInFlight = false
    }

    /// A handshake waiting for ``KdbLoginChecker``.
    private struct PendingLogin {
        var user: String
        var stored: StoredPassword
        var capability: UInt8
        /// Bytes of input the handshake takes, its NUL included.
        var length: Int
    }

    private let configuration: BrokerConfiguration.Kdb
    private let users: KdbUsers?
    private let limits: KdbConnectionLimits
    /// Open connections by peer address.
    private var connectionsByAddress: [String: Int] = [:]
    /// Checks logins against slow hashes (the hub's users) off the loop.
    private let loginChecker: KdbLoginChecker
    /// The hub user list's generation the open connections were last checked against.
    private var checkedUsersGeneration: UInt64 = 0
    /// With the hub's users, what a login as an unknown user is checked against: a slow hash
    /// of a random password, which nothing matches and no user has. The refusal then takes as
    /// long as a wrong password's, so its timing does not tell which user names exist.
    private let unknownUserStandIn: StoredPassword?
    private var logger: Logger
    private let listener: Int32
    /// The port the door listens on (the real one when port 0 was asked for).
    let port: Int
    private var connections: [UInt64: Connection] = [:]
    /// Connections whose sync response was sent while more input waited in their stream: read
    /// on at the next ``service(_:now:onQuery:)``, with no poll event to wake it.
    private var resumable: [UInt64] = []
    private var nextConnectionID: UInt64 = 1
    /// Poll items registered in the last ``register(in:)``: the listener first, then connections.
    private var registered: [UInt64] = []
    private var firstIndex = 0

    /// While accepting fails (out of file descriptors, say), the listener is left out of the
    /// poll set until then: its pending connection would wake every poll at once.
    private var acceptPausedUntil: UInt64 = 0
    private var refusedConnectionLog = LogThrottle()
    /// Connections accepted and refused, logins refused (BrokerMetrics.swift).
    private(set) var metrics = KdbDoorMetrics()
    private var acceptFailureLog = LogThrottle()
    private var closedConnectionLog = LogThrottle()
    /// Connections closed with replies still due to them, since ``takeClosedWithRepliesDue()``.
    private var closedWithRepliesDue: [UInt64] = []
    /// How long the listener rests after accepting failed.
    static let acceptPause: UInt64 = 100_000_000

    /// The longest handshake accepted, in bytes: `user:password`, the capability byte and the NUL.
    static let maxHandshakeLength = 1_024
    /// Nanoseconds a connection may take to finish its handshake.
    static let handshakeTimeout: UInt64 = 10_000_000_000

    init(configuration: BrokerConfiguration.Kdb, logger: Logger) throws(BrokerError) {
        self.configuration = configuration
        self.logger = logger
        limits = configuration.connectionLimits
        unknownUserStandIn =
            configuration.userList == nil
            ? nil : .hashed(PasswordHash(password: PasswordDigest.hex(PasswordFingerprinter().fingerprint("unknown"))))
        do {
            loginChecker = try KdbLoginChecker()
        } catch {
            throw BrokerError(.socket, "the kdb+ IPC door: \(error)")
        }
        if let path = configuration.usersFile {
            users = try KdbUsers(contentsOf: path)
        } else {
            users = configuration.users
        }
        do {
            (listener, port) = try TCPSocket.listen(host: configuration.host, port: configuration.port)
        } catch {
            // A bad host is the configuration's fault; a port in use, the system's.
            throw BrokerError(error.code == .systemCall ? .socket : .configuration, "the kdb+ IPC door: \(error.message)")
        }
        self.logger[metadataKey: "kdbPort"] = "\(port)"
        self.logger.info("kdb+ IPC door listening", metadata: ["host": "\(configuration.host)"])
        // Open to other machines with no password, it takes anyone's queries: said once, at start.
        let onLoopback = TCPSocket.boundAddress(listener).map(IPv4Address.isLoopback) ?? false
        if !onLoopback, users == nil, configuration.userList == nil {
            self.logger.warning(
                "the kdb+ door listens on \(configuration.host):\(port) without --users: anyone who reaches it can send queries; give --users FILE or --users hub, or bind it to loopback")
        }
        if let users, users.passwords.isEmpty {
            self.logger.warning(
                "the users file lists no users: every kdb+ login is refused",
                metadata: ["file": "\(configuration.usersFile ?? "")"])
        }
    }

    /// The number of open connections.
    var connectionCount: Int { connections.count }

    /// Whether input already read waits to be taken at the next ``service(_:now:onQuery:)``:
    /// the loop's poll must not sleep meanwhile.
    var hasInputToResume: Bool { !resumable.isEmpty }

    /// Adds the listener and every connection to the poll set.
    func register(in poller: inout ZMQPoller, now: UInt64 = QueryClock.monotonicNanoseconds()) {
        firstIndex = poller.add(fileDescriptor: listener, events: now < acceptPausedUntil ? [] : .readable)
        poller.add(fileDescriptor: loginChecker.wakeSignal.fileDescriptor)
        registered.removeAll(keepingCapacity: true)
        for (id, connection) in connections {
            // Not readable while a sync response is awaited (``Connection/syncInFlight``);
            // an error or a hang-up is reported all the same.
            let reads: ZMQPollEvents = connection.syncInFlight ? [] : .readable
            let events: ZMQPollEvents = connection.stream.wantsWrite ? reads.union(.writable) : reads
            poller.add(fileDescriptor: connection.stream.descriptor, events: events)
            registered.append(id)
        }
    }

    /// Accepts, reads and writes what the last poll found ready; hands complete queries to
    /// `onQuery`.
    func service(_ poller: ZMQPoller, now: UInt64, onQuery: (KdbDoorQuery) -> Void) {
        finishCheckedLogins(now: now)
        if !resumable.isEmpty {
            let ids = resumable
            resumable.removeAll(keepingCapacity: true)
            for id in ids { takeMessages(id, now: now, open: true, onQuery: onQuery) }
        }
        for (offset, id) in registered.enumerated() {
            let events = poller.returnedEvents(at: firstIndex + 2 + offset)
            if events.isEmpty { continue }
            if events.contains(.writable) || events.contains(.error) {
                guard var connection = connections[id] else { continue }
                if !connection.stream.flush() {
                    unsent(id, connection.stream)
                    continue
                }
                connections[id] = connection
            }
            if events.contains(.readable) || events.contains(.error) { readConnection(id, now: now, onQuery: onQuery) }
        }
        if poller.returnedEvents(at: firstIndex).contains(.readable) { acceptAll(now: now) }
        for (id, connection) in connections
        where connection.capability == nil && now &- connection.acceptedAt > Self.handshakeTimeout {
            drop(id, reason: "no handshake within \(Self.handshakeTimeout / 1_000_000_000) s")
        }
        if let idleTimeout = configuration.idleTimeout {
            for (id, connection) in connections
            where connection.capability != nil && connection.awaitingReplies == 0
                && now &- connection.lastActivity > idleTimeout
            {
                drop(id, reason: "idle for \(Self.seconds(idleTimeout)) s (--kdb-idle-timeout)")
            }
        }
        closeRemovedUsers()
    }

    /// Closes the connections whose user the hub no longer lists, or lists with another
    /// password, once per change of the hub's list.
    private func closeRemovedUsers() {
        guard let userList = configuration.userList else { return }
        let (current, generation) = userList.versioned
        guard generation != checkedUsersGeneration, let current else { return }
        checkedUsersGeneration = generation
        loginChecker.forget(unless: current)
        // The operator's change, not a peer's doing: one line for each user, never throttled.
        var closed: [String: Int] = [:]
        for (id, connection) in connections {
            guard let login = connection.login, current.passwords[login.user] != login.stored else { continue }
            closed[login.user, default: 0] += 1
            drop(id, reason: "user \(login.user) changed at the hub", quietly: true)
        }
        for (user, count) in closed.sorted(by: { $0.key < $1.key }) {
            let change = current.passwords[user] == nil ? "was removed from the hub" : "has a new password"
            logger.notice(
                "closed the kdb+ connections of a user who \(change)",
                metadata: ["user": "\(user)", "connections": "\(count)", "reason": "user \(user) \(change)"])
        }
    }

    /// Seconds, as few digits as they need.
    private static func seconds(_ nanoseconds: UInt64) -> String {
        nanoseconds % 1_000_000_000 == 0
            ? "\(nanoseconds / 1_000_000_000)" : "\(Double(nanoseconds) / 1_000_000_000)"
    }

    /// Sends a reply in the form `form` (``ReplyAssembly/kdbMessage(_:form:)``). Replies to
    /// connections that have closed are discarded.
    /// Returns the bytes written for it (0 when the connection is gone or was dropped).
    @discardableResult
    func send(_ reply: ClientReply, to connectionID: UInt64, form: KdbReplyForm) -> Int {
        guard var connection = connections[connectionID] else { return 0 }
        connection.awaitingReplies = max(0, connection.awaitingReplies - 1)
        connection.lastActivity = QueryClock.monotonicNanoseconds()
        var bytes = ReplyAssembly.kdbMessage(reply, form: form)
        // kdb+'s rule: compress messages over 2000 bytes to peers that are not on this host
        // and whose capability allows it, when compression saves space.
        if bytes.count > 2_000, !connection.loopback, (connection.capability ?? 0) >= 1,
            let compressed = QIPC.compress(bytes)
        {
            bytes = compressed
        }
        if connection.stream.enqueue(bytes) {
            answered(form: form, on: &connection, id: connectionID)
            connections[connectionID] = connection
            return bytes.count
        }
        unsent(connectionID, connection.stream)
        return 0
    }

    /// Sends a reply whose result is still in the servant's ZeroMQ frame, in the form `form`:
    /// written in pieces, the result from that frame (``KdbStream/enqueue(pieces:)``), unless
    /// the compression rule of ``send(_:to:form:)`` applies and the message is joined to be
    /// compressed.
    /// Returns the bytes written for it (0 when the connection is gone or was dropped).
    @discardableResult
    func send(_ reply: ClientReplyFrame, to connectionID: UInt64, form: KdbReplyForm) -> Int {
        guard var connection = connections[connectionID] else { return 0 }
        if reply.count > 2_000, !connection.loopback, (connection.capability ?? 0) >= 1 {
            return send(ClientReply(bytes: reply.frame().bytes, failure: nil), to: connectionID, form: form)
        }
        connection.awaitingReplies = max(0, connection.awaitingReplies - 1)
        connection.lastActivity = QueryClock.monotonicNanoseconds()
        let pieces = reply.kdbPieces(form: form)
        if connection.stream.enqueue(pieces: pieces) {
            answered(form: form, on: &connection, id: connectionID)
            connections[connectionID] = connection
            return pieces.reduce(0) { $0 + $1.count }
        }
        unsent(connectionID, connection.stream)
        return 0
    }

    /// Closes connection `connectionID`, whose `stream` took no more of a reply: its peer closed
    /// the connection (a client that sent its queries and went, no news) or reads too slowly.
    private func unsent(_ connectionID: UInt64, _ stream: KdbStream) {
        if stream.peerGone {
            drop(connectionID, reason: "closed before its replies were sent", quietly: true)
        } else {
            drop(connectionID, reason: "it does not read its replies (\(stream.bufferedOutput) bytes buffered)")
        }
    }

    /// The connections closed with replies still due to them since the last call: the broker
    /// runs none of their queries that still wait for a servant.
    func takeClosedWithRepliesDue() -> [UInt64] {
        guard !closedWithRepliesDue.isEmpty else { return [] }
        defer { closedWithRepliesDue.removeAll(keepingCapacity: true) }
        return closedWithRepliesDue
    }

    /// Who is on connection `connectionID`, for a log line about a message of its: the peer's
    /// `host:port` (`peer`, as the door's own lines show it) and, once logged in against the
    /// door's users, its `user`; nothing for a connection closed since.
    func identity(of connectionID: UInt64) -> Logger.Metadata {
        guard let connection = connections[connectionID] else { return [:] }
        var identity: Logger.Metadata = ["peer": "\(connection.peer)"]
        if let user = connection.login?.user { identity["user"] = "\(user)" }
        return identity
    }

    /// After a response to a sync message: the connection reads on, first what already waits
    /// in its stream.
    private func answered(form: KdbReplyForm, on connection: inout Connection, id: UInt64) {
        guard form != .async, connection.syncInFlight else { return }
        connection.syncInFlight = false
        if !connection.stream.pendingInput.isEmpty { resumable.append(id) }
    }

    /// Closes the listener and every connection, each once its last replies are written
    /// (a second at most in all).
    func close() {
        TCPSocket.close(listener)
        loginChecker.close()
        let giveUp = QueryClock.monotonicNanoseconds() &+ 1_000_000_000
        for id in Array(connections.keys) {
            guard var connection = connections.removeValue(forKey: id) else { continue }
            forgetAddress(of: connection)
            connection.stream.finish(before: giveUp)
            logger.debug("kdb+ client disconnected", metadata: ["peer": "\(connection.peer)", "reason": "the broker stopped"])
        }
    }

    // MARK: connections

    private func forgetAddress(of connection: Connection) {
        let held = connectionsByAddress[connection.address, default: 1] - 1
        connectionsByAddress[connection.address] = held > 0 ? held : nil
    }

    private func acceptAll(now: UInt64) {
        while true {
            let accepted: TCPSocket.Accepted
            do {
                guard let next = try TCPSocket.acceptNext(listener) else { return }
                accepted = next
            } catch {
                acceptPausedUntil = now &+ Self.acceptPause
                if let heldBack = acceptFailureLog.admit(now: now) {
                    logger.error(
                        "\(LogThrottle.line("the kdb+ IPC door \(error.message); trying again shortly", heldBack: heldBack))",
                        metadata: ["connections": "\(connections.count)"])
                }
                return
            }
            let address = String(accepted.peer.prefix { $0 != ":" })
            let fromAddress = connectionsByAddress[address, default: 0]
            if let refusal = limits.refusal(open: connections.count, fromAddress: fromAddress) {
                TCPSocket.close(accepted.descriptor)
                metrics.doorConnection(accepted: false)
                if let heldBack = refusedConnectionLog.admit(now: now) {
                    let message = "refused a kdb+ connection: \(refusal)"
                    logger.warning(
                        "\(LogThrottle.line(message, heldBack: heldBack))", metadata: ["peer": "\(accepted.peer)"])
                }
                continue
            }
            let id = nextConnectionID
            nextConnectionID += 1
            let stream = KdbStream(
                descriptor: accepted.descriptor, maxMessageSize: configuration.maxMessageSize,
                maxBufferedOutput: configuration.maxBufferedReplyBytes)
            connections[id] = Connection(
                stream: stream, peer: accepted.peer, address: address, loopback: accepted.isLoopback,
                acceptedAt: now, lastActivity: now)
            connectionsByAddress[address] = fromAddress + 1
            metrics.doorConnection(accepted: true)
            logger.debug("kdb+ client connected", metadata: ["peer": "\(accepted.peer)", "connection": "\(id)"])
        }
    }

    private func readConnection(_ id: UInt64, now: UInt64, onQuery: (KdbDoorQuery) -> Void) {
        guard var connection = connections[id] else { return }
        let open = connection.stream.readAvailable()
        if connection.capability == nil {
            if let checking = connection.checking {
                // The password is being checked; what came meanwhile waits in the stream. A
                // kdb+ client sends nothing before the answer: more than a handshake's worth is
                // not one.
                let early = connection.stream.pendingInput.count - checking.length
                connections[id] = connection
                if early > Self.maxHandshakeLength {
                    drop(id, reason: "\(early) bytes sent before the handshake was answered")
                } else if !open {
                    drop(id, reason: "closed during the handshake", quietly: true)
                }
                return
            }
            switch handshake(&connection, id: id) {
            case .waiting:
                connections[id] = connection
                if !open { drop(id, reason: "closed during the handshake", quietly: true) }
                return
            case .refused(let reason):
                connections[id] = connection
                metrics.doorLoginRefused()
                drop(id, reason: reason)
                return
            case .accepted:
                break
            }
        }
        connections[id] = connection
        takeMessages(id, now: now, open: open, onQuery: onQuery)
    }

    /// Hands on the whole messages in a connection's stream, up to and including the first
    /// sync one (``Connection/syncInFlight``); closes the connection when its input is bad,
    /// or when the peer has closed (`open` false).
    private func takeMessages(_ id: UInt64, now: UInt64, open: Bool, onQuery: (KdbDoorQuery) -> Void) {
        guard var connection = connections[id] else { return }
        var queries: [KdbDoorQuery] = []
        var failure: String? = nil
        reading: while !connection.syncInFlight {
            let message: [UInt8]?
            do {
                message = try connection.stream.nextMessage()
            } catch {
                switch error {
                case .tooLarge(let length):
                    failure = "a message of \(length) bytes exceeds the limit of \(configuration.maxMessageSize)"
                case .badHeader(let text):
                    failure = text
                }
                break reading
            }
            guard let message else { break }
            connection.lastActivity = now
            if let query = Self.query(from: message, connection: id, maximumSize: configuration.maxMessageSize) {
                queries.append(query)
                if query.isSync { connection.syncInFlight = true }
            }
        }
        connection.awaitingReplies += queries.count
        connections[id] = connection
        if let failure {
            drop(id, reason: failure)
        } else if !open {
            drop(id, reason: "closed", quietly: true)
        }
        for query in queries { onQuery(query) }
    }

    private enum HandshakeOutcome {
        case waiting, accepted, refused(String)
    }

    /// kdb+'s handshake: `user:password`, an optional capability byte, NUL; the answer is one
    /// capability byte, min(client's, 3); a refusal closes the connection. A password stored as
    /// a slow hash is checked by ``KdbLoginChecker`` (`.waiting` meanwhile, with `checking` set).
    private func handshake(_ connection: inout Connection, id: UInt64) -> HandshakeOutcome {
        let pending = connection.stream.pendingInput
        guard let terminator = pending.firstIndex(of: 0) else {
            if pending.count > Self.maxHandshakeLength { return .refused("the handshake is too long") }
            if let control = pending.dropLast().first(where: { $0 < 0x20 || $0 == 0x7F }) {
                return .refused("garbage before the handshake (byte \(control))")
            }
            return .waiting
        }
        // The limit counts the NUL: a terminator found past it ends too long a handshake too.
        if pending.distance(from: pending.startIndex, to: terminator) >= Self.maxHandshakeLength {
            return .refused("the handshake is too long")
        }
        // A ZeroMQ peer's greeting starts 0xFF, 0x00 (ZMTP's signature): a client of the
        // broker's ZeroMQ endpoint given the door's port. Refused, and told in the log.
        if pending.first == 0xFF, terminator == pending.startIndex + 1 {
            return .refused("a ZeroMQ peer (its greeting): ZeroMQ clients connect to the broker's client endpoint (--clients), not to the kdb+ door")
        }
        var text = Array(pending[pending.startIndex..<terminator])
        var capability: UInt8 = 0
        if let last = text.last, last < 0x20 {
            capability = last
            text.removeLast()
        }
        if text.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            return .refused("garbage before the handshake")
        }
        let credentials = String(decoding: text, as: UTF8.self)
        let user = String(credentials.prefix { $0 != ":" })
        let password = credentials.contains(":") ? String(credentials.drop { $0 != ":" }.dropFirst()) : ""
        let length = terminator - pending.startIndex + 1
        let knownUsers: KdbUsers
        if let userList = configuration.userList {
            guard let current = userList.users else { return .refused("no users from the hub yet") }
            knownUsers = current
        } else if let users {
            knownUsers = users
        } else {
            return finishHandshake(&connection, user: user, stored: nil, capability: capability, length: length)
        }
        let wrongCredentials = "wrong credentials for user \(user.isEmpty ? "(none)" : user)"
        guard let stored = knownUsers.passwords[user] ?? unknownUserStandIn else { return .refused(wrongCredentials) }
        guard case .hashed(let hash) = stored else {
            guard stored.verifies(password: password) else { return .refused(wrongCredentials) }
            return finishHandshake(&connection, user: user, stored: stored, capability: capability, length: length)
        }
        switch loginChecker.check(connection: id, address: connection.address, user: user, password: password, hash: hash) {
        case .accepted:
            return finishHandshake(&connection, user: user, stored: stored, capability: capability, length: length)
        case .busy:
            return .refused("too many logins being checked at once")
        case .addressBusy:
            return .refused(
                "too many logins from its address being checked at once (at most \(KdbLoginChecker.maxPendingPerAddress))")
        case .pending:
            connection.checking = PendingLogin(user: user, stored: stored, capability: capability, length: length)
            return .waiting
        }
    }

    /// Ends a handshake whose credentials passed: takes its bytes, answers the capability.
    private func finishHandshake(
        _ connection: inout Connection, user: String, stored: StoredPassword?, capability: UInt8, length: Int
    ) -> HandshakeOutcome {
        connection.stream.consumeInput(length)
        let agreed = min(capability, 3)
        connection.capability = agreed
        connection.login = stored.map { (user, $0) }
        guard connection.stream.enqueue([agreed]) else { return .refused("the peer has gone") }
        logger.debug(
            "kdb+ client logged in",
            metadata: ["peer": "\(connection.peer)", "user": "\(user)", "capability": "\(agreed)"])
        return .accepted
    }

    /// Ends the handshakes whose slow password checks finished: logged in if the password
    /// passed and the user's entry is still the one checked, else closed.
    private func finishCheckedLogins(now: UInt64) {
        for result in loginChecker.takeResults() {
            guard var connection = connections[result.connection], let pending = connection.checking else { continue }
            connection.checking = nil
            let current = (configuration.userList.map { $0.users } ?? users)?.passwords[pending.user]
            guard result.accepted, current == pending.stored else {
                connections[result.connection] = connection
                metrics.doorLoginRefused()
                drop(result.connection, reason: "wrong credentials for user \(pending.user.isEmpty ? "(none)" : pending.user)")
                continue
            }
            let outcome = finishHandshake(
                &connection, user: pending.user, stored: pending.stored, capability: pending.capability,
                length: pending.length)
            connection.lastActivity = now
            connections[result.connection] = connection
            if case .refused(let reason) = outcome {
                metrics.doorLoginRefused()
                drop(result.connection, reason: reason)
            } else if !connection.stream.pendingInput.isEmpty {
                // Sent before the answer (no kdb+ client does): taken now, not at its next write.
                resumable.append(result.connection)
            }
        }
    }

    /// Turns a client message into a query for the dispatch path (docs/KDB.md, "How the door
    /// reads a message"). A sync message means what it means to a q process: a string is an
    /// expression, and a list whose first item is a symbol or a string (the function's name,
    /// as pykx's `conn('f', x)` and kola's `sync('f', x)` send it) is a call, as is a symbol
    /// vector (what q sends for ``h(`proc1;`IBM)``). A list of two or three items whose first
    /// item cannot name a function (neither a symbol, a string nor a function) is `(id;
    /// query)` or `(id; query; options)`, sync or async, whatever its other items: the broker
    /// checks them, and refuses what is wrong with the client's id (`h(7; "proc1 `IBM")`). An
    /// async two-item list whose second item is a string or a general list, whatever its
    /// first, is `(id; query)`: the mserve protocol; the same with a dictionary third is `(id;
    /// query; options)`. Anything else is a bare query with the generic null as its id, its
    /// function name turned into a symbol when it came as a string. A query that came as a
    /// symbol vector goes on as the general list q means by it (`` (`proc1;`IBM) ``).
    ///
    /// Async messages are answered with an async `(id; result; info)`; sync `(id; query)` with
    /// the response `(id; result; info)`; a sync bare query with the result alone. Nil for
    /// response messages (nothing asked for them). A compressed message is held to
    /// `maximumSize` once decompressed, as a plain one is.
    static func query(from message: [UInt8], connection: UInt64, maximumSize: Int) -> KdbDoorQuery? {
        let messageType = message[1]
        guard messageType != QMessageType.response.rawValue else { return nil }
        let sync = messageType == QMessageType.sync.rawValue
        // The usual `(id; query)` is recognised in place and goes on as it came: a 40 MB vector
        // argument is neither decoded nor written again (the broker checks it in place).
        if isIDAndQueryInPlace(message, sync: sync) {
            return KdbDoorQuery(
                route: .kdb(connection: connection, form: sync ? .syncList : .async), message: message,
                receivedBytes: message.count)
        }
        guard let decoded = try? QIPC.decode(message, maximumSize: maximumSize) else {
            // Malformed: the dispatch path answers with its error, as `(id; "error text"; info)`
            // when the message has the shape of `(id; query)` up to its malformed part.
            let form: KdbReplyForm = sync && !hasIDAndQueryShape(message, sync: sync) ? .syncBare : (sync ? .syncList : .async)
            return KdbDoorQuery(
                route: .kdb(connection: connection, form: form), message: message, receivedBytes: message.count)
        }
        if isIDAndQuery(decoded.value, sync: sync) {
            var value = decoded.value
            if case .list(var items, let attribute) = value, let call = Self.call(fromSymbols: items[1]) {
                items[1] = call
                value = .list(items, attribute: attribute)
            }
            return KdbDoorQuery(
                route: .kdb(connection: connection, form: sync ? .syncList : .async),
                message: QIPC.encode(value, messageType: .async), receivedBytes: message.count)
        }
        var query = Self.call(fromSymbols: decoded.value) ?? decoded.value
        if case .list(var items, let attribute) = query, case .vector(.char(let name), _)? = items.first {
            items[0] = .atom(.symbol(String(decoding: name, as: UTF8.self)))
            query = .list(items, attribute: attribute)
        }
        return KdbDoorQuery(
            route: .kdb(connection: connection, form: sync ? .syncBare : .async),
            message: ClientQuery(id: .identity, query: query).encoded(), receivedBytes: message.count)
    }

    /// ``isIDAndQuery(_:sync:)`` of a plain little-endian message whose query item is a string
    /// or a general list, read in place without decoding it; false for any other (compressed,
    /// big-endian, malformed, a symbol vector to rewrite), which is then decoded.
    static func isIDAndQueryInPlace(_ message: [UInt8], sync: Bool) -> Bool {
        let bytes = message.span
        guard let header = try? QIPCInPlace.header(of: bytes), header.littleEndian, !header.compressed,
            (try? QIPCInPlace.checkValue(in: bytes, at: 8, depth: 0)) == message.count,
            message[8] == 0, let count = try? QIPCInPlace.count(in: bytes, at: 10, minimumElementSize: 1),
            count == 2 || count == 3,
            let second = try? QIPCInPlace.checkValue(in: bytes, at: 14, depth: 1),
            let third = try? QIPCInPlace.checkValue(in: bytes, at: second, depth: 1),
            message[second] == 10 || message[second] == 0
        else { return false }
        if !canNameAFunction(itemAt: 14, in: message) { return true }
        if count == 3, message[third] != 99, message[third] != 127 { return false }
        return !sync
    }

    /// Whether a malformed plain little-endian message still has the shape of `(id; query)`
    /// (``isIDAndQuery(_:sync:)``) as far as it can be read: a general list whose first item
    /// reads as an id (``ClientQueryLayout/readableID(in:)``) and either cannot name a function
    /// or, for an async message, is followed by an item that starts as a string or a general
    /// list.
    static func hasIDAndQueryShape(_ message: [UInt8], sync: Bool) -> Bool {
        let bytes = message.span
        guard message.count > 14, message[2] == 0, ClientQueryLayout.readableID(in: bytes) != nil,
            let second = try? QIPCInPlace.checkValue(in: bytes, at: 14, depth: 1), second < message.count
        else { return false }
        if !canNameAFunction(itemAt: 14, in: message) { return true }
        return !sync && (message[second] == 10 || message[second] == 0)
    }

    /// Whether `value` is `(id; query)` or `(id; query; options)`: a list of two or three
    /// items whose first cannot name a function (``canNameAFunction(_:)``), whatever the
    /// others; or, for an async message, two items, or three with a dictionary last, the
    /// second a string or a general list (the mserve protocol, whatever the id).
    private static func isIDAndQuery(_ value: QValue, sync: Bool) -> Bool {
        guard case .list(let items, _) = value, items.count == 2 || items.count == 3 else { return false }
        if !canNameAFunction(items[0]) { return true }
        guard !sync else { return false }
        if items.count == 3 {
            guard case .dictionary = items[2] else { return false }
        }
        switch items[1] {
        case .vector(.char, _), .list: return true
        default: return false
        }
    }

    /// Whether the item at `offset` of a plain message may name the function a list calls: a
    /// symbol, a string (pykx's and kola's way to name it), or a function (type 100 and up, but
    /// the generic null `::`), which q would apply. A list headed by anything else cannot be a
    /// call. The item's type byte is there (the caller checked the item).
    static func canNameAFunction(itemAt offset: Int, in message: [UInt8]) -> Bool {
        let type = Int8(bitPattern: message[offset])
        if type == 101, message[offset + 1] == 0 { return false }
        return type == -11 || type == 10 || type >= 100
    }

    /// ``canNameAFunction(itemAt:in:)`` of a decoded item (a function never decodes).
    static func canNameAFunction(_ item: QValue) -> Bool {
        switch item {
        case .atom(.symbol), .vector(.char, _): true
        default: false
        }
    }

    /// The general list q means by a symbol vector sent as a query: `` `proc1`IBM `` is what q
    /// sends for ``h(`proc1;`IBM)``, a call of `proc1` with the symbol `` `IBM ``; nil for
    /// anything else (an empty symbol vector too: it names no function).
    static func call(fromSymbols value: QValue) -> QValue? {
        guard case .vector(.symbol(let names), _) = value, !names.isEmpty else { return nil }
        return .list(names.map { .atom(.symbol($0)) }, attribute: .none)
    }

    private func drop(_ id: UInt64, reason: String, quietly: Bool = false) {
        guard var connection = connections.removeValue(forKey: id) else { return }
        if connection.awaitingReplies > 0 { closedWithRepliesDue.append(id) }
        forgetAddress(of: connection)
        connection.stream.close()
        if quietly {
            logger.debug("kdb+ client disconnected", metadata: ["peer": "\(connection.peer)", "reason": "\(reason)"])
        } else if let heldBack = closedConnectionLog.admit() {
            // A client may connect and misbehave in a loop: a line a second at most.
            logger.notice(
                "\(LogThrottle.line("closed a kdb+ connection", heldBack: heldBack))",
                metadata: ["peer": "\(connection.peer)", "reason": "\(reason)"])
        }
    }
}
