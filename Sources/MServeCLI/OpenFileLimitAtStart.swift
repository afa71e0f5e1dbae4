import Logging
import POSIXFiles

/// The open-files limit under which a serving process warns: every client, servant, spoke
/// and kdb+ connection takes a file descriptor.
let lowOpenFileLimit: UInt64 = 4_096

/// Raises the process's open-files limit (`RLIMIT_NOFILE`) to its hard limit, as a serving
/// command (broker, servant, hub) starts, and says so; warns when it stays under
/// ``lowOpenFileLimit``, which a thousand idle connections would use up.
func raiseOpenFileLimit(logger: Logger) {
    guard let (before, after) = OpenFileLimit.raiseToHardLimit() else { return }
    if after > before {
        logger.debug("raised the open-files limit to the hard limit", metadata: ["from": "\(before)", "to": "\(after)"])
    }
    if after < lowOpenFileLimit {
        logger.warning(
            "the open-files limit is \(after): each client, servant and kdb+ connection takes one; raise the hard limit (ulimit -Hn, or LimitNOFILE= in a systemd unit)",
            metadata: ["limit": "\(after)"])
    }
}
