#if canImport(Glibc)
import Glibc
#endif

/// The process's limit on open file descriptors (`RLIMIT_NOFILE`): every connection a
/// broker, servant or hub accepts takes one.
public enum OpenFileLimit {
    /// The soft limit (what applies) and the hard limit (the most the soft may be raised to
    /// without privilege); nil when they cannot be read.
    public static func current() -> (soft: UInt64, hard: UInt64)? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one, as far as `ceiling` (a soft limit of 1,024,
    /// systemd's and many shells' default, is used up by a thousand idle connections, while
    /// the hard limit is commonly hundreds of thousands). Returns the limits before and after;
    /// nil when they cannot be read. A failed raise leaves the limit as it was.
    @discardableResult
    public static func raiseToHardLimit(ceiling: UInt64 = 1 << 20) -> (before: UInt64, after: UInt64)? {
        guard let (soft, hard) = current() else { return nil }
        let wanted = min(hard, ceiling)
        guard wanted > soft else { return (soft, soft) }
        var limit = rlimit(rlim_cur: rlim_t(wanted), rlim_max: rlim_t(hard))
        guard setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (soft, soft) }
        return (soft, current()?.soft ?? soft)
    }
}
