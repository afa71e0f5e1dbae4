// What the hub counts as it works, through the swift-metrics API: the loop updates these on its
// own thread; whatever backend the process bootstrapped (Prometheus, with `mserve hub --http`)
// reads them from any thread. With no backend the calls do nothing.

public import CoreMetrics

/// The hub's counters (docs/OPERATIONS.md, "Monitoring", lists them). Thread-safe.
public final class HubMetrics: Sendable {
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
    }

    private let refusals: [Counter]
    private let crashes: Counter
    private let registrations: Counter

    /// Metrics made by `factory`, each with `dimensions`.
    public init(factory: any MetricsFactory, dimensions: [(String, String)] = []) {
        refusals = Refusal.allCases.map {
            Counter(label: "mserve_hub_refused_total", dimensions: dimensions + [("reason", $0.rawValue)], factory: factory)
        }
        crashes = Counter(label: "mserve_hub_crash_reports_total", dimensions: dimensions, factory: factory)
        registrations = Counter(label: "mserve_hub_registrations_total", dimensions: dimensions, factory: factory)
    }

    /// Metrics that go nowhere.
    public static let disabled = HubMetrics(factory: NOOPMetricsHandler.instance)

    /// Counts a refused peer message.
    func refused(_ reason: Refusal) {
        refusals[Refusal.allCases.firstIndex(of: reason) ?? 0].increment()
    }

    /// Counts a spoke moved to `down` (a crash report).
    func crashReported() { crashes.increment() }

    /// Counts an accepted registration.
    func registered() { registrations.increment() }
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
    /// Whether the hub's database answered (false: it could not be read).
    public var databaseOpen: Bool
    /// The spokes it holds, by id.
    public var spokes: [Spoke]
    /// The newest crash reports, newest first (at most ``HubSnapshot/crashReportsShown``).
    public var crashes: [CrashReport]
    /// How many crash reports the `down` table holds.
    public var crashReportsHeld: Int

    /// How many crash reports a snapshot carries.
    public static let crashReportsShown = 20

    /// A hub that does not run: nothing open, nothing held.
    public static let stopped = HubSnapshot(endpoint: "", databaseOpen: false, spokes: [], crashes: [], crashReportsHeld: 0)

    /// Creates a snapshot.
    public init(endpoint: String, databaseOpen: Bool, spokes: [Spoke], crashes: [CrashReport], crashReportsHeld: Int) {
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
