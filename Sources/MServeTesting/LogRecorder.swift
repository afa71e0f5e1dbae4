import Logging
import Synchronization

/// Keeps every log entry in memory, so a test can assert on what a servant, broker or hub
/// logged. Thread-safe: MServe logs from its event-loop and worker threads.
///
/// ```swift
/// let recorder = LogRecorder()
/// try await LocalCluster.run(functions: f, logger: recorder.logger(label: "test")) { ... }
/// #expect(recorder.messages.contains("servant ready"))
/// ```
public final class LogRecorder: Sendable {
    /// One logged entry.
    public struct Entry: Sendable {
        /// The entry's level.
        public var level: Logger.Level
        /// The rendered message.
        public var message: String
        /// The entry's metadata, rendered.
        public var metadata: [String: String]
    }

    private let stored = Mutex<[Entry]>([])

    /// Creates an empty recorder.
    public init() {}

    /// Everything logged so far, oldest first.
    public var entries: [Entry] { stored.withLock { $0 } }

    /// The messages logged so far, oldest first.
    public var messages: [String] { entries.map(\.message) }

    /// A logger that records into this recorder (the global logging system is untouched).
    public func logger(label: String, level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: label) { _ in RecordingLogHandler(recorder: self) }
        logger.logLevel = level
        return logger
    }

    fileprivate func append(_ entry: Entry) {
        stored.withLock { $0.append(entry) }
    }
}

/// The handler behind ``LogRecorder/logger(label:level:)``.
struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        recorder.append(
            LogRecorder.Entry(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}
