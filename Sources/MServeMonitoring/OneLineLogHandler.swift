public import Logging

/// A log handler that keeps each log line one line: it escapes the control and format
/// characters of the message and of the metadata before another handler writes them.
///
/// Log lines quote what peers send: a refused query's function name, a refused
/// registration's role, a refused option. A newline in such a text would otherwise start a line
/// that reads as the process's own (a forged `critical` line, say), and a terminal escape
/// sequence would act on the terminal that shows the log. Escaped, a line feed shows as
/// `\n`, a carriage return as `\r`, a tab as `\t`, and any other control or format character
/// (C0, DEL, C1, the bidirectional overrides such as U+202E, zero-width characters, the
/// Unicode line and paragraph separators) as `\u{XXXX}`.
///
/// ```swift
/// LoggingSystem.bootstrap { label in
///     OneLineLogHandler(wrapping: StandardErrorLogHandler(label: label))
/// }
/// ```
public struct OneLineLogHandler: LogHandler {
    private var wrapped: any LogHandler

    /// A handler that escapes what it is given and passes it to `wrapped`.
    public init(wrapping wrapped: any LogHandler) {
        self.wrapped = wrapped
    }

    /// The wrapped handler's level.
    public var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    /// The wrapped handler's metadata; values set here are escaped.
    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue.mapValues(Self.escaped) }
    }

    /// The wrapped handler's metadata provider (its values are escaped with each event's).
    public var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    /// One value of the wrapped handler's metadata; a value set here is escaped.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue.map(Self.escaped) }
    }

    /// Escapes the event's message and metadata, the metadata provider's values and the
    /// event's error (passed on as `error.message` and `error.type` metadata), and hands the
    /// event on.
    public func log(event: LogEvent) {
        var event = event
        let message = event.message.description
        let escapedMessage = Self.escaped(message)
        if escapedMessage != message { event.message = Logger.Message(stringLiteral: escapedMessage) }
        if let provider = wrapped.metadataProvider {
            // The provider's values join the event's here, escaped; the wrapped handler then
            // adds them again unchanged, under the same keys, where the event's win.
            let provided = provider.get()
            if !provided.isEmpty {
                event.metadata = provided.merging(event.metadata ?? [:]) { _, explicit in explicit }
            }
        }
        if let error = event.error {
            // An error's description may quote a peer too: it goes on as escaped metadata.
            var metadata = event.metadata ?? [:]
            metadata["error.message"] = .string(String(describing: error))
            metadata["error.type"] = .string(String(reflecting: type(of: error)))
            event.metadata = metadata
            event.error = nil
        }
        event.metadata = event.metadata?.mapValues(Self.escaped)
        wrapped.log(event: event)
    }

    /// `text` with its control and format characters escaped (see ``OneLineLogHandler``);
    /// `text` itself when it holds none.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\u{" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + "}"
            }
        }
        return result
    }

    /// A metadata value with its texts escaped.
    public static func escaped(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text):
            return .string(escaped(text))
        case .stringConvertible(let convertible):
            let text = convertible.description
            let escapedText = escaped(text)
            return escapedText == text ? value : .string(escapedText)
        case .array(let values):
            return .array(values.map(escaped))
        case .dictionary(let values):
            return .dictionary(values.mapValues(escaped))
        }
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }
}
