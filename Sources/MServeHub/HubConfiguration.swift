import Foundation
import MServeProtocol
public import ZeroMQ

/// How a hub runs: where it listens, where it keeps its tables, and how fast it declares a
/// spoke down.
public struct HubConfiguration: Sendable {
    /// The endpoint the hub binds (default ``HubLink/defaultEndpoint``; `mserve hub` takes it
    /// from `--bind` or `MSERVE_HUB`).
    public var endpoint: String
    /// The directory holding `hub.sqlite` (`mserve hub` takes it from `--dir` or
    /// `MSERVE_HUB_DIR`, else `~/.mserve/hub`).
    public var directory: String
    /// The settings that give the directory, named where one is refused or cannot be made, as
    /// the way to give another: ``serveDirectorySettings`` for `mserve hub`, `MSERVE_HUB_DIR`
    /// alone for a broker or servant serving the hub in auto mode, which has no `--dir`.
    public var directorySettings: String = Self.serveDirectorySettings
    /// The settings that give `mserve hub` its directory.
    public static let serveDirectorySettings = "--dir or MSERVE_HUB_DIR"
    /// How often spokes heartbeat; the hub scans for silent spokes at this pace too.
    public var heartbeatInterval: Duration
    /// A spoke silent this long moves to `down`.
    public var livenessTimeout: Duration
    /// Memory-stat rows kept per spoke.
    public var memoryStatsKept: Int
    /// Crash reports kept in `down`, the newest; older ones are deleted as new ones come, so
    /// that a flapping process, or a peer registering spokes and letting them go down, cannot
    /// grow the table (and `hub.sqlite`, and `mserve hub down`) without bound. A row holds up to
    /// about 9 KB (a command line and a directory of up to 4096 bytes each): 1,000 rows, 9 MB.
    public var crashReportsKept: Int = 1_000
    /// The hub's own CURVE key pair: set, the hub is a CURVE server admitting only the keys in
    /// its `allowed_keys` table (and its own, which alone may ALLOW and REVOKE). Nil: no security.
    public var curve: ZMQCurveKeyPair? = nil

    /// The hub directory under a home directory: `HOME/.mserve/hub`.
    public static func directory(home: String) -> String {
        (home as NSString).appendingPathComponent(".mserve/hub")
    }

    /// Creates a configuration of a hub keeping its tables in `directory`.
    public init(
        endpoint: String = HubLink.defaultEndpoint,
        directory: String,
        heartbeatInterval: Duration = .seconds(1),
        livenessTimeout: Duration = .seconds(3),
        memoryStatsKept: Int = 100
    ) {
        self.endpoint = endpoint
        self.directory = directory
        self.heartbeatInterval = heartbeatInterval
        self.livenessTimeout = livenessTimeout
        self.memoryStatsKept = memoryStatsKept
    }
}

extension Duration {
    /// The duration in whole milliseconds, at least 1.
    var milliseconds: Int32 { Int32(clamping: max(1, nanoseconds / 1_000_000)) }
}
