import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Logging

/// A log handler that writes each event to standard error as one line, in swift-log's
/// `StreamLogHandler` layout with the time to the millisecond:
///
/// ```
/// 2026-12-06T22:03:16.123+0000 warning mserve.broker: servant=s1 [MServeBroker] servant lost
/// ```
///
/// Liveness is 1.6 s and heartbeats 0.4 s by default: with whole seconds, the order of what a
/// broker, a hub and servants logged around one failure could not be read from their lines.
/// Each line is written with one `write(2)`, so lines of several threads never interleave.
/// Wrap it in ``OneLineLogHandler`` to escape what peers send.
public struct StandardErrorLogHandler: LogHandler {
    private let label: String
    private let descriptor: Int32

    /// The level below which events are dropped (info by default).
    public var logLevel: Logger.Level = .info

    /// Metadata added to every event (an event's own wins under the same key).
    public var metadata: Logger.Metadata = [:]

    /// Metadata provided at each event, between the handler's and the event's own.
    public var metadataProvider: Logger.MetadataProvider?

    /// A handler for loggers labelled `label` (`mserve.broker`), with the process's metadata
    /// provider (`LoggingSystem.metadataProvider`).
    public init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.init(label: label, descriptor: 2, metadataProvider: metadataProvider)
    }

    /// A handler writing to the file descriptor `descriptor` instead (for tests).
    init(label: String, descriptor: Int32, metadataProvider: Logger.MetadataProvider?) {
        self.label = label
        self.descriptor = descriptor
        self.metadataProvider = metadataProvider
    }

    /// One value of the handler's metadata.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes the event: `TIME LEVEL LABEL: KEY=VALUE… [SOURCE] MESSAGE`, the metadata sorted
    /// by key; an event's error as `error.message` and `error.type` metadata.
    public func log(event: LogEvent) {
        let line = Self.line(
            time: Self.timestamp(), event: event, label: label, metadata: effectiveMetadata(of: event))
        let bytes = Array(line.utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    /// The handler's metadata, the provider's and the event's (the later winning), and the
    /// event's error.
    private func effectiveMetadata(of event: LogEvent) -> Logger.Metadata {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty {
            merged.merge(provided) { _, provided in provided }
        }
        if let explicit = event.metadata, !explicit.isEmpty {
            merged.merge(explicit) { _, explicit in explicit }
        }
        if let error = event.error {
            merged["error.message"] = .string(String(describing: error))
            merged["error.type"] = .string(String(reflecting: type(of: error)))
        }
        return merged
    }

    /// The line for `event` logged at `time` by a logger labelled `label`, with `metadata`.
    static func line(time: String, event: LogEvent, label: String, metadata: Logger.Metadata) -> String {
        let pretty =
            metadata.isEmpty ? "" : " " + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(time) \(event.level)\(label.isEmpty ? "" : " ")\(label):\(pretty) [\(event.source)] \(event.message)\n"
    }

    /// The local time now, `2026-12-06T22:03:16.123+0000`: ISO 8601 to the millisecond, with
    /// the offset from UTC.
    static func timestamp() -> String {
        let now = Date().timeIntervalSince1970
        let seconds = now.rounded(.down)
        return timestamp(seconds: time_t(seconds), milliseconds: min(999, Int((now - seconds) * 1000)))
    }

    /// ``timestamp()`` of the time `seconds` since the epoch plus `milliseconds`, in local time.
    static func timestamp(seconds: time_t, milliseconds: Int) -> String {
        var seconds = seconds
        var local = tm()
        guard localtime_r(&seconds, &local) != nil else { return "<unknown>" }
        func formatted(_ format: String) -> String {
            var buffer = [CChar](repeating: 0, count: 64)
            let count = strftime(&buffer, buffer.count, format, &local)
            return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        let fraction = String(milliseconds)
        return formatted("%Y-%m-%dT%H:%M:%S") + "." + String(repeating: "0", count: max(0, 3 - fraction.count)) + fraction
            + formatted("%z")
    }
}
