import InMemoryLogging
public import Logging

/// Keeps every log entry in memory, so a test can assert on what a servant, broker or hub
/// logged. Thread-safe: MServe logs from its event-loop and worker threads. The entries are
/// kept by swift-log's own `InMemoryLogHandler`; this adds loggers at any level and entries
/// with their message and metadata rendered, as tests compare them.
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

    /// Every logger made here logs through a copy of this handler, into its one store.
    private let handler = InMemoryLogHandler()

    /// Creates an empty recorder.
    public init() {}

    /// Everything logged so far, oldest first.
    public var entries: [Entry] {
        handler.entries.map {
            Entry(level: $0.level, message: "\($0.message)", metadata: $0.metadata.mapValues { "\($0)" })
        }
    }

    /// The messages logged so far, oldest first.
    public var messages: [String] { entries.map(\.message) }

    /// A logger that records into this recorder (the global logging system is untouched).
    public func logger(label: String, level: Logger.Level = .trace) -> Logger {
        let handler = self.handler
        var logger = Logger(label: label) { _ in handler }
        logger.logLevel = level
        return logger
    }
}
