// What the hub counts as it works: plain integers the loop adds to on its own thread, one call
// per event, with no lock and no allocation. They leave the loop only as a copy, in each
// `HubSnapshot`: the HTTP side (`--http`) asks for one at each scrape and publishes it there.

/// The hub's counters (docs/OPERATIONS.md, "Monitoring", lists them). A value: the loop owns one
/// and mutates it; a ``HubSnapshot`` carries a copy.
public struct HubMetrics: Sendable, Hashable {
    /// Why the hub refused a peer's message, the `reason` label of `mserve_hub_refused_total`.
    public enum Refusal: String, Sendable, CaseIterable {
        /// The message could not be read.
        case malformed
        /// The connection's key is no longer allowed.
        case revokedKey = "revoked_key"
        /// An administrative command without the admin token or key.
        case admin
        /// A registration that was invalid, or named a key other than its own.
        case registration
        /// A connection whose key is not allowed (refused at its handshake, with `--keys`).
        case key
        /// A connection whose security handshake failed (plaintext at a secured hub, say).
        case handshake
    }

    private var malformed: UInt64 = 0, revokedKey: UInt64 = 0, admin: UInt64 = 0, registration: UInt64 = 0
    private var key: UInt64 = 0, handshake: UInt64 = 0
    /// Spokes moved to `down` (crash reports) since the hub started.
    public private(set) var crashReports: UInt64 = 0
    /// Registrations accepted since the hub started.
    public private(set) var registrations: UInt64 = 0

    /// Nothing counted yet.
    public init() {}

    /// How many peer messages were refused for `reason`.
    public func refusals(_ reason: Refusal) -> UInt64 {
        switch reason {
        case .malformed: malformed
        case .revokedKey: revokedKey
        case .admin: admin
        case .registration: registration
        case .key: key
        case .handshake: handshake
        }
    }

    /// Counts a refused peer message.
    mutating func refused(_ reason: Refusal) {
        switch reason {
        case .malformed: malformed &+= 1
        case .revokedKey: revokedKey &+= 1
        case .admin: admin &+= 1
        case .registration: registration &+= 1
        case .key: key &+= 1
        case .handshake: handshake &+= 1
        }
    }

    /// Sets the connections refused before any message (counted where the hub's admission
    /// refuses them, off its loop).
    mutating func refusedConnections(keys: UInt64, handshakes: UInt64) {
        key = keys
        handshake = handshakes
    }

    /// Counts a spoke moved to `down` (a crash report).
    mutating func crashReported() { crashReports &+= 1 }

    /// Counts an accepted registration.
    mutating func registered() { registrations &+= 1 }
}

/// A point-in-time view of the hub, for its status page and readiness.
public struct HubSnapshot: Sendable {
    /// One spoke the hub holds.
    public struct Spoke: Sendable, Hashable {
        /// The hub's id for it.
        public var id: Int64
        /// Its service and role (`servant`, `broker`, `client`, `hub`).
        public var service: String, role: String
        /// The endpoint others connect to (empty when it serves none), its host and pid.
        public var endpoint: String, host: String, pid: Int64
        /// `up` (heard by this hub) or `unconfirmed` (reloaded from the directory, not heard
        /// from since this hub started).
        public var state: String

        /// Creates a spoke's view.
        public init(id: Int64, service: String, role: String, endpoint: String, host: String, pid: Int64, state: String) {
            self.id = id
            self.service = service
            self.role = role
            self.endpoint = endpoint
            self.host = host
            self.pid = pid
            self.state = state
        }
    }

    /// The hub's endpoint.
    public var endpoint: String
    /// Whether the hub's database answered: it could be read, the hub's last write to it
    /// succeeded, and the file it writes is still the one at its path (false: see
    /// ``databaseProblem``).
    public var databaseOpen: Bool
    /// Why the database does not answer, for people (`the hub's database refuses writes (…)`,
    /// with SQLite's error; `the hub directory D was removed while the hub runs, …`); nil
    /// while it does, or when nothing says why.
    public var databaseProblem: String?
    /// The spokes it holds, by id.
    public var spokes: [Spoke]
    /// The newest crash reports, newest first (at most ``HubSnapshot/crashReportsShown``).
    public var crashes: [CrashReport]
    /// How many crash reports the `down` table holds.
    public var crashReportsHeld: Int

    /// What the hub counted since it started.
    public var metrics: HubMetrics

    /// How many crash reports a snapshot carries.
    public static let crashReportsShown = 20

    /// A hub that does not run: nothing open, nothing held.
    public static let stopped = HubSnapshot(endpoint: "", databaseOpen: false, spokes: [], crashes: [], crashReportsHeld: 0)

    /// Creates a snapshot.
    public init(
        endpoint: String, databaseOpen: Bool, spokes: [Spoke], crashes: [CrashReport], crashReportsHeld: Int,
        metrics: HubMetrics = HubMetrics()
    ) {
        self.metrics = metrics
        self.endpoint = endpoint
        self.databaseOpen = databaseOpen
        self.spokes = spokes
        self.crashes = crashes
        self.crashReportsHeld = crashReportsHeld
    }
}

/// A row of the hub's `down` table: a spoke that went without deregistering.
public struct CrashReport: Sendable, Hashable {
    /// The spoke's id, service, role, endpoint, host and pid.
    public var spoke: Int64
    /// Its service and role.
    public var service: String, role: String
    /// Its endpoint, host and pid.
    public var endpoint: String, host: String, pid: Int64
    /// When the hub declared it down, q timestamp (nanoseconds since 2000.01.01).
    public var crash: Int64
    /// Why (`missed heartbeats`, a sidecar's reason).
    public var reason: String

    /// Creates a crash report.
    public init(spoke: Int64, service: String, role: String, endpoint: String, host: String, pid: Int64, crash: Int64, reason: String) {
        self.spoke = spoke
        self.service = service
        self.role = role
        self.endpoint = endpoint
        self.host = host
        self.pid = pid
        self.crash = crash
        self.reason = reason
    }
}
