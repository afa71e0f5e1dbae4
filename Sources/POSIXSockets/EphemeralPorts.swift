// The kernel's ephemeral port range: the local ports Linux gives outgoing connections (and a
// bind to port 0). A fixed port a process listens on inside it can be handed to any outgoing
// connection while the process is down; on loopback, to a client reconnecting to that very
// port, which then ends up connected to itself (a TCP simultaneous open) and holds the port.

import Foundation

/// The ports the kernel hands out as local ports of outgoing connections:
/// `net.ipv4.ip_local_port_range`, less `net.ipv4.ip_local_reserved_ports`.
public struct EphemeralPorts: Sendable, Equatable {
    /// The range, `net.ipv4.ip_local_port_range` (32768–60999 by default).
    public var range: ClosedRange<Int>
    /// The ports kept out of it, `net.ipv4.ip_local_reserved_ports` (none by default).
    public var reserved: [ClosedRange<Int>]

    /// The ephemeral ports `range`, less `reserved`.
    public init(range: ClosedRange<Int>, reserved: [ClosedRange<Int>] = []) {
        self.range = range
        self.reserved = reserved
    }

    /// Reads the two settings as the kernel shows them under `/proc/sys/net/ipv4`: the range as
    /// two numbers (`32768\t60999`), the reserved ports as a comma-separated list of ports and
    /// ranges (`5560,43600-43610`, empty for none). Nil when the range cannot be read; a
    /// reserved entry that cannot be read is left out.
    public init?(rangeText: String, reservedText: String = "") {
        let bounds = rangeText.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] <= bounds[1] else { return nil }
        range = bounds[0]...bounds[1]
        reserved = reservedText.split(separator: ",").compactMap { entry in
            let ends = entry.split(separator: "-", omittingEmptySubsequences: false)
                .map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            switch ends.count {
            case 1: return ends[0].map { $0...$0 }
            case 2:
                guard let low = ends[0], let high = ends[1], low <= high else { return nil }
                return low...high
            default: return nil
            }
        }
    }

    /// This host's settings, read from `directory` (`/proc/sys/net/ipv4`); nil where they
    /// cannot be read (a system other than Linux, `/proc` not mounted).
    public static func current(directory: String = "/proc/sys/net/ipv4") -> EphemeralPorts? {
        guard let rangeText = try? String(contentsOfFile: "\(directory)/ip_local_port_range", encoding: .utf8) else {
            return nil
        }
        let reservedText = (try? String(contentsOfFile: "\(directory)/ip_local_reserved_ports", encoding: .utf8)) ?? ""
        return EphemeralPorts(rangeText: rangeText, reservedText: reservedText)
    }

    /// Whether the kernel may give `port` to an outgoing connection: in the range, not reserved.
    public func contains(_ port: Int) -> Bool {
        range.contains(port) && !reserved.contains { $0.contains(port) }
    }

    /// The range as the kernel's setting writes it, `32768-60999`.
    public var rangeText: String { "\(range.lowerBound)-\(range.upperBound)" }
}
